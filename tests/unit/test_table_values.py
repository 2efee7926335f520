"""The markets and events tables' values are their output records (markets.v1, events.v1)."""

from __future__ import annotations

import orjson
import pytest

from feeds.generator import OddsGenerator
from models.engine import plan_batch
from models.event import UNVERSIONED_EVENT, public_event, published_event
from models.market import UNVERSIONED_MARKET, UnmigratedState
from models.memory import MemoryState, replay
from tests.integration.web_support import scenario, x12

E1 = "sr:match:1"


def odds(ts: int, home: float) -> dict[str, object]:
    return {"type": "odds_change", "event_id": E1, "producer": 1, "ts": ts,
            "sport_event_status": {"status": "live", "home_score": 1, "away_score": 0},
            "markets": [x12(home, 3.0, 4.0)]}


def test_an_event_record_recomputes_its_public_fields_from_the_state() -> None:
    state = MemoryState()
    replay(state, [odds(10, 2.0)], 8)
    first = published_event(state.events[E1])
    assert first["score"] == {"home": 1, "away": 0} and first["market_status"]
    # Read back from events.v1 and changed: the stale public fields are not carried over.
    stored = orjson.loads(orjson.dumps(first))
    state.events[E1] = stored
    replay(state, [{**odds(20, 2.0), "sport_event_status": {
        "status": "live", "home_score": 2, "away_score": 0}}], 8)
    second = published_event(state.events[E1])
    assert second["score"] == {"home": 2, "away": 0}
    assert published_event(second) == second
    assert list(second)[:len(public_event(second))] == list(public_event(second))


@pytest.mark.parametrize("table", ["markets", "events"])
def test_a_public_record_of_an_earlier_release_is_refused_with_the_way_out(table: str) -> None:
    state = MemoryState()
    replay(state, [odds(10, 2.0)], 8)
    if table == "markets":
        key = f"{E1}/1/"
        state.markets[key] = {k: v for k, v in state.markets[key].items()
                              if k not in {"ts", "marks", "live", "feed_status",
                                           "producer_down", "pre_settlement"}}
    else:
        state.events[E1] = public_event(state.events[E1])
    with pytest.raises(UnmigratedState, match="migrate-tables"):
        plan_batch([(0, E1.encode(), orjson.dumps(odds(20, 2.5)))], state, lambda: 0)


def _moved(old: dict[str, object], new: dict[str, object]) -> set[str]:
    return {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}


def test_a_record_of_the_same_version_moves_only_the_unversioned_fields() -> None:
    state = MemoryState()
    messages = [*scenario().messages, *OddsGenerator(5, seed=3).messages(400, 1_700_000_000_000)]
    # Every message twice with a later ts: the second moves marks, seldom content.
    messages += [{**m, "ts": m["ts"] + 1} for m in messages if m["type"] == "odds_change"]
    same_version = 0
    held_markets: dict[str, dict[str, object]] = {}
    held_events: dict[str, dict[str, object]] = {}
    for message in messages:
        for plan in replay(state, [message], 8):
            for key, pending in plan.markets.items():
                old = held_markets.get(key)
                if old is not None and old["version"] == pending.state["version"]:
                    same_version += 1
                    assert _moved(old, pending.state) <= UNVERSIONED_MARKET, key
                held_markets[key] = pending.state
            for key, pending in plan.events.items():
                new = published_event(pending.state)
                old = held_events.get(key)
                if old is not None and old["version"] == new["version"]:
                    same_version += 1
                    assert _moved(old, new) <= UNVERSIONED_EVENT, key
                held_events[key] = new
    assert same_version > 0
