"""The odds agent through ``agent.test_context()`` on the memory store."""

import asyncio
import contextlib
from collections.abc import Iterator
from types import SimpleNamespace
from unittest import mock

import orjson
import pytest

from agents.catalog import CATALOG_READY
from agents.odds import APPLIED, RECENT, odds_agent
from app import topics
from app.faust_app import app, settings
from models.placement import partition_for
from tables import state


@pytest.fixture
def sent() -> Iterator[list[tuple[str, bytes, bytes]]]:
    """Capture outbound sends instead of producing them."""
    records: list[tuple[str, bytes, bytes]] = []

    def fake_send(topic: object) -> object:
        async def send(key: bytes, value: bytes, partition: int | None = None) -> object:
            records.append((topic.get_topic_name(), key, value))  # type: ignore[attr-defined]
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return send

    def fake_send_soon(topic: object) -> object:
        """A table's changelog send (markets.v1 and events.v1 are changelogs)."""
        def send_soon(*, key: str | bytes, value: object, partition: int,
                      **_: object) -> object:
            raw_key = key.encode() if isinstance(key, str) else key
            records.append((topic.get_topic_name(), raw_key,  # type: ignore[attr-defined]
                            orjson.dumps(value)))
            return SimpleNamespace(message=SimpleNamespace(partition=partition))
        return send_soon

    with contextlib.ExitStack() as stack:
        for topic in topics.ALL_TOPICS:
            stack.enter_context(mock.patch.object(topic, "send", fake_send(topic)))
            stack.enter_context(mock.patch.object(topic, "send_soon", fake_send_soon(topic)))
        yield records
    for table in state.TABLES:
        table.data.clear()  # type: ignore[attr-defined]
    APPLIED.forget()
    RECENT.clear()


@pytest.fixture(autouse=True)
def finalize_app() -> Iterator[None]:
    app.finalize()
    # The descriptions follower is a service of the running worker; here nothing loads any.
    CATALOG_READY.set()
    yield


def odds(event_id: str, ts: int, price: float) -> bytes:
    return orjson.dumps({"type": "odds_change", "event_id": event_id, "producer": 1, "ts": ts,
                         "markets": [{"id": "1", "outcomes": [{"id": "1", "odds": price},
                                                              {"id": "2", "odds": 3.0}]}]})


async def until(predicate: object, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_agent_applies_publishes_and_dead_letters(
    sent: list[tuple[str, bytes, bytes]],
) -> None:
    # Each record in its key's partition, as Kafka's default partitioner puts it.
    home = partition_for(b"sr:match:1", settings.topic_partitions)
    async with odds_agent.test_context() as agent:
        await agent.put(odds("sr:match:1", 10, 2.0), key=b"sr:match:1", partition=home)
        await agent.put(odds("sr:match:1", 20, 2.5), key=b"sr:match:1", partition=home)
        await agent.put(odds("sr:match:1", 15, 9.0), key=b"sr:match:1",
                        partition=home)  # stale
        await agent.put(b"{broken", key=b"sr:match:1", partition=home)
        await until(lambda: len(sent) >= 2)
        await until(lambda: state.markets.get("sr:match:1/1/") is not None)
    snapshot = state.markets["sr:match:1/1/"]
    assert snapshot["version"] == 2 and snapshot["outcomes"][0]["odds"] == 2.5
    assert list(state.events["sr:match:1"]["market_status"]) == ["sr:match:1/1/"]
    by_topic = {name: (key, orjson.loads(value)) for name, key, value in sent}
    # The records are the table values, bookkeeping included.
    assert by_topic["markets.v1"] == (b"sr:match:1/1/", snapshot)
    assert snapshot["ts"] == 20 and snapshot["feed_status"] == "active"
    assert by_topic["events.v1"][1]["market_counts"] == {"active": 1}
    assert by_topic["events.v1"][1]["market_status"] == {"sr:match:1/1/": "active"}
    change_key, change = by_topic["odds-changes.v2"]
    assert change_key == b"sr:match:1/1/" and change["version"] == 2
    assert change["changes"] == [{"kind": "price", "outcome_id": "1", "old": 2.0, "new": 2.5}]
    dlq_key, dlq = by_topic["feed.dlq.v1"]
    assert dlq_key == b"sr:match:1" and dlq["reason"].startswith("malformed JSON")
    assert dlq["original"] == "{broken"


async def test_a_redelivered_record_is_a_repeat_by_its_offset_and_a_resent_one_by_digest(
    sent: list[tuple[str, bytes, bytes]],
) -> None:
    home = partition_for(b"sr:match:2", settings.topic_partitions)
    async with odds_agent.test_context() as agent:
        await agent.put(odds("sr:match:2", 10, 2.0), key=b"sr:match:2", partition=home)
        await until(lambda: state.markets.get("sr:match:2/1/") is not None)
        applied = state.applied[topics.feed.get_topic_name()]
        # Redelivered after a crash: the same offset again, with a newer message's content
        # (a record at or below the applied offset is never applied twice, whatever it says).
        agent.sent_offset = applied["offset"]
        await agent.put(odds("sr:match:2", 20, 4.0), key=b"sr:match:2", partition=home)
        # Sent again by the feed: a new offset, the same bytes as the first message.
        await agent.put(odds("sr:match:2", 10, 2.0), key=b"sr:match:2", partition=home)
        await until(lambda: state.applied[topics.feed.get_topic_name()]["offset"]
                    == applied["offset"] + 1)
    snapshot = state.markets["sr:match:2/1/"]
    assert snapshot["version"] == 1 and snapshot["outcomes"][0]["odds"] == 2.0
    assert [name for name, _, _ in sent].count("markets.v1") == 1
