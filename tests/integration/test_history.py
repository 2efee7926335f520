"""Price history against the real services: the sink's merged rows in MariaDB, the reader's
windows and folding, and ``GET .../history`` across a worker restart through Kafka, RocksDB
and MariaDB."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from config import MySQLConfig
from models.memory import MemoryState, replay
from sinks.mysql import MySQLSink, SinkBatch
from sinks.schema import apply_migrations, migrations
from tests.integration.support import (
    Platform,
    Worker,
    eventually,
    free_port,
    mysql_rows,
    produce,
    scratch_database,
    stop_process,
)
from tests.unit.feedmsg import bet_stop, market, odds_change
from web.history import HistoryReader, HistoryUnavailable
from web.history_shape import FOLDED, SNAPSHOT, HistoryQuery

pytestmark = pytest.mark.timeout(240)

EVENT = "sr:match:1"
KEY = (EVENT, "1", "")


def published(*messages: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """``odds-changes.v2`` and ``markets.v1`` values of ``messages``."""
    state, changes, markets = MemoryState(), [], []
    for plan in replay(state, list(messages), 8, now_ms=0):
        changes += [r.value for r in plan.odds_changes]
        markets += [p.state for p in plan.markets.values() if p.publish]
    return changes, markets


def walk(count: int, start: int = 1000, step: int = 1000) -> list[dict[str, Any]]:
    """``count`` messages moving market 1's prices, a bet stop every fourth."""
    return [bet_stop(start + i * step) if i % 4 == 3 else
            odds_change(start + i * step, market("1", round(2.0 + i / 100, 2), 3.0))
            for i in range(count)]


@pytest.fixture
async def database() -> AsyncIterator[MySQLConfig]:
    async with scratch_database("history") as config:
        sink = MySQLSink(config)
        try:
            await sink.start()
        finally:
            await sink.close()
        yield config


async def written(config: MySQLConfig, *batches: SinkBatch) -> None:
    sink = MySQLSink(config)
    try:
        for batch in batches:
            await sink.write(batch)
    finally:
        await sink.close()


async def table(config: MySQLConfig) -> list[tuple[Any, ...]]:
    return await mysql_rows(config, "SELECT version, producer, ts, changes, status, outcomes,"
                                    " updated_ts FROM market_history ORDER BY version")


async def test_changes_and_state_merge_in_either_order_and_replays_change_nothing(
        database: MySQLConfig) -> None:
    changes, markets = published(*walk(4))
    await written(database, SinkBatch(odds_changes=changes, markets=markets))
    together = await table(database)
    assert [(v, s, orjson.loads(o)[0]["odds"], u) for v, _p, _t, _c, s, o, u in together] == [
        (1, "active", 2.0, 1000), (2, "active", 2.01, 2000), (3, "active", 2.02, 3000),
        (4, "suspended", 2.02, 4000)]
    async with scratch_database("history") as apart:
        await written(apart, SinkBatch(markets=markets[2:]), SinkBatch(odds_changes=changes),
                      SinkBatch(markets=markets[:2]))
        assert await table(apart) == together
        await written(apart, SinkBatch(odds_changes=changes, markets=markets),
                      SinkBatch(markets=markets[:1]), SinkBatch(odds_changes=changes[3:]))
        assert await table(apart) == together
    # The price history view reads the change rows as before.
    assert len(await mysql_rows(database, "SELECT * FROM odds_history")) == 4


async def test_v005_gives_rows_written_before_it_their_ts_as_updated_ts() -> None:
    async with scratch_database("history") as config:
        conn = await connect(config)
        try:
            async with conn.cursor() as cur:
                for _version, _name, statements in migrations()[:4]:
                    for statement in statements:
                        await cur.execute(statement)
                await cur.execute(
                    "INSERT INTO market_history VALUES ('sr:match:1', '1', '', 3, 1, 1003,"
                    " '[{\"kind\": \"price\", \"outcome_id\": \"1\", \"old\": 2.0,"
                    " \"new\": 2.1}]')")
                await cur.execute("CREATE TABLE schema_migrations (version INT NOT NULL"
                                  " PRIMARY KEY, name VARCHAR(200) NOT NULL, applied_at"
                                  " TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)")
                await cur.executemany("INSERT INTO schema_migrations (version, name)"
                                      " VALUES (%s, %s)",
                                      [(v, n) for v, n, _ in migrations()[:4]])
            await conn.commit()
            assert await apply_migrations(conn) == [5]
        finally:
            conn.close()
        (found,) = await table(config)
        assert found[4:] == (None, None, 1003)
        reader = HistoryReader(config)
        try:
            page = await reader.window(KEY, HistoryQuery())
        finally:
            await reader.close()
        assert page is not None
        assert [(v["version"], v["source"], v["status"]) for v in page["versions"]] == [
            (3, "changes", None)]


