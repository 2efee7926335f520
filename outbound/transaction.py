"""Send a batch's records as one Kafka transaction: all of them become visible, or none.

One feed batch writes several changelogs (markets, events, producers) and outbound topics,
each a different topic partition and so a different produce request. Sent plainly, a crash
between two requests tore the batch: the markets changelog held the batch and the events
changelog did not, and replaying the batch could not repair the events (its messages read
as repeats). In a transaction, read-committed readers (table recovery, the sink, the web
replica, downstream services) see a batch whole or not at all; a crash before the commit
leaves an open transaction that the restarted worker aborts (same transactional id) or the
broker aborts after the transaction timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError

from app.retry import Retry

log = logging.getLogger(__name__)

#: One record as sent: key and value bytes.
KeyValue = tuple[bytes | None, bytes | None]
TopicPartition = tuple[str, int]
#: The shortest and the longest wait before a failed transaction is tried again.
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
#: A failed producer's stop waits at most this long for its in-flight requests.
STOP_TIMEOUT_SECONDS = 5.0


class BatchSender:
    """Collects records per (topic, partition) until a transaction sends them."""

    def __init__(self) -> None:
        self.pending: defaultdict[TopicPartition, list[KeyValue]] = defaultdict(list)

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes | None) -> None:
        """Queue one record for ``topic``/``partition``."""
        self.pending[(topic, partition)].append((key, value))

    async def send(self, producer: Any) -> dict[TopicPartition, int]:
        """Send everything queued as few batches as fit; return the last offset per partition.

        The records stay queued, so a failed transaction can send them again.
        """
        sends: list[tuple[TopicPartition, int, asyncio.Future[Any]]] = []
        for (topic, partition), records in self.pending.items():
            batch = producer.create_batch()
            count = 0
            for key, value in records:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    future = await producer.send_batch(batch, topic, partition=partition)
                    sends.append(((topic, partition), count, future))
                    batch = producer.create_batch()
                    count = 0
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"a record for {topic} does not fit in a batch")
                count += 1
            future = await producer.send_batch(batch, topic, partition=partition)
            sends.append(((topic, partition), count, future))
        last: dict[TopicPartition, int] = {}
        results = await asyncio.gather(*(future for _tp, _n, future in sends))
        for (tp, count, _future), metadata in zip(sends, results, strict=True):
            last[tp] = max(last.get(tp, -1), metadata.offset + count - 1)
        return last


class Transactions:
    """One transactional producer; ``commit`` sends a ``BatchSender`` as one transaction.

    A failed transaction (broker away, transaction timed out, producer fenced) is retried
    whole with a new producer, whose start aborts whatever the old one left open, with
    backoff, until it commits or the worker stops. Only one transaction runs at a time.
    """

    def __init__(self, factory: Callable[[], Any],
                 on_failure: Callable[[BaseException], None] | None = None) -> None:
        self.factory = factory
        self.on_failure = on_failure
        self.producer: Any = None
        self.stopping = False
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Start the producer (its ``init_transactions`` aborts an open earlier transaction)."""
        async with self._lock:
            await self._ready()

    async def stop(self) -> None:
        """Stop the producer; a transaction still open is aborted by the broker."""
        self.stopping = True
        await self._reset()

    async def commit(self, sender: BatchSender,
                     before_commit: Callable[[], Awaitable[None]] | None = None,
                     ) -> dict[TopicPartition, int]:
        """Send ``sender``'s records in one transaction; return the last offset per partition."""
        retry = Retry("transaction", log, first=RETRY_FIRST_SECONDS, cap=RETRY_MAX_SECONDS,
                      stopping=lambda: self.stopping)
        async with self._lock:
            while True:
                try:
                    producer = await self._ready()
                    await producer.begin_transaction()
                    offsets = await sender.send(producer)
                    if before_commit is not None:
                        await before_commit()
                    await producer.commit_transaction()
                except KafkaError as exc:
                    if self.stopping:
                        raise
                    if self.on_failure is not None:
                        self.on_failure(exc)
                    await self._reset()
                    # A stop during the wait ends the retries as a stop before it would.
                    if not await retry.wait(f"{type(exc).__name__}: {exc}; next with a new "
                                            "producer"):
                        raise
                    continue
                retry.succeeded()
                sender.pending.clear()
                return offsets

    async def _ready(self) -> Any:
        if self.producer is None:
            producer = self.factory()
            try:
                await producer.start()
            except BaseException:
                await _stop_quietly(producer)
                raise
            self.producer = producer
        return self.producer

    async def _reset(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            await _stop_quietly(producer)


async def _stop_quietly(producer: Any) -> None:
    try:
        await asyncio.wait_for(producer.stop(), STOP_TIMEOUT_SECONDS)
    except (KafkaError, TimeoutError) as exc:
        log.info("stopping a failed producer: %s", type(exc).__name__)
