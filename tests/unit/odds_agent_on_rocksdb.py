"""The odds agent on the path production takes, run by ``test_odds_agent.py`` in a process of
its own with ``APP_STORE=rocksdb://`` (the path is chosen when the app is imported; see that
module). Not collected by the unit-test run itself: its name does not start with ``test_``.

Kafka is faked at the narrowest seam: ``agents.odds.TRANSACTIONS`` is the production
``Transactions`` whose producer factory is ``FakeBroker.new_producer``
(``tests/unit/kafka_fakes.py``), the aiokafka producer object the transaction code drives. The
tests see what a read-committed reader would (the committed transactions' records) and what the
partition databases hold. Nothing connects to Kafka.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import orjson
import pytest

from agents import odds
from agents.catalog import CATALOG_READY
from app import topics
from app.faust_app import app, settings
from app.faust_seams.store import PartitionedStore
from models.keys import partition_for
from outbound.transaction import Transactions
from tables import state
from tests.unit.kafka_fakes import FakeBroker

FEED = topics.feed.get_topic_name()


@pytest.fixture(autouse=True)
def finalize_app() -> Iterator[None]:
    assert settings.store == "rocksdb://", \
        "run through tests/unit/test_odds_agent.py, which sets APP_STORE=rocksdb://"
    app.finalize()
    # The descriptions follower is a service of the running worker; here nothing loads any.
    CATALOG_READY.set()
    yield


@pytest.fixture
def broker() -> Iterator[FakeBroker]:
    """A fake broker behind the agent's transactions; the tables emptied afterwards."""
    fake = FakeBroker()
    transactions = Transactions(fake.new_producer, odds.TRANSACTIONS.on_failure)
    with mock.patch.object(odds, "TRANSACTIONS", transactions):
        yield fake
    for table in state.TABLES:
        for db in store(table)._dbs.values():
            for key in list(db.keys()):
                db.delete(key)
    odds.TABLE_IO.forget()
    odds.APPLIED.forget()
    odds.RECENT.clear()


def store(table: Any) -> PartitionedStore:
    data = table.data
    assert isinstance(data, PartitionedStore), type(data)
    return data


def odds_change(event_id: str, ts: int, price: float) -> bytes:
    return orjson.dumps({"type": "odds_change", "event_id": event_id, "producer": 1, "ts": ts,
                         "markets": [{"id": "1", "outcomes": [{"id": "1", "odds": price},
                                                              {"id": "2", "odds": 3.0}]}]})


def home(event_id: str) -> int:
    """The partition of an event's records, as Kafka's default partitioner puts them."""
    return partition_for(event_id.encode(), settings.topic_partitions)


def applied_offset(event_id: str) -> int | None:
    """The last feed offset applied in the event's partition, as its database holds it."""
    raw = store(state.applied).partition_db(home(event_id)).get(FEED.encode())
    return None if raw is None else int(orjson.loads(raw)["offset"])


