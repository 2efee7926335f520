"""Recent message digests: bounded, whole-match, and read from values an older release wrote."""

from typing import Any

import orjson

from models import digests as dg
from models.engine import plan_batch
from models.memory import MemoryState, replay
from models.producer import new_producer
from tests.unit.feedmsg import E1, market, odds_change


def test_remembers_the_last_64_and_forgets_older_ones() -> None:
    made = [dg.digest(str(i).encode()) for i in range(dg.RECENT_DIGESTS + 1)]
    recent = dg.EMPTY
    for one in made:
        recent = dg.remember(recent, one)
    assert not dg.seen(recent, made[0])
    assert all(dg.seen(recent, one) for one in made[1:])
    assert recent == "," + "".join(f"{one}," for one in made[1:])


def test_only_a_whole_digest_matches() -> None:
    first, second = "0123456789abcdef", "fedcba9876543210"
    recent = dg.remember(dg.remember(dg.EMPTY, first), second)
    assert not dg.seen(recent, first[8:] + second[:8])
    assert not dg.seen(recent, first[:15])


def test_a_message_that_changes_no_event_field_leaves_the_event_alone() -> None:
    state = MemoryState()
    replay(state, [odds_change(1, market("1", 2.0, 3.0))], 8)
    (plan,) = replay(state, [odds_change(2, market("1", 2.1, 2.9))], 8)
    assert plan.markets and not plan.events
    assert dg.seen(state.recent[E1]["recent"],
                   dg.digest(orjson.dumps(odds_change(2, market("1", 2.1, 2.9)))))


def _applied_by_the_previous_release(message: dict[str, Any]) -> MemoryState:
    """State after ``message``, its digest kept in the event value as releases before did."""
    state = MemoryState()
    replay(state, [message], 8)
    state.events[E1] = {**state.events[E1], "recent": [dg.digest(orjson.dumps(message))]}
    state.recent.clear()
    return state


def test_digests_held_in_an_old_event_value_still_catch_a_repeat() -> None:
    first = odds_change(5, market("1", 2.0, 3.0))
    state = _applied_by_the_previous_release(first)
    (plan,) = replay(state, [first], 8)
    assert plan.verdicts == {"duplicate": 1} and not plan.markets
    # A new message moves them to the digests table and empties the event's list.
    (plan,) = replay(state, [odds_change(6, market("2", 1.5, 2.5))], 8)
    assert state.events[E1]["recent"] == []
    assert dg.seen(state.recent[E1]["recent"], dg.digest(orjson.dumps(first)))


def test_an_old_value_rewritten_by_an_internal_message_keeps_its_digests() -> None:
    first = odds_change(5, market("1", 2.0, 3.0))
    state = _applied_by_the_previous_release(first)
    # Producer 1 goes down: the market is suspended, so the event's counts change.
    status = {"type": "producer_status", "producer": 1, "ts": 10, "down": True,
              "generation": 1, "reason": "test"}
    partition = next(p for p in range(8) if f"{E1}/1/" in dict(state.partition_markets(p)))
    plan = plan_batch([(partition, b"producer:1", orjson.dumps(status))], state, lambda: 0)
    state.commit(plan)
    assert state.events[E1]["recent"] == []
    (plan,) = replay(state, [first], 8)
    assert plan.verdicts == {"duplicate": 1}


def test_digests_held_in_an_old_producer_value_still_catch_a_repeat() -> None:
    state = MemoryState()
    alive = {"type": "alive", "producer": 1, "ts": 100, "subscribed": True}
    state.producers["producer:1"] = {**new_producer(1),
                                     "recent": [dg.digest(orjson.dumps(alive))]}
    (plan,) = replay(state, [alive], 8, now_ms=100)
    assert plan.verdicts == {"duplicate": 1} and not plan.producers
    (plan,) = replay(state, [{**alive, "ts": 200}], 8, now_ms=200)
    assert state.producers["producer:1"]["recent"] == []
    assert dg.seen(state.recent["producer:1"]["recent"], dg.digest(orjson.dumps(alive)))


def test_digests_of_both_releases_count_after_a_rollback_and_upgrade_again() -> None:
    state = MemoryState()
    before = odds_change(5, market("1", 2.0, 3.0))
    during = odds_change(6, market("1", 2.1, 2.9))
    replay(state, [before], 8)
    # Rolled back: the previous release applied ``during`` and kept its digest in the event.
    state.events[E1] = {**state.events[E1], "recent": [dg.digest(orjson.dumps(during))]}
    plans = replay(state, [before, during], 8)
    assert [p.verdicts for p in plans] == [{"duplicate": 1}, {"duplicate": 1}]


def test_values_keep_an_empty_recent_list_the_previous_release_reads() -> None:
    state = MemoryState()
    replay(state, [odds_change(5, market("1", 2.0, 3.0)),
                   {"type": "alive", "producer": 1, "ts": 100, "subscribed": True}], 8,
           now_ms=100)
    assert state.events[E1]["recent"] == [] and state.producers["producer:1"]["recent"] == []
