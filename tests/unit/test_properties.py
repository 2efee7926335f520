"""Property-based tests of the odds engine over random message sequences."""

from __future__ import annotations

import copy
from typing import Any

import orjson
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from models.engine import Rules
from models.keys import market_key
from models.market import PREMATCH, TERMINAL, is_live, mark_of
from models.memory import MemoryState, replay
from tests.unit.feedmsg import E1

MARKETS = (("1", ""), ("18", "total=2.5"))
NOW = 1_900_000_000_000
# A zero silence timeout makes every producer_silent check take the producer down.
RULES = Rules(silence_timeout_ms=0)

ts_st = st.integers(min_value=1, max_value=6)
market_st = st.sampled_from(MARKETS)
odds_st = st.sampled_from([1.5, 2.0, 3.25])
#: Live odds (1) and the prematch producer (3), which hands markets over.
producer_st = st.sampled_from([1, 1, 3])
WINDOWS = ({}, {"start_time": 1, "end_time": 3}, {"start_time": 2}, {"end_time": 4})
window_st = st.sampled_from(WINDOWS)


@st.composite
def odds_change(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(market_st, min_size=1, max_size=2, unique=True))
    markets = [{"id": mid, "specifiers": spec,
                "status": draw(st.sampled_from(["active", "active", "suspended",
                                                "deactivated", "handed_over"])),
                "outcomes": [{"id": "1", "odds": draw(odds_st)},
                             {"id": "2", "odds": draw(odds_st)}]}
               for mid, spec in chosen]
    return {"type": "odds_change", "event_id": E1, "producer": draw(producer_st),
            "ts": draw(ts_st), "markets": markets}


@st.composite
def market_message(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["bet_settlement", "rollback_bet_settlement", "bet_cancel",
                                 "rollback_bet_cancel"]))
    mid, spec = draw(market_st)
    market: dict[str, Any] = {"id": mid, "specifiers": spec}
    message: dict[str, Any] = {"type": kind, "event_id": E1, "producer": draw(producer_st),
                               "ts": draw(ts_st), "markets": [market]}
    if kind in ("bet_cancel", "rollback_bet_cancel"):
        message.update(draw(window_st))
    if kind == "bet_settlement":
        message["certainty"] = draw(st.sampled_from([1, 2]))
        market["outcomes"] = [{"id": "1", "result": draw(st.sampled_from(["won", "lost"]))},
                              {"id": "2", "result": "lost"}]
    return message


bet_stop_st = st.builds(lambda ts, groups, producer: {
    "type": "bet_stop", "event_id": E1, "producer": producer, "ts": ts, "groups": groups},
    ts_st, st.sampled_from(["all", ["1"], ["18"], ["score"]]), producer_st)
alive_st = st.builds(lambda ts, sub: {"type": "alive", "producer": 1, "ts": ts,
                                      "subscribed": sub}, ts_st, st.booleans())
snapshot_st = st.builds(lambda ts, rid: {"type": "snapshot_complete", "producer": 1, "ts": ts,
                                         "request_id": rid}, ts_st, st.integers(1, 3))
feed_message = st.one_of(odds_change(), market_message(), bet_stop_st, alive_st, snapshot_st)
sequences = st.lists(feed_message, min_size=1, max_size=20)


def apply(state: MemoryState, messages: list[dict[str, Any]]) -> MemoryState:
    replay(state, messages, 8, now_ms=NOW, rules=RULES)
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


def suspends(message: dict[str, Any], key: str) -> bool:
    """Whether ``message`` asks to stop betting on the market ``key``."""
    if message["type"] == "bet_stop":
        return True
    return message["type"] == "odds_change" and any(
        market_key(E1, m["id"], m["specifiers"]) == key and m["status"] != "active"
        for m in message["markets"])


@settings(max_examples=300, deadline=None)
@given(sequences, feed_message)
def test_a_stale_message_never_changes_state_unless_it_suspends(
    messages: list[dict[str, Any]], late: dict[str, Any]
) -> None:
    state = apply(MemoryState(), messages)
    before = copy.deepcopy(state.markets)
    apply(state, [{**late, "ts": 0}])
    if late["type"] in ("alive", "snapshot_complete"):
        return
    for key, snapshot in before.items():
        # Stale marks are per producer; a suspension applies whatever its ts.
        if mark_of(snapshot, late["producer"]) > 0 and not suspends(late, key):
            assert state.markets[key] == snapshot


