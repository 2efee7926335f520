"""An in-memory state for the planner: the reference the real worker is checked against."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import orjson

from models.engine import DEFAULT_RULES, BatchPlan, Rules, plan_batch
from models.keys import partition_for
from models.market import Snapshot


class MemoryState:
    """Markets, events and producer health in dicts; a source is a partition number."""

    def __init__(self) -> None:
        self.markets: dict[str, Snapshot] = {}
        self.market_partition: dict[str, int] = {}
        self.events: dict[str, Snapshot] = {}
        self.producers: dict[str, Snapshot] = {}
        self.recent: dict[str, Snapshot] = {}

    def market(self, source: int, key: str) -> Snapshot | None:
        return self.markets.get(key)

    def event(self, source: int, event_id: str) -> Snapshot | None:
        return self.events.get(event_id)

    def producer(self, source: int, key: str) -> Snapshot | None:
        return self.producers.get(key)

    def digests(self, source: int, key: str) -> Snapshot | None:
        return self.recent.get(key)

    def partition(self, source: int) -> int:
        return source

    def partition_markets(self, source: int) -> Iterable[tuple[str, Snapshot]]:
        return [(k, v) for k, v in self.markets.items() if self.market_partition[k] == source]

    def commit(self, plan: BatchPlan[int]) -> None:
        """Store everything a plan changed."""
        for key, pending in plan.markets.items():
            self.markets[key] = pending.state
            self.market_partition[key] = pending.source
        self.events.update({k: p.state for k, p in plan.events.items()})
        self.producers.update({k: p.state for k, p in plan.producers.items()})
        self.recent.update({k: p.state for k, p in plan.digests.items()})


def replay(
    state: MemoryState,
    messages: Iterable[dict[str, Any]],
    partitions: int,
    now_ms: int | None = None,
    rules: Rules = DEFAULT_RULES,
) -> list[BatchPlan[int]]:
    """Apply canonical messages one at a time, keyed as the platform keys them."""
    clock = (lambda: now_ms) if now_ms is not None else (lambda: int(time.time() * 1000))
    plans = []
    for message in messages:
        key = (message.get("event_id") or f"producer:{message['producer']}").encode()
        queue = [(partition_for(key, partitions), key, orjson.dumps(message))]
        while queue:
            plan = plan_batch([queue.pop(0)], state, clock, rules)
            state.commit(plan)
            plans.append(plan)
            # The worker fans producer health out to every partition through feed.v1.
            for status in plan.producer_status:
                fan_key = f"producer:{status['producer']}".encode()
                queue.extend((p, fan_key, orjson.dumps(status)) for p in range(partitions))
    return plans
