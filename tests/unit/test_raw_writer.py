"""The raw writer's hand-over (``send`` and the synchronous ``add``) with a fake producer:
each partition's records go out in hand-over order, callbacks run after Kafka's
acknowledgement, and a full writer says so (``add``) or waits (``send``)."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import pytest
from aiokafka import AIOKafkaProducer

from config.settings import Settings
from ingest import raw_writer
from ingest.raw_writer import RawTopicWriter
from models.keys import partition_for


class FakeBatch:
    def __init__(self, room: int) -> None:
        self.records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = []
        self.room = room

    def append(self, *, key: bytes, value: bytes, timestamp: None,
               headers: list[tuple[str, bytes]]) -> object | None:
        if len(self.records) >= self.room:
            return None
        assert isinstance(headers, list)  # aiokafka's builder takes nothing else
        self.records.append((key, value, headers))
        return object()


class FakeProducer:
    """Kafka's acknowledgement of each batch is the test's to give."""

    def __init__(self, batch_room: int = 1000) -> None:
        self.batches: list[tuple[int, FakeBatch, asyncio.Future[Any]]] = []
        self.batch_room = batch_room

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.batch_room)

    async def send_batch(self, batch: FakeBatch, topic: str, *,
                         partition: int) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.batches.append((partition, batch, future))
        return future

    def ack_all(self) -> None:
        for _, _, future in self.batches:
            if not future.done():
                future.set_result(None)


def writer_with(producer: FakeProducer) -> RawTopicWriter:
    with mock.patch.object(raw_writer, "AIOKafkaProducer", lambda **_: producer):
        return RawTopicWriter(Settings.from_env({}), "raw", "test", 1024 * 1024)


KEYS = [f"sr:match:{n}".encode() for n in range(20)]


async def test_add_keeps_each_partitions_order_and_acks_after_kafka() -> None:
    producer = FakeProducer(batch_room=7)
    writer = writer_with(producer)
    acked: list[int] = []
    for n in range(200):
        assert not writer.add(KEYS[n % 20], str(n).encode(), (("h", b"v"),),
                              lambda n=n: acked.append(n))
    assert writer.in_flight == 200 and not producer.batches  # sent on the next loop pass
    await asyncio.sleep(0.01)
    sent: dict[int, list[int]] = {}
    for partition, batch, _ in producer.batches:
        for key, value, headers in batch.records:
            assert partition == partition_for(key, writer.partitions)
            assert headers == [("h", b"v")]
            sent.setdefault(partition, []).append(int(value))
    for partition, values in sent.items():
        assert values == sorted(values), f"partition {partition} out of order"
    assert sum(len(v) for v in sent.values()) == 200
    assert acked == []
    producer.ack_all()
    await asyncio.sleep(0)
    assert sorted(acked) == list(range(200)) and writer.in_flight == 0
    await asyncio.wait_for(writer.flush(), 1)


async def test_a_full_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raw_writer, "MAX_IN_FLIGHT", 5)
    producer = FakeProducer()
    writer = writer_with(producer)
    full = [writer.add(KEYS[0], b"x", (), lambda: None) for _ in range(5)]
    assert full == [False, False, False, False, True]
    waiting = asyncio.ensure_future(writer.wait_for_room())
    sending = asyncio.ensure_future(writer.send(KEYS[1], b"y", (), lambda: None))
    await asyncio.sleep(0.01)
    assert not waiting.done() and not sending.done()
    producer.ack_all()
    await asyncio.wait_for(asyncio.gather(waiting, sending), 1)
    assert writer.in_flight == 1


async def test_add_sends_every_send_every_records_without_waiting_for_the_pass(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raw_writer, "SEND_EVERY", 10)
    producer = FakeProducer()
    writer = writer_with(producer)
    for n in range(25):
        writer.add(KEYS[0], str(n).encode(), (), lambda: None)
    await asyncio.sleep(0)  # the spawned sends run before the pass's own one
    values = [int(value) for _, batch, _ in producer.batches for _, value, _ in batch.records]
    assert values == list(range(25))


async def test_a_record_too_large_is_dropped_and_acknowledged_at_once() -> None:
    writer = writer_with(FakeProducer())
    acked: list[bool] = []
    assert not writer.add(KEYS[0], b"x" * 1024 * 1024, (), lambda: acked.append(True))
    assert acked == [True] and writer.in_flight == 0


async def test_an_empty_batch_takes_a_record_larger_than_the_batch_size() -> None:
    # The writer relies on it: every pass over a partition's records sends at least one.
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", max_batch_size=16 * 1024)
    try:
        batch = producer.create_batch()
        assert batch.append(key=b"k", value=b"x" * 100_000, timestamp=None,
                            headers=[]) is not None
        assert batch.append(key=b"k", value=b"x", timestamp=None, headers=[]) is None
    finally:
        await producer.stop()
