"""Feed records that are well-formed but misplaced, ambiguous or stamped in the future, through
a running worker: each is a dead letter with its reason and changes nothing anywhere."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from models.keys import partition_for
from tests.integration.support import (
    BOOTSTRAP,
    Platform,
    Worker,
    eventually,
    mysql_rows,
    read_all,
    read_compacted,
)

pytestmark = pytest.mark.timeout(300)

EVENT = "sr:match:31337"
SENTINEL = "sr:match:31338"


def odds(event_id: str, ts: int, market_id: str = "1", specifiers: str = "",
         price: float = 2.0) -> bytes:
    return orjson.dumps({
        "type": "odds_change", "event_id": event_id, "producer": 1, "ts": ts,
        "markets": [{"id": market_id, "specifiers": specifiers, "outcomes": [
            {"id": "1", "odds": price}, {"id": "2", "odds": 1.8}]}]})


class Sender:
    """Writes records to explicit partitions, as a careless or hostile producer can."""

    def __init__(self, platform: Platform) -> None:
        self.topic = platform.topic("feed.v1")
        self.partitions = platform.partitions
        self.producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")

    async def send(self, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        if partition is None:
            partition = partition_for(key or b"", self.partitions)
        await (await self.producer.send(self.topic, key=key, value=value, partition=partition))


@pytest_asyncio.fixture
async def served(tmp_path: Any) -> AsyncIterator[tuple[Platform, Worker, Sender]]:
    platform = Platform(tmp_path)
    await platform.create()
    sender = Sender(platform)
    await sender.producer.start()
    try:
        yield platform, await platform.start_worker(), sender
    finally:
        await sender.producer.stop()
        await platform.destroy()


async def letters(platform: Platform) -> list[tuple[Any, Any]]:
    return await read_all(platform.topic("feed.dlq.v1"))


async def market(worker: Worker, event_id: str, market_id: str,
                 specifiers: str = "") -> dict[str, Any] | None:
    status, body = await worker.get(
        f"/events/{event_id}/markets/{market_id}?specifiers={specifiers}")
    return body if status == 200 else None


async def test_misplaced_ambiguous_and_future_records_are_dead_letters(
        served: tuple[Platform, Worker, Sender]) -> None:
    platform, worker, sender = served
    now = int(time.time() * 1000)
    key = EVENT.encode()
    home = partition_for(key, platform.partitions)
    elsewhere = (home + 3) % platform.partitions
    await sender.send(key, odds(EVENT, now, price=2.0))
    await eventually(lambda: market(worker, EVENT, "1"), 60, "the event's first odds")

    hostile = [
        (None, odds(EVENT, now + 1, price=9.0), 5),  # no key, any partition
        (key, odds(EVENT, now + 2, price=8.0), elsewhere),  # the right key, the wrong place
        (key, odds(EVENT, 9_999_999_999_999, price=7.0), None),  # from the far future
        # Two markets that would share the key {event}/a/b/c=d: the one whose id holds the
        # separator is refused, the other is applied under its own id.
        (key, odds(EVENT, now + 3, market_id="a/b", specifiers="c=d", price=6.0), None),
    ]
    for record_key, value, partition in hostile:
        await sender.send(record_key, value, partition)
    await sender.send(key, odds(EVENT, now + 4, market_id="a", specifiers="b/c=d", price=3.0))
    await sender.send(SENTINEL.encode(), odds(SENTINEL, now + 5))
    await eventually(lambda: market(worker, SENTINEL, "1"), 60, "the sentinel after them")

    dead = await eventually(lambda: _at_least(platform, 4), 30, "four dead letters")
    reasons = sorted(letter["reason"] for _key, letter in dead)
    assert any(r.startswith("record has no key") for r in reasons), reasons
    assert f"record in partition {elsewhere}, but its key '{EVENT}' belongs to {home}" in reasons
    assert any("ahead of the worker's clock" in r for r in reasons), reasons
    assert any("other than '/'" in r for r in reasons), reasons

    first = await market(worker, EVENT, "1")
    assert first is not None and first["outcomes"][0]["odds"] == 2.0 and first["version"] == 1
    # The future record froze nothing: a real update after it still applies.
    await sender.send(key, odds(EVENT, now + 6, price=2.2))
    await eventually(lambda: _price(worker, EVENT, "1", 2.2), 30, "a later real update")
    other = await market(worker, EVENT, "a", "b/c=d")
    assert other is not None and other["market_id"] == "a"
    assert other["outcomes"][0]["odds"] == 3.0

    markets = await read_compacted(platform.topic("markets.v1"))
    assert sorted(k for k in markets if k.startswith(EVENT)) == [
        f"{EVENT}/1/", f"{EVENT}/a/b/c=d"]
    assert markets[f"{EVENT}/a/b/c=d"]["market_id"] == "a"
    assert await _event_partitions(platform) == [home]

    async def stored() -> bool:
        rows = await mysql_rows(platform.mysql, "SELECT market_id, specifiers FROM markets"
                                                f" WHERE event_id = '{EVENT}'")
        return sorted(rows) == [("1", ""), ("a", "b/c=d")]

    await eventually(stored, 60, "MySQL to hold exactly the two markets")


async def _at_least(platform: Platform, count: int) -> list[tuple[Any, Any]]:
    found = await letters(platform)
    return found if len(found) >= count else []


async def _price(worker: Worker, event_id: str, market_id: str, price: float) -> bool:
    body = await market(worker, event_id, market_id)
    return body is not None and body["outcomes"][0]["odds"] == price


async def _event_partitions(platform: Platform) -> list[int]:
    """The partitions of ``events.v1`` that hold a record of the event."""
    topic = platform.topic("events.v1")
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=None,
                                isolation_level="read_committed")
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(platform.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        found: set[int] = set()
        pending = set(parts)
        while pending:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                if any(r.key == EVENT.encode() for r in records):
                    found.add(tp.partition)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return sorted(found)
    finally:
        await consumer.stop()
