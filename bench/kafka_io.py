"""Kafka for the benchmark: bulk and paced producers, a latency consumer, progress probes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import DeleteGroupsRequest

from app.faust_seams.committed_end import read_committed_ends
from app.kafka_security import bootstrap_servers
from bench.workload import Feed, stamp
from models.keys import partition_for

BROKER_URL = os.environ.get("BROKER_URL", "kafka://127.0.0.1:9092")
BOOTSTRAP = bootstrap_servers(BROKER_URL)
#: Broker default ``message.max.bytes`` is 1 MiB; stay below it with the batch overhead.
BATCH_BYTES = 900_000


def now_ms() -> int:
    return int(time.time() * 1000)


class Kafka:
    """One admin client and one plain consumer for offsets, timestamps and reads."""

    def __init__(self, bootstrap: str = BOOTSTRAP) -> None:
        self.bootstrap = bootstrap
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                         isolation_level="read_committed",
                                         max_partition_fetch_bytes=4 * 1024 * 1024,
                                         fetch_max_bytes=16 * 1024 * 1024)
        self._partitions: dict[str, list[int]] = {}

    async def start(self) -> None:
        await asyncio.wait_for(self.admin.start(), 30)
        await asyncio.wait_for(self.consumer.start(), 30)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.consumer.stop()
        with contextlib.suppress(Exception):
            await self.admin.close()

    async def create_topic(self, name: str, partitions: int, config: dict[str, str] | None = None
                           ) -> None:
        response = await self.admin.create_topics(
            [NewTopic(name, partitions, 1, topic_configs=config or {})])
        for topic, code, *rest in response.topic_errors:
            if code not in (0, 36):  # 36: already exists
                raise RuntimeError(f"cannot create topic {topic}: error {code} {rest}")

    async def topics(self, prefix: str) -> list[str]:
        return sorted(t for t in await self.admin.list_topics() if t.startswith(prefix))

    async def delete_topics(self, prefix: str) -> list[str]:
        names = await self.topics(prefix)
        for start in range(0, len(names), 50):
            await self.admin.delete_topics(names[start:start + 50])
        return names

    async def delete_groups(self, prefix: str) -> list[str]:
        """Delete the (empty) consumer groups whose names start with ``prefix``."""
        deleted = []
        for group, *_ in await self.admin.list_consumer_groups():
            if not group.startswith(prefix):
                continue
            with contextlib.suppress(KafkaError, OSError, asyncio.TimeoutError):
                node = await self.admin.find_coordinator(group)
                await self.admin._send_request_to_node(node, DeleteGroupsRequest([group]))
                deleted.append(group)
        return deleted

    async def partitions(self, topic: str) -> list[int]:
        if topic not in self._partitions:
            (description,) = await self.admin.describe_topics([topic])
            found = sorted(p["partition"] for p in description["partitions"])
            if not found:
                raise RuntimeError(f"topic {topic} has no partitions (does it exist?)")
            self._partitions[topic] = found
        return self._partitions[topic]

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """One past the last committed record of each partition: what a consumer group that
        has read everything commits (the worker writes in transactions, and a transactional
        log ends with a commit marker, which no consumer is handed)."""
        parts = [TopicPartition(topic, p) for p in await self.partitions(topic)]
        stable = await self.consumer.end_offsets(parts)
        ends = await read_committed_ends(stable, bootstrap_servers=self.bootstrap)
        return {tp.partition: offset for tp, offset in ends.items()}

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        offsets = await self.admin.list_consumer_group_offsets(group)
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}

    async def behind(self, group: str, topic: str, ends: dict[int, int] | None = None) -> int:
        """Records of ``topic`` the group has not committed yet (against ``ends`` or now)."""
        ends = ends if ends is not None else await self.end_offsets(topic)
        committed = await self.committed(group, topic)
        return sum(max(0, end - max(committed.get(p, 0), 0)) for p, end in ends.items())

    async def _records(self, topic: str, starts: dict[int, int], ends: dict[int, int],
                       each: Callable[[Any], None], seconds: float) -> None:
        """Feed every record of ``[starts[p], ends[p])`` to ``each``, partition by partition."""
        wanted = {p for p, end in ends.items() if end > starts.get(p, 0)}
        if not wanted:
            return
        parts = [TopicPartition(topic, p) for p in sorted(wanted)]
        consumer = self.consumer
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, starts.get(tp.partition, 0))
        deadline = time.monotonic() + seconds
        try:
            while wanted:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading {topic}: partitions {sorted(wanted)} unfinished")
                batches = await consumer.getmany(timeout_ms=500, max_records=50_000)
                for tp, batch in batches.items():
                    if tp.partition not in wanted:
                        continue
                    end = ends[tp.partition]
                    for record in batch:
                        if record.offset >= end:
                            break
                        each(record)
                # By position, not by the last record: a transaction's commit marker, never
                # handed over, is the last entry of the log.
                for partition in list(wanted):
                    tp = TopicPartition(topic, partition)
                    if await consumer.position(tp) >= ends[partition]:
                        wanted.discard(partition)
                        consumer.pause(tp)
        finally:
            consumer.assign([])

    async def first_last_timestamps(self, topic: str, ends: dict[int, int],
                                    starts: dict[int, int] | None = None) -> tuple[int, int]:
        """Earliest first and latest last record timestamps (ms) in ``[starts, ends)``."""
        starts = starts or {}
        firsts: list[int] = []
        lasts: list[int] = []
        for p, end in ends.items():
            start = starts.get(p, 0)
            if end <= start:
                continue
            stamps: list[int] = []
            await self._records(topic, {p: start}, {p: start + 1},
                                lambda r, s=stamps: s.append(r.timestamp), 30)
            firsts.extend(stamps)
            stamps = []
            await self._records(topic, {p: end - 1}, {p: end},
                                lambda r, s=stamps: s.append(r.timestamp), 30)
            lasts.extend(stamps)
        if not firsts:
            raise RuntimeError(f"{topic} holds no records in the range")
        return min(firsts), max(lasts)

    async def read_latest(self, topic: str, ends: dict[int, int], seconds: float = 600
                          ) -> tuple[dict[bytes, bytes], int]:
        """Latest raw value per key of ``topic`` up to ``ends``, and how many records."""
        latest: dict[bytes, bytes] = {}
        count = 0

        def keep(record: Any) -> None:
            nonlocal count
            latest[record.key] = record.value
            count += 1

        await self._records(topic, {}, ends, keep, seconds)
        return latest, count


async def bulk_produce(topic: str, feed: Feed, partitions: int,
                       bootstrap: str = BOOTSTRAP) -> tuple[int, float]:
    """Send every record of ``feed`` in order per partition, as fast as the broker takes it.

    Records go to the partition Kafka's default partitioner would give their key, in
    ``create_batch``/``send_batch`` batches of ~0.9 MB, all partitions at once. Returns
    (records, seconds).
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, max_batch_size=BATCH_BYTES,
                                max_request_size=2 * BATCH_BYTES, request_timeout_ms=60000)
    await producer.start()
    started = time.perf_counter()
    owner: dict[bytes, int] = {}
    by_partition: list[list[int]] = [[] for _ in range(partitions)]
    for index, key in enumerate(feed.keys):
        p = owner.get(key)
        if p is None:
            p = owner[key] = partition_for(key, partitions)
        by_partition[p].append(index)
    keys, values = feed.keys, feed.values

    async def send_partition(partition: int, indexes: list[int]) -> None:
        pending = []
        batch = producer.create_batch()
        for i in indexes:
            if batch.append(key=keys[i], value=values[i], timestamp=None) is None:
                pending.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                if batch.append(key=keys[i], value=values[i], timestamp=None) is None:
                    raise RuntimeError(f"record {i} of {len(values[i])} bytes fits no batch")
        if batch.record_count():
            pending.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*pending)

    try:
        await asyncio.gather(*(send_partition(p, idx) for p, idx in enumerate(by_partition)
                               if idx))
    finally:
        await producer.stop()
    return len(values), time.perf_counter() - started


