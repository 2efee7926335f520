"""The Kafka side of an ingestor: provider messages to one raw topic, acknowledged.

Records are gathered per partition and sent as prepared batches (one produce call per
partition per loop pass instead of one per record), in the order they were handed over. Each
record's callback runs once Kafka has acknowledged its batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError

from app import metrics
from app.kafka_security import client_kwargs
from config.settings import Settings
from models.keys import partition_for

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]
OnAcked = Callable[[], None]
PendingRecord = tuple[bytes, bytes, Headers, OnAcked]
RETRY_BACKOFF_S = 1.0
#: Records handed over but not yet acknowledged, at most: ``send`` waits beyond this, which
#: is the backpressure that stops an ingestor reading faster than Kafka takes.
MAX_IN_FLIGHT = 50_000
#: A batch is sent once this many records wait, without waiting for the loop pass to end.
SEND_EVERY = 2_000
#: Room a record needs in a produce request beyond its key, value and headers.
RECORD_OVERHEAD = 64 * 1024
#: Errors no resend can cure: the record is dropped, counted and logged.
UNSENDABLE = (MessageSizeTooLargeError, RecordTooLargeError)


class RawTopicWriter:
    """Sends each record to the raw topic in its key's partition, in hand-over order, and
    calls back once Kafka holds it; a failed batch is sent again until Kafka takes it."""

    def __init__(self, settings: Settings, topic: str, provider: str,
                 max_record_bytes: int) -> None:
        self.topic = topic
        #: The raw topic's ``max.message.bytes``: a larger record is refused by the broker.
        self.max_record_bytes = max_record_bytes
        self.partitions = settings.topic_partitions
        self.provider = provider
        self._acked = metrics.INGEST_ACKED.labels(provider)
        self._dropped = metrics.INGEST_DROPPED.labels(provider)
        self.producer = AIOKafkaProducer(
            **client_kwargs(settings), acks="all", enable_idempotence=True, linger_ms=5,
            max_batch_size=512 * 1024, max_request_size=8 * 1024 * 1024)
        self.in_flight = 0
        self.last_ack = time.monotonic()
        self.failing_since: float | None = None
        self._pending: defaultdict[int, list[PendingRecord]] = defaultdict(list)
        self._waiting = 0
        self._sending = asyncio.Lock()
        self._send_scheduled = False
        #: A send spawned for SEND_EVERY waiting records has not taken them yet.
        self._send_due = False
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def send(self, key: bytes, value: bytes, headers: Headers,
                   on_acked: OnAcked) -> None:
        """Hand one record over; ``on_acked`` runs when Kafka has acknowledged it, or at once
        when no Kafka topic could take it (too large: dropped, counted and logged). Waits
        while ``MAX_IN_FLIGHT`` records are unacknowledged."""
        if self.in_flight >= MAX_IN_FLIGHT:
            await self._room.wait()
        if self._append(key, value, headers, on_acked) and self._waiting >= SEND_EVERY:
            await self._send_waiting()

    def add(self, key: bytes, value: bytes, headers: Headers, on_acked: OnAcked) -> bool:
        """``send`` without waiting, for a caller that hands records over from a synchronous
        callback: return True when the writer is full (``MAX_IN_FLIGHT`` unacknowledged),
        and the caller must then stop handing records over until ``wait_for_room`` returns."""
        if self._append(key, value, headers, on_acked) and self._waiting >= SEND_EVERY \
                and not self._send_due:
            self._send_due = True
            self._spawn(self._send_waiting())
        return self.in_flight >= MAX_IN_FLIGHT

    async def wait_for_room(self) -> None:
        """Return once fewer than ``MAX_IN_FLIGHT`` records are unacknowledged."""
        await self._room.wait()

    def _append(self, key: bytes, value: bytes, headers: Headers, on_acked: OnAcked) -> bool:
        """Queue one record for its partition's next batch; False when it was dropped."""
        size = len(key) + len(value)
        for name, header in headers:
            size += len(name) + len(header)
        if size + RECORD_OVERHEAD > self.max_record_bytes:
            self._drop(size, "larger than the raw topic takes", key)
            on_acked()
            return False
        self._pending[partition_for(key, self.partitions)].append(
            (key, value, headers, on_acked))
        self._waiting += 1
        self.in_flight += 1
        if self.in_flight == 1:
            self._idle.clear()
        if self.in_flight >= MAX_IN_FLIGHT:
            self._room.clear()
        if not self._send_scheduled:
            # One send per loop pass takes every record handed over in it.
            self._send_scheduled = True
            asyncio.get_running_loop().call_soon(self._schedule_send)
        return True

    def _schedule_send(self) -> None:
        self._send_scheduled = False
        if self._waiting:
            self._spawn(self._send_waiting())

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_waiting(self) -> None:
        async with self._sending:  # one sender at a time keeps each partition's order
            pending, self._pending = self._pending, defaultdict(list)
            self._waiting = 0
            self._send_due = False
            for partition, records in pending.items():
                await self._send_partition(partition, records)

    async def _send_partition(self, partition: int, records: list[PendingRecord]) -> None:
        start = 0
        while start < len(records):
            batch = self.producer.create_batch()
            # An empty batch takes any record (sizes were checked when it was handed over),
            # so each pass takes at least one.
            end = start
            while end < len(records):
                key, value, headers, _ = records[end]
                if batch.append(key=key, value=value, timestamp=None,
                                headers=headers if type(headers) is list
                                else list(headers)) is None:
                    break
                end += 1
            chunk = records[start:end]
            try:
                future = await self.producer.send_batch(batch, self.topic, partition=partition)
            except KafkaError as exc:
                self._failed(exc, partition, chunk)
            else:
                future.add_done_callback(
                    lambda done, p=partition, c=chunk: self._done(done, p, c))
            start = end

    def _done(self, done: asyncio.Future[Any], partition: int, chunk: list[PendingRecord]) -> None:
        if done.cancelled() or done.exception() is not None:
            self._failed(done.exception() or "cancelled", partition, chunk)
            return
        self.last_ack = time.monotonic()
        self.failing_since = None
        self._acked.inc(len(chunk))
        for _key, _value, _headers, on_acked in chunk:
            on_acked()
        self._settled(len(chunk))

    def _settled(self, count: int) -> None:
        self.in_flight -= count
        if self.in_flight < MAX_IN_FLIGHT:
            self._room.set()
        if self.in_flight == 0:
            self._idle.set()

    def _drop(self, size: int, reason: str, key: bytes) -> None:
        self._dropped.inc()
        log.error("%s: dropped a record of %d bytes keyed %r: %s", self.provider, size,
                  key[:100], reason)

    def _failed(self, problem: object, partition: int, chunk: list[PendingRecord]) -> None:
        if isinstance(problem, UNSENDABLE):
            for key, value, _headers, on_acked in chunk:
                self._drop(len(value), repr(problem), key)
                on_acked()
            self._settled(len(chunk))
            return
        # Sent again after a pause, after whatever was handed over since: a key's records
        # may then land out of order, which the platform's timestamp guards absorb.
        self.failing_since = self.failing_since or time.monotonic()
        log.warning("%s: Kafka did not take %d records (%r); sending them again in %.1fs",
                    self.provider, len(chunk), problem, RETRY_BACKOFF_S)
        self._spawn(self._resend(partition, chunk))

    async def _resend(self, partition: int, chunk: list[PendingRecord]) -> None:
        await asyncio.sleep(RETRY_BACKOFF_S)
        async with self._sending:
            await self._send_partition(partition, chunk)

    async def flush(self) -> None:
        """Wait until every record handed over so far is acknowledged."""
        await self._send_waiting()
        await self._idle.wait()