@st.composite
def suspension(draw: st.DrawFn) -> dict[str, Any]:
    """A bet stop, or an odds change that moves its markets to a non-bettable status, at any
    ts (a unique request id keeps it from being a repeat of an earlier message)."""
    message = draw(st.one_of(bet_stop_st, odds_change()))
    if message["type"] == "odds_change":
        for market in message["markets"]:
            market["status"] = draw(st.sampled_from(["suspended", "deactivated",
                                                     "handed_over"]))
    unique = draw(st.integers(10**6, 10**9))
    return {**message, "ts": draw(st.integers(0, 9)), "request_id": unique}


def covered(message: dict[str, Any], key: str, snapshot: dict[str, Any]) -> bool:
    if message["type"] == "odds_change":
        return key in {market_key(E1, m["id"], m["specifiers"]) for m in message["markets"]}
    groups = message["groups"]
    return groups == "all" or snapshot["market_id"] in groups or (
        groups == ["score"] and snapshot["market_id"] in ("1", "18"))


@settings(max_examples=500, deadline=None)
@given(sequences, suspension())
def test_no_suspension_is_ever_lost_to_a_timestamp(
    messages: list[dict[str, Any]], stop: dict[str, Any]
) -> None:
    state = apply(MemoryState(), messages)
    before = copy.deepcopy(state.markets)
    apply(state, [stop])
    for key, snapshot in before.items():
        if not covered(stop, key, snapshot) or snapshot["status"] in TERMINAL:
            continue
        if stop["producer"] in PREMATCH and is_live(snapshot):
            continue  # a live producer has taken the market: the prematch one is ignored
        assert state.markets[key]["status"] != "active", (stop, snapshot)


@settings(max_examples=300, deadline=None)
@given(sequences, market_st, st.sampled_from(WINDOWS[1:]), st.integers(0, 9))
def test_a_windowed_cancel_never_changes_status(
    messages: list[dict[str, Any]], market: tuple[str, str], window: dict[str, int], ts: int
) -> None:
    state = apply(MemoryState(), messages)
    statuses = {k: m["status"] for k, m in state.markets.items()}
    apply(state, [{"type": "bet_cancel", "event_id": E1, "producer": 1, "ts": ts,
                   "markets": [{"id": market[0], "specifiers": market[1]}], **window}])
    for key, snapshot in state.markets.items():
        assert snapshot["status"] == statuses.get(key, "deactivated")


def shown(snapshot: dict[str, Any]) -> Any:
    """What a bettor sees of a market, but its version and cancels."""
    return (snapshot["status"], snapshot["settlement"], snapshot["outcomes"])


@settings(max_examples=300, deadline=None)
@given(sequences, market_st, st.lists(st.sampled_from(WINDOWS), min_size=1, max_size=4,
                                      unique_by=lambda w: tuple(sorted(w.items()))),
       st.randoms(use_true_random=False))
def test_rolling_back_every_cancel_restores_the_market(
    messages: list[dict[str, Any]], market: tuple[str, str], windows: list[dict[str, int]],
    rng: Any,
) -> None:
    state = apply(MemoryState(), messages)
    key = market_key(E1, *market)
    if key not in state.markets:
        apply(state, [{"type": "odds_change", "event_id": E1, "producer": 1, "ts": 7,
                       "markets": [{"id": market[0], "specifiers": market[1], "outcomes": [
                           {"id": "1", "odds": 2.0}]}]}])
    held = state.markets[key]
    spans = {(c["start_time"], c["end_time"]) for c in held["cancels"]}
    windows = [w for w in windows if (w.get("start_time"), w.get("end_time")) not in spans]
    assume(windows)  # every drawn window was already there: nothing to cancel and roll back
    before = shown(held)
    target = [{"id": market[0], "specifiers": market[1], "void_reason": 12}]
    cancels = [{"type": "bet_cancel", "event_id": E1, "producer": 1, "ts": 10 + i,
                "markets": target, **w} for i, w in enumerate(windows)]
    rng.shuffle(windows)
    rollbacks = [{"type": "rollback_bet_cancel", "event_id": E1, "producer": 1, "ts": 20 + i,
                  "markets": target, **w} for i, w in enumerate(windows)]
    apply(state, cancels + rollbacks)
    assert shown(state.markets[key]) == before
    assert len(state.markets[key]["cancels"]) == len(spans)


@settings(max_examples=300, deadline=None)
@given(sequences)
def test_suspended_markets_never_publish_active_without_a_newer_odds_change(
    messages: list[dict[str, Any]],
) -> None:
    state = MemoryState()
    setter: dict[str, str] = {}
    for message in messages:
        feed_before = {k: m["feed_status"] for k, m in state.markets.items()}
        plans = replay(state, [message], 8, now_ms=NOW, rules=RULES)
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
