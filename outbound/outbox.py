"""One batch's outbound records, sent together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from faust.types import EventT, TopicT

from models.engine import Record
from outbound.transaction import BatchSender, Transactions

BeforeCommit = Callable[[], Awaitable[None]]


class Outbox:
    """Outbound records of one batch, sent together; ``flush`` waits for every ack.

    With ``transactions`` (the RocksDB store, every real worker) the batch goes as one Kafka
    transaction; without (the memory store of unit tests), through Faust's topic sends.
    """

    def __init__(self, transactions: Transactions | None,
                 before_commit: BeforeCommit | None = None) -> None:
        self.transactions = transactions
        self.before_commit = before_commit
        self.sender = BatchSender() if transactions is not None else None
        self.faust_pending: list[tuple[TopicT, bytes | None, bytes, int]] = []

    def send(self, topic: TopicT, key: str | bytes | None, value: Any, partition: int) -> None:
        """Queue one record for an explicit partition."""
        raw_key = key.encode() if isinstance(key, str) else key
        raw_value = value if isinstance(value, bytes) else orjson.dumps(value)
        if self.sender is not None:
            self.sender.add(topic.get_topic_name(), partition, raw_key, raw_value)
        else:
            self.faust_pending.append((topic, raw_key, raw_value, partition))

    def records(self, topic: TopicT, records: Iterable[Record[EventT[Any]]]) -> None:
        """Queue records in the partition of the feed record that caused them."""
        for record in records:
            self.send(topic, record.key, record.value, record.source.message.partition)

    async def flush(self) -> dict[tuple[str, int], int]:
        """Send and wait; return the last offset written per topic partition."""
        if self.transactions is not None and self.sender is not None:
            return await self.transactions.commit(self.sender, self.before_commit)
        sends: list[Awaitable[Any]] = [
            await topic.send(key=key, value=value, partition=partition)
            for topic, key, value, partition in self.faust_pending]
        await asyncio.gather(*sends)
        self.faust_pending.clear()
        return {}