async def until(predicate: Callable[[], object], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_agent_applies_publishes_and_dead_letters(broker: FakeBroker) -> None:
    partition = home("sr:match:1")
    async with odds.odds_agent.test_context() as agent:
        await agent.put(odds_change("sr:match:1", 10, 2.0), key=b"sr:match:1",
                        partition=partition)
        await agent.put(odds_change("sr:match:1", 20, 2.5), key=b"sr:match:1",
                        partition=partition)
        await agent.put(odds_change("sr:match:1", 15, 9.0), key=b"sr:match:1",
                        partition=partition)  # stale
        await agent.put(b"{broken", key=b"sr:match:1", partition=partition)
        await until(lambda: applied_offset("sr:match:1") == 3)
    snapshot = state.markets["sr:match:1/1/"]
    assert snapshot["version"] == 2 and snapshot["outcomes"][0]["odds"] == 2.5
    assert list(state.events["sr:match:1"]["market_status"]) == ["sr:match:1/1/"]
    assert set(broker.outcomes()) == {"committed"}
    by_topic = {name: (key, orjson.loads(value or b"null"))
                for name, key, value in broker.published()}
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
    # Every record went to the event's partition, in the changelogs and the output alike.
    assert {p for txn in broker.transactions for _t, p, _k, _v in txn.sent} == {partition}


async def test_the_partition_databases_hold_the_committed_values(broker: FakeBroker) -> None:
    partition = home("sr:match:3")
    async with odds.odds_agent.test_context() as agent:
        await agent.put(odds_change("sr:match:3", 10, 2.0), key=b"sr:match:3",
                        partition=partition)
        await until(lambda: applied_offset("sr:match:3") == 0)
    published = {(topic, key): value for topic, key, value in broker.published()}
    markets = store(state.markets).partition_db(partition)
    events = store(state.events).partition_db(partition)
    # The bytes of the changelog records, and the changelog offset they reach (recovery
    # resumes after it), written in the partition's own database.
    assert markets.get(b"sr:match:3/1/") == published[("markets.v1", b"sr:match:3/1/")]
    assert events.get(b"sr:match:3") == published[("events.v1", b"sr:match:3")]
    offset_key = store(state.markets).offset_key
    assert markets.get(offset_key) == str(broker.ends[("markets.v1", partition)] - 1).encode()
    assert orjson.loads(markets[b"sr:match:3/1/"])["outcomes"][0]["odds"] == 2.0
    # No other partition's database holds the market.
    for other, db in store(state.markets)._dbs.items():
        if other != partition:
            assert db.get(b"sr:match:3/1/") is None


async def test_a_failed_commit_writes_nothing_to_the_tables(broker: FakeBroker) -> None:
    partition = home("sr:match:4")
    broker.fail_commits = 1
    async with odds.odds_agent.test_context() as agent:
        await agent.put(odds_change("sr:match:4", 10, 2.0), key=b"sr:match:4",
                        partition=partition)
        # The commit failed and its producer is stopped; the retry's new producer waits.
        await until(lambda: broker.outcomes() == ["aborted"] and len(broker.producers) == 2)
        assert broker.published() == []
        assert state.markets.get("sr:match:4/1/") is None
        assert store(state.markets).partition_db(partition).get(b"sr:match:4/1/") is None
        assert store(state.events).partition_db(partition).get(b"sr:match:4") is None
        assert applied_offset("sr:match:4") is None
        broker.resume.set()
        await until(lambda: applied_offset("sr:match:4") == 0)
    # Retried whole by a new producer, committed once: the same records as the failed one.
    first, second = broker.transactions
    assert (first.outcome, second.outcome) == ("aborted", "committed")
    assert first.sent == second.sent and second.producer == 1
    assert state.markets["sr:match:4/1/"]["version"] == 1
    assert [topic for topic, _k, _v in broker.published()].count("markets.v1") == 1


async def test_a_redelivered_record_is_a_repeat_by_its_offset_and_a_resent_one_by_digest(
    broker: FakeBroker,
) -> None:
    partition = home("sr:match:2")
    async with odds.odds_agent.test_context() as agent:
        await agent.put(odds_change("sr:match:2", 10, 2.0), key=b"sr:match:2",
                        partition=partition)
        await until(lambda: applied_offset("sr:match:2") is not None)
        applied = applied_offset("sr:match:2")
        assert applied is not None
        # Redelivered after a crash: the same offset again, with a newer message's content
        # (a record at or below the applied offset is never applied twice, whatever it says).
        agent.sent_offset = applied
        await agent.put(odds_change("sr:match:2", 20, 4.0), key=b"sr:match:2",
                        partition=partition)
        # Sent again by the feed: a new offset, the same bytes as the first message.
        await agent.put(odds_change("sr:match:2", 10, 2.0), key=b"sr:match:2",
                        partition=partition)
        await until(lambda: applied_offset("sr:match:2") == applied + 1)
    snapshot = state.markets["sr:match:2/1/"]
    assert snapshot["version"] == 1 and snapshot["outcomes"][0]["odds"] == 2.0
    assert [name for name, _, _ in broker.published()].count("markets.v1") == 1