@dataclass
class Paced:
    """What a paced producer did."""

    sent: int = 0
    seconds: float = 0.0
    first_ts: int = 0
    last_ts: int = 0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


async def paced_produce(topic: str, feed: Feed, rate: float, *, restamp: bool = True,
                        bootstrap: str = BOOTSTRAP, tick: float = 0.002) -> Paced:
    """Send ``feed`` at ``rate`` records per second, each ``ts`` stamped when it is sent."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=True, linger_ms=0)
    await producer.start()
    result = Paced()
    pending: list[asyncio.Future[Any]] = []
    keys, values, total = feed.keys, feed.values, len(feed)
    try:
        started = time.monotonic()
        sent = 0
        while sent < total:
            due = min(total, int((time.monotonic() - started) * rate) + 1)
            while sent < due:
                ts = now_ms()
                value = stamp(values[sent], ts) if restamp else values[sent]
                pending.append(await producer.send(topic, key=keys[sent], value=value))
                if not result.first_ts:
                    result.first_ts = ts
                result.last_ts = ts
                sent += 1
            if len(pending) > 20_000:
                await asyncio.gather(*pending)
                pending.clear()
            await asyncio.sleep(tick)
        await asyncio.gather(*pending)
        result.sent = sent
        result.seconds = time.monotonic() - started
    finally:
        await producer.stop()
    return result


def updated_ts(value: bytes) -> int | None:
    """Read ``"updated_ts":N`` from a ``markets.v1`` value without parsing the whole JSON."""
    at = value.rfind(b'"updated_ts":')
    if at < 0:
        return None
    start = at + 13
    end = start
    while end < len(value) and 48 <= value[end] <= 57:
        end += 1
    return int(value[start:end]) if end > start else None


@dataclass
class LatencyConsumer:
    """Reads ``markets.v1`` from its current end; records arrival - ``updated_ts`` (ms)."""

    topic: str
    bootstrap: str = BOOTSTRAP
    samples: list[tuple[int, int]] = field(default_factory=list)  # (updated_ts, latency)
    records: int = 0
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None
    _positions: dict[int, int] = field(default_factory=dict)

    async def start(self, partitions: Sequence[int]) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap,
                                          enable_auto_commit=False, fetch_max_wait_ms=100,
                                          isolation_level="read_committed")
        await self._consumer.start()
        parts = [TopicPartition(self.topic, p) for p in partitions]
        self._consumer.assign(parts)
        await self._consumer.seek_to_end(*parts)
        for tp in parts:
            self._positions[tp.partition] = await self._consumer.position(tp)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        consumer, samples = self._consumer, self.samples
        newest: dict[bytes, int] = {}
        if consumer is None:
            raise RuntimeError("start() first")
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            arrival = now_ms()
            for batch in batches.values():
                for record in batch:
                    ts = updated_ts(record.value) if record.value else None
                    # A record that moved only the worker's marks keeps its updated_ts: it
                    # publishes no update.
                    if ts is not None and ts > newest.get(record.key, -1):
                        newest[record.key] = ts
                        samples.append((ts, arrival - ts))
                self.records += len(batch)
            if batches:  # positions, past commit markers that are never handed over
                for tp in consumer.assignment():
                    self._positions[tp.partition] = await consumer.position(tp)

    def reached(self, ends: dict[int, int]) -> bool:
        return all(self._positions.get(p, 0) >= end for p, end in ends.items())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
