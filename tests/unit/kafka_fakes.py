"""A transactional Kafka producer without Kafka, for the odds agent's unit tests.

``FakeBroker.new_producer`` stands where ``outbound.producer.new_transactional_producer`` builds an
``AIOKafkaProducer``: it is the object ``outbound.transaction.Transactions`` and ``BatchSender``
drive (``start``, ``begin_transaction``, ``create_batch``, ``send_batch``,
``commit_transaction``, ``stop``), and nothing above it is replaced. The broker keeps an end
offset per topic partition, so the offsets the agent gets back are the ones a broker would give,
and records every transaction with its outcome; what a read-committed reader would see is
``published()``, the records of the committed ones.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from aiokafka.errors import KafkaError

SentRecord = tuple[str, int, bytes | None, bytes | None]


class FakeBatch:
    """aiokafka's ``BatchBuilder`` as ``BatchSender`` uses it: ``append`` returns None when
    the batch is full."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.records: list[tuple[bytes | None, bytes | None]] = []

    def append(self, *, key: bytes | None, value: bytes | None,
               timestamp: int | None) -> object | None:
        if len(self.records) >= self.room:
            return None
        self.records.append((key, value))
        return SimpleNamespace(size=len(value or b""))


@dataclass
class Transaction:
    """One transaction of one producer: what it sent, and how it ended."""

    producer: int
    sent: list[SentRecord] = field(default_factory=list)
    #: None while open; "committed", "failed" (the commit raised) or "aborted" (its producer
    #: stopped with it open: the next producer's ``init_transactions`` aborts it).
    outcome: str | None = None


class FakeBroker:
    """Topic partitions and transactions shared by the producers made by ``new_producer``."""

    def __init__(self, batch_room: int = 1000) -> None:
        self.batch_room = batch_room
        self.ends: dict[tuple[str, int], int] = {}
        self.transactions: list[Transaction] = []
        self.producers: list[FakeProducer] = []
        #: How many of the next commits fail (``KafkaError``, as a broker gone away).
        self.fail_commits = 0
        #: Once a commit has failed, a new producer's ``start`` waits for this: the test
        #: looks at the state between the failure and the retry, then sets it.
        self.resume = asyncio.Event()
        self.failed = False

    def new_producer(self) -> FakeProducer:
        producer = FakeProducer(self, len(self.producers))
        self.producers.append(producer)
        return producer

    def published(self) -> list[tuple[str, bytes | None, bytes | None]]:
        """(topic, key, value) of every committed record, in the order sent."""
        return [(topic, key, value) for txn in self.transactions if txn.outcome == "committed"
                for topic, _partition, key, value in txn.sent]

    def outcomes(self) -> list[str | None]:
        return [txn.outcome for txn in self.transactions]


class FakeProducer:
    """A transactional ``AIOKafkaProducer`` of ``FakeBroker``."""

    def __init__(self, broker: FakeBroker, number: int) -> None:
        self.broker = broker
        self.number = number
        self.current: Transaction | None = None
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        if self.broker.failed:
            await self.broker.resume.wait()
        self.started = True

    async def stop(self) -> None:
        if self.current is not None and self.current.outcome in (None, "failed"):
            self.current.outcome = "aborted"
        self.current = None
        self.stopped = True

    async def begin_transaction(self) -> None:
        assert self.started and not self.stopped and self.current is None
        self.current = Transaction(self.number)
        self.broker.transactions.append(self.current)

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.broker.batch_room)

    async def send_batch(self, batch: FakeBatch, topic: str, *,
                         partition: int) -> asyncio.Future[Any]:
        assert self.current is not None, "a send outside a transaction"
        base = self.broker.ends.get((topic, partition), 0)
        self.broker.ends[(topic, partition)] = base + len(batch.records)
        self.current.sent.extend((topic, partition, key, value) for key, value in batch.records)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(SimpleNamespace(topic=topic, partition=partition, offset=base))
        return done

    async def commit_transaction(self) -> None:
        assert self.current is not None, "a commit outside a transaction"
        if self.broker.fail_commits:
            self.broker.fail_commits -= 1
            self.broker.failed = True
            self.current.outcome = "failed"
            raise KafkaError("commit refused by the fake broker")
        self.current.outcome = "committed"
        self.current = None