async def connect(config: MySQLConfig) -> Any:
    import aiomysql

    return await aiomysql.connect(host=config.host, port=config.port, user=config.user,
                                  password=config.password, db=config.database)


async def test_windows_pages_and_the_version_in_force(database: MySQLConfig) -> None:
    messages = walk(12)
    expected, markets = published(*messages)
    reference = {m["version"]: m for m in markets}
    # One snapshot in three reached the sink (markets.v1 has one per market per worker batch).
    await written(database, SinkBatch(odds_changes=expected,
                                      markets=[m for m in markets if m["version"] % 3 == 1]))
    reader = HistoryReader(database)
    try:
        whole = await reader.window(KEY, HistoryQuery())
        assert whole is not None and whole["next_from"] is None
        shaped = whole["versions"]
        assert [v["version"] for v in shaped] == [c["version"] for c in expected]
        # Two of every three versions were never a snapshot: folded, with the same prices.
        assert {v["source"] for v in shaped} == {SNAPSHOT, FOLDED}
        for version in shaped:
            snapshot = reference[version["version"]]
            assert version["status"] == snapshot["status"]
            assert [o["odds"] for o in version["outcomes"]] == [
                o["odds"] for o in snapshot["outcomes"]]
            assert version["updated_ts"] == snapshot["updated_ts"]
        # Pages of 5, each starting where the last ended, folded from before their start.
        pages, query = [], HistoryQuery(limit=5)
        while True:
            page = await reader.window(KEY, query)
            assert page is not None
            pages += page["versions"]
            if page["next_from"] is None:
                break
            query = HistoryQuery(start=page["next_from"], after=page["next_after"], limit=5)
        assert pages == shaped
        window = await reader.window(KEY, HistoryQuery(start=3500, end=7000))
        assert window is not None
        assert [v["updated_ts"] for v in window["versions"]] == [4000, 5000, 6000, 7000]
        assert window["versions"] == shaped[3:7]
        assert (await reader.window(KEY, HistoryQuery(start=99_000)) or {})["versions"] == []
        assert await reader.window((EVENT, "2", ""), HistoryQuery()) is None
        for ts, version in ((1000, 1), (4999, 4), (5000, 5), (10**12, 12)):
            at = await reader.at(KEY, ts)
            assert at is not None and at["version"] == version
            assert {k: v for k, v in at.items() if k not in KEYS} == shaped[version - 1]
        assert await reader.at(KEY, 999) is None
    finally:
        await reader.close()


KEYS = ("event_id", "market_id", "specifiers")


async def test_mysql_down_is_unavailable_not_a_crash() -> None:
    reader = HistoryReader(MySQLConfig("127.0.0.1", free_port(), "u", "db", "p"), timeout=1)
    try:
        with pytest.raises(HistoryUnavailable):
            await reader.window(KEY, HistoryQuery())
        with pytest.raises(HistoryUnavailable):
            await reader.at(KEY, 5)
    finally:
        await reader.close()


async def test_a_pooled_connection_the_server_closed_is_replaced(
        database: MySQLConfig) -> None:
    changes, markets = published(*walk(2))
    await written(database, SinkBatch(odds_changes=changes, markets=markets))
    reader = HistoryReader(database)
    try:
        ((held,),) = await reader.query("SELECT CONNECTION_ID()", ())
        admin = await connect(database)
        try:
            async with admin.cursor() as cur:
                await cur.execute(f"KILL {int(held)}")
        finally:
            admin.close()
        page = await reader.window(KEY, HistoryQuery())
        assert page is not None and len(page["versions"]) == 2
        ((now,),) = await reader.query("SELECT CONNECTION_ID()", ())
        assert now != held
    finally:
        await reader.close()


# -- through a worker ------------------------------------------------------------------------


async def history(worker: Worker, query: str = "") -> tuple[int, Any]:
    return await worker.get(f"/events/{EVENT}/markets/1/history{query}")


