"""Property-based tests of the odds engine over random message sequences."""

from __future__ import annotations

import copy
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from models.market import TERMINAL
from models.memory import MemoryState, replay
from tests.unit.feedmsg import E1

MARKETS = (("1", ""), ("18", "total=2.5"))
NOW = 1_900_000_000_000

ts_st = st.integers(min_value=1, max_value=6)
market_st = st.sampled_from(MARKETS)
odds_st = st.sampled_from([1.5, 2.0, 3.25])


@st.composite
def odds_change(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(market_st, min_size=1, max_size=2, unique=True))
    markets = [{"id": mid, "specifiers": spec,
                "status": draw(st.sampled_from(["active", "active", "suspended",
                                                "deactivated"])),
                "outcomes": [{"id": "1", "odds": draw(odds_st)},
                             {"id": "2", "odds": draw(odds_st)}]}
               for mid, spec in chosen]
    return {"type": "odds_change", "event_id": E1, "producer": 1, "ts": draw(ts_st),
            "markets": markets}


@st.composite
def market_message(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["bet_settlement", "rollback_bet_settlement", "bet_cancel",
                                 "rollback_bet_cancel"]))
    mid, spec = draw(market_st)
    market: dict[str, Any] = {"id": mid, "specifiers": spec}
    message: dict[str, Any] = {"type": kind, "event_id": E1, "producer": 1, "ts": draw(ts_st),
                               "markets": [market]}
    if kind == "bet_settlement":
        message["certainty"] = draw(st.sampled_from([1, 2]))
        market["outcomes"] = [{"id": "1", "result": draw(st.sampled_from(["won", "lost"]))},
                              {"id": "2", "result": "lost"}]
    return message


bet_stop_st = st.builds(lambda ts, groups: {"type": "bet_stop", "event_id": E1, "producer": 1,
                                            "ts": ts, "groups": groups},
                        ts_st, st.sampled_from(["all", ["1"], ["18"]]))
alive_st = st.builds(lambda ts, sub: {"type": "alive", "producer": 1, "ts": ts,
                                      "subscribed": sub}, ts_st, st.booleans())
snapshot_st = st.builds(lambda ts, rid: {"type": "snapshot_complete", "producer": 1, "ts": ts,
                                         "request_id": rid}, ts_st, st.integers(1, 3))
feed_message = st.one_of(odds_change(), market_message(), bet_stop_st, alive_st, snapshot_st)
sequences = st.lists(feed_message, min_size=1, max_size=20)


def apply(state: MemoryState, messages: list[dict[str, Any]]) -> MemoryState:
    # A zero silence timeout makes every producer_silent check take the producer down.
    replay(state, messages, 8, now_ms=NOW, silence_timeout_ms=0)
    return state


def dump(state: MemoryState) -> bytes:
    return orjson.dumps([state.markets, state.events, state.producers],
                        option=orjson.OPT_SORT_KEYS)


@settings(max_examples=300, deadline=None)
@given(sequences, st.data())
def test_no_market_leaves_settled_or_cancelled_except_by_a_rollback(
    messages: list[dict[str, Any]], data: st.DataObject
) -> None:
    state = MemoryState()
    silent = {"type": "producer_silent", "producer": 1}
    for i, message in enumerate(messages):
        if data.draw(st.booleans(), label="silence check first"):
            apply(state, [{**silent, "ts": NOW + i}])
        before = {k: m["status"] for k, m in state.markets.items()}
        apply(state, [message])
        for key, old in before.items():
            new = state.markets[key]["status"]
            if old in TERMINAL and new not in TERMINAL:
                undo = {"settled": "rollback_bet_settlement", "cancelled": "rollback_bet_cancel"}
                assert message["type"] == undo[old], (old, new, message)


@settings(max_examples=300, deadline=None)
@given(sequences, st.integers(min_value=0, max_value=20))
def test_replaying_a_prefix_twice_gives_the_state_of_once(
    messages: list[dict[str, Any]], cut: int
) -> None:
    prefix = messages[:cut]
    once = apply(MemoryState(), copy.deepcopy(prefix))
    twice = apply(apply(MemoryState(), copy.deepcopy(prefix)), copy.deepcopy(prefix))
    assert dump(once) == dump(twice)


@settings(max_examples=300, deadline=None)
@given(sequences, feed_message)
def test_a_stale_message_never_changes_state(
    messages: list[dict[str, Any]], late: dict[str, Any]
) -> None:
    state = apply(MemoryState(), messages)
    before = copy.deepcopy(state.markets)
    apply(state, [{**late, "ts": 0}])
    for key, snapshot in before.items():
        if late["type"] not in ("alive", "snapshot_complete"):
            assert state.markets[key] == snapshot


@settings(max_examples=300, deadline=None)
@given(sequences)
def test_suspended_markets_never_publish_active_without_a_newer_odds_change(
    messages: list[dict[str, Any]],
) -> None:
    state = MemoryState()
    setter: dict[str, str] = {}
    for message in messages:
        feed_before = {k: m["feed_status"] for k, m in state.markets.items()}
        plans = replay(state, [message], 8, now_ms=NOW, silence_timeout_ms=0)
        for key, snapshot in state.markets.items():
            if feed_before.get(key) != snapshot["feed_status"]:
                setter[key] = message["type"]
        for plan in plans:
            for key, pending in plan.markets.items():
                if pending.publish and pending.state["status"] == "active":
                    assert setter[key] == "odds_change", (key, message)
                    assert not pending.state["producer_down"]


class FrozenCheckState(MemoryState):
    """Remembers each stored value's bytes, to catch a rule that changes a value it read."""

    def __init__(self) -> None:
        super().__init__()
        self.stored: list[tuple[Any, bytes]] = []

    def commit(self, plan: Any) -> None:
        super().commit(plan)
        for table in (self.markets, self.events, self.producers):
            self.stored.extend((value, orjson.dumps(value)) for value in table.values())


@settings(max_examples=300, deadline=None)
@given(sequences, st.data())
def test_rules_never_mutate_a_value_they_read(
    messages: list[dict[str, Any]], data: st.DataObject
) -> None:
    # The worker caches decoded table values (tables.io.DecodedCache) and hands the same
    # objects to every later batch: a rule that changed one in place would corrupt state.
    state = FrozenCheckState()
    silent = {"type": "producer_silent", "producer": 1}
    for i, message in enumerate(messages):
        if data.draw(st.booleans(), label="silence check first"):
            apply(state, [{**silent, "ts": NOW + i}])
        apply(state, [message])
        for value, raw in state.stored:
            assert orjson.dumps(value) == raw, message
