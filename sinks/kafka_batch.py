"""Send many records as a few aiokafka batches, one builder per topic partition."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

Record = tuple[bytes | None, bytes | None]


class BatchSender:
    """Collects records per (topic, partition); ``flush`` sends them and waits for the acks."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        self.pending: defaultdict[tuple[str, int], list[Record]] = defaultdict(list)

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> None:
        """Queue one record for ``topic``/``partition``."""
        self.pending[(topic, partition)].append((key, value))

    async def flush(self) -> dict[tuple[str, int], int]:
        """Send everything queued; return the offset of the last record per partition."""
        sends: list[tuple[tuple[str, int], int, asyncio.Future[Any]]] = []
        for (topic, partition), records in self.pending.items():
            batch = self.producer.create_batch()
            count = 0
            for key, value in records:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    future = await self.producer.send_batch(batch, topic, partition=partition)
                    sends.append(((topic, partition), count, future))
                    batch = self.producer.create_batch()
                    count = 0
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"a record for {topic} does not fit in a batch")
                count += 1
            future = await self.producer.send_batch(batch, topic, partition=partition)
            sends.append(((topic, partition), count, future))
        self.pending.clear()
        last: dict[tuple[str, int], int] = {}
        results = await asyncio.gather(*(future for _tp, _n, future in sends))
        for (tp, count, _future), metadata in zip(sends, results, strict=True):
            last[tp] = max(last.get(tp, -1), metadata.offset + count - 1)
        return last