async def graphql(worker: Worker, query: str, **variables: Any) -> Any:
    async with aiohttp.ClientSession() as http, http.post(
            f"{worker.url}/graphql", json={"query": query, "variables": variables}) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_history_across_a_restart(tmp_path: Path) -> None:
    platform = Platform(tmp_path, extra_env={"PRODUCER_TIMEOUT": "3600"})
    await platform.create()
    try:
        now = int(time.time() * 1000) - 600_000
        messages = walk(16, start=now)
        feed = platform.topic("feed.v1")
        worker = await platform.start_worker(0)
        await produce(feed, [(EVENT.encode(), orjson.dumps(m)) for m in messages[:8]])

        async def versions_seen(count: int) -> Any:
            status, body = await history(worker)
            return status == 200 and len(body["versions"]) == count and body

        await eventually(lambda: versions_seen(8), 90, "8 versions in the history")
        stop_process(worker.proc)
        worker = await platform.start_worker(0)  # the same data dir: RocksDB holds the state
        await produce(feed, [(EVENT.encode(), orjson.dumps(m)) for m in messages[8:]])
        body = await eventually(lambda: versions_seen(16), 90, "16 versions in the history")

        reference = {m["version"]: m for m in published(*messages)[1]}
        assert [v["version"] for v in body["versions"]] == list(range(1, 17))
        for version in body["versions"]:
            snapshot = reference[version["version"]]
            assert (version["status"], version["updated_ts"]) == (snapshot["status"],
                                                                  snapshot["updated_ts"])
            assert [(o["id"], o["odds"]) for o in version["outcomes"]] == [
                (o["id"], o["odds"]) for o in snapshot["outcomes"]]
            assert version["changes"]
        statuses = [v["status"] for v in body["versions"]]
        assert statuses.count("suspended") == 4 and statuses[-1] == "suspended"

        # The version in force at an instant: the last one updated at or before it.
        at = f"/events/{EVENT}/markets/1/history/at"
        for ts, version in ((now, 1), (now + 8_500, 9), (now + 15_000, 16)):
            status, found = await worker.get(f"{at}?ts={ts}")
            assert status == 200 and found["version"] == version
            assert found["event_id"] == EVENT and found["market_id"] == "1"
            assert {k: v for k, v in found.items() if k not in KEYS} == \
                body["versions"][version - 1]
        assert (await worker.get(f"{at}?ts={now - 1}"))[0] == 404

        status, page = await history(worker, f"?from={now + 2000}&to={now + 4000}&limit=2")
        assert status == 200 and page["versions"] == body["versions"][2:4]
        assert (page["next_from"], page["next_after"]) == (now + 3000, 4)

        # GraphQL reads the same versions.
        status, answer = await graphql(
            worker, "query($id: ID!, $from: Millis) { market(eventId: $id, marketId: \"1\") {"
                    " history(from: $from, limit: 3) { version status updatedTs source"
                    " outcomes { id odds active } } } }", id=EVENT, **{"from": now + 1000})
        assert status == 200, answer
        assert answer["data"]["market"]["history"] == [
            {"version": v["version"], "status": v["status"], "updatedTs": v["updated_ts"],
             "source": v["source"], "outcomes": v["outcomes"]}
            for v in body["versions"][1:4]]

        for query in ("?limit=0", "?limit=x", "?from=2&to=1", "?foo=1", "?limit=1&limit=2",
                      "?specifiers=bad"):
            status, found = await history(worker, query)
            assert status == 400 and found["error"]["code"] == "bad_request", query
        assert (await worker.get(f"{at}"))[0] == 400
        status, found = await worker.get(f"/events/{EVENT}/markets/2/history")
        assert status == 404 and found["error"]["code"] == "not_found"
    finally:
        await platform.destroy()


async def test_mysql_down_answers_503(tmp_path: Path) -> None:
    platform = Platform(tmp_path, extra_env={
        "SINK_MODE": "separate", "PRODUCER_TIMEOUT": "3600",
        "MYSQL_DSN": f"mysql://betting:betting@127.0.0.1:{free_port()}/nowhere"})
    await platform.create()
    try:
        worker = await platform.start_worker(0)
        for path in ("", "/at?ts=5"):
            status, body = await worker.get(f"/events/{EVENT}/markets/1/history{path}")
            assert status == 503 and body["error"]["code"] == "mysql_unavailable", body
        # A market the worker has, whose history cannot be read: a GraphQL error, not a crash.
        message = odds_change(int(time.time() * 1000), market("1", 2.0, 3.0))
        await produce(platform.topic("feed.v1"), [(EVENT.encode(), orjson.dumps(message))])
        await eventually(lambda: worker.answers(f"/events/{EVENT}/markets/1"), 60,
                         "the market to be served")
        status, answer = await graphql(
            worker, "query($id: ID!) { market(eventId: $id, marketId: \"1\") { version"
                    " history { version } } }", id=EVENT)
        assert status == 200 and answer["data"] == {"market": None}, answer
        assert answer["errors"][0]["extensions"]["code"] == "mysql_unavailable"
        assert worker.proc.poll() is None
    finally:
        await platform.destroy()
