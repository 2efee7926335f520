"""The in-process planning benchmark: it plans what the one-at-a-time reference computes."""

from __future__ import annotations

import gc

import orjson

from bench import planning
from bench.workload import Workload
from models.memory import MemoryState, replay


def test_partition_batches_end_in_the_reference_state_and_gc_settings_are_restored() -> None:
    thresholds = gc.get_threshold()
    totals, state = planning.run(3000, 1000, events=50)
    expected = MemoryState()
    replay(expected, [orjson.loads(v) for v in Workload(50, seed=1).generate(3000).values],
           planning.PARTITIONS, now_ms=0)
    assert state.markets == expected.markets
    assert state.events == expected.events
    row = totals.row()
    assert row["messages"] == 1000
    assert 0 < row["market_writes_per_msg"] <= 5
    assert row["changelog_bytes_per_msg"] > 0
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == 0
