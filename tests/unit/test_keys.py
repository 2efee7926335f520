"""Placement is validation: a record in the wrong partition, without a key, or stamped in the
future is a dead letter; market keys are unambiguous."""

from __future__ import annotations

from typing import Any

import orjson

from models.engine import BatchPlan, Rules, plan_batch
from models.keys import partition_for
from models.memory import MemoryState
from tests.unit.feedmsg import E1, market, odds_change

PARTITIONS = 8
NOW = 1_900_000_000_000
RULES = Rules(partitions=PARTITIONS, max_future_ms=300_000)
HOME = partition_for(E1.encode(), PARTITIONS)


def plan(message: dict[str, Any], key: bytes | None = E1.encode(), partition: int = HOME,
         state: MemoryState | None = None) -> BatchPlan[int]:
    held = state or MemoryState()
    planned = plan_batch([(partition, key, orjson.dumps(message))], held, lambda: NOW, RULES)
    held.commit(planned)
    return planned


def reasons(planned: BatchPlan[int]) -> list[str]:
    return [reason for _source, reason in planned.dead_letters]


def test_a_record_without_a_key_is_a_dead_letter() -> None:
    (reason,) = reasons(plan(odds_change(NOW), key=None))
    assert reason.startswith("record has no key")


def test_a_record_in_another_partition_than_its_keys_is_a_dead_letter() -> None:
    elsewhere = (HOME + 1) % PARTITIONS
    (reason,) = reasons(plan(odds_change(NOW), partition=elsewhere))
    assert reason == (f"record in partition {elsewhere}, but its key {E1!r} belongs to {HOME}")
    assert not reasons(plan(odds_change(NOW)))


def test_producer_status_is_written_to_every_partition() -> None:
    status = {"type": "producer_status", "producer": 1, "ts": NOW, "down": True,
              "generation": 1}
    for partition in range(PARTITIONS):
        assert not reasons(plan(status, key=b"producer:1", partition=partition))


def test_a_record_from_the_future_is_a_dead_letter_and_freezes_nothing() -> None:
    state = MemoryState()
    (reason,) = reasons(plan(odds_change(9_999_999_999_999), state=state))
    assert reason == ("ts 9999999999999 is more than MAX_FUTURE_SKEW (300 s) ahead of the "
                      "worker's clock")
    assert not state.markets
    assert not reasons(plan(odds_change(NOW + 299_000), state=state))  # within the skew
    assert not reasons(plan(odds_change(NOW + 299_500, market("1", 2.5, 3.0, 3.0)),
                            state=state))
    assert state.markets[f"{E1}/1/"]["outcomes"][0]["odds"] == 2.5


def test_a_market_id_with_the_key_separator_is_a_dead_letter() -> None:
    state = MemoryState()
    ambiguous = odds_change(NOW, market("a/b", 2.0, 3.0, specifiers="c=d"))
    (reason,) = reasons(plan(ambiguous, state=state))
    assert "other than '/'" in reason
    plan(odds_change(NOW, market("a", 2.0, 3.0, specifiers="b/c=d")), state=state)
    assert list(state.markets) == [f"{E1}/a/b/c=d"]
    assert state.markets[f"{E1}/a/b/c=d"]["market_id"] == "a"
