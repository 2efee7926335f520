"""The worker's rules alone, in process: plan batches of the bench workload over a ``MemoryState``.

No Kafka, no RocksDB, no Faust: what ``plan_batch`` and encoding the table values cost per
message, deterministic enough to compare two versions of the rules on a noisy machine.
Batches are grouped by partition as the worker's are, with the worker's GC thresholds
(without them the collector dominates, and planning looks ~1.8x dearer).

    python -m bench.planning [--messages 300000] [--measure 100000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from bench.workload import Workload
from models.engine import BatchPlan, plan_batch
from models.keys import partition_for
from models.memory import MemoryState

PARTITIONS = 8
BATCH = 1000
#: The worker's thresholds (``app.faust_app``).
GC_THRESHOLDS = (50_000, 50, 1000)


@dataclass(slots=True)
class Totals:
    """What the measured batches cost and wrote."""

    messages: int = 0
    plan_seconds: float = 0.0
    encode_seconds: float = 0.0
    market_writes: int = 0
    event_writes: int = 0
    #: Scopes whose recent digests changed (kept in the worker's memory, not written).
    digest_updates: int = 0
    changelog_bytes: int = 0

    def row(self) -> dict[str, float]:
        n = max(self.messages, 1)
        return {"messages": self.messages,
                "plan_us_per_msg": round(self.plan_seconds / n * 1e6, 1),
                "encode_us_per_msg": round(self.encode_seconds / n * 1e6, 1),
                "market_writes_per_msg": round(self.market_writes / n, 3),
                "event_writes_per_msg": round(self.event_writes / n, 3),
                "digest_updates_per_msg": round(self.digest_updates / n, 3),
                "changelog_bytes_per_msg": round(self.changelog_bytes / n)}


def batches(records: Sequence[tuple[bytes, bytes]]) -> list[list[tuple[int, bytes, bytes]]]:
    """Split the feed into consecutive batches of ``BATCH``, one list per partition each."""
    out = []
    for start in range(0, len(records), BATCH):
        by_partition: defaultdict[int, list[tuple[int, bytes, bytes]]] = defaultdict(list)
        for key, value in records[start:start + BATCH]:
            partition = partition_for(key, PARTITIONS)
            by_partition[partition].append((partition, key, value))
        out.extend(by_partition.values())
    return out


def encode(plan: BatchPlan[int]) -> int:
    """Encode every table value the plan writes, as the worker stages them; return bytes."""
    size = 0
    for _table, changes in plan.table_writes():
        for key, pending in changes.items():
            size += len(key) + len(orjson.dumps(pending.state))
    return size


def run(messages: int, measure: int, profiler: cProfile.Profile | None = None,
        events: int = 2000) -> tuple[Totals, MemoryState]:
    """Plan ``messages`` workload messages; measure the last ``measure`` of them."""
    records = list(Workload(events, seed=1).generate(messages).records())
    warm, timed = batches(records[:messages - measure]), batches(records[messages - measure:])
    state = MemoryState()
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        for batch in warm:
            state.commit(plan_batch(batch, state, lambda: 0))
        gc.collect()
        gc.freeze()
        return _measure(timed, state, profiler), state
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def _measure(timed: list[list[tuple[int, bytes, bytes]]], state: MemoryState,
             profiler: cProfile.Profile | None) -> Totals:
    totals = Totals()
    if profiler is not None:
        profiler.enable()
    for batch in timed:
        started = time.perf_counter()
        plan = plan_batch(batch, state, lambda: 0)
        planned = time.perf_counter()
        totals.changelog_bytes += encode(plan)
        totals.encode_seconds += time.perf_counter() - planned
        totals.plan_seconds += planned - started
        totals.messages += len(batch)
        totals.market_writes += len(plan.markets)
        totals.event_writes += len(plan.events)
        totals.digest_updates += len(plan.digests)
        state.commit(plan)
    if profiler is not None:
        profiler.disable()
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--measure", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the timed part")
    args = parser.parse_args()
    profiler = cProfile.Profile() if args.profile else None
    totals, _ = run(args.messages, args.measure, profiler)
    print(orjson.dumps(totals.row()).decode())
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
