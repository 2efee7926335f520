"""Schema migrations against the real MariaDB: a run interrupted half-way is finished later,
and V004 converts a V003 database's rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiomysql
import orjson
import pytest

from config import MySQLConfig
from sinks import schema
from sinks.mysql import MySQLSink, SinkBatch
from sinks.schema import apply_migrations, migrations
from tests.integration.support import mysql_rows, scratch_database

pytestmark = pytest.mark.timeout(60)

E = "sr:match:1"
V003_MARKETS = [
    (E, "1", "", "1x2", "active", 1, 0.05, None, None, 0, None, 3, 1003),
    (E, "18", "total=2.5", None, "suspended", 3, None, 2, "no_result", 1,
     '[{"start_time": null, "end_time": null, "void_reason": "no_result", "ts": 5}]', 1, 1001)]
V003_OUTCOMES = [  # the outcomes view must read them back exactly
    (E, "1", "", "1", "Zé \"q\"", 2.5, 1, 0.4, None, None, None, 3),
    (E, "1", "", "2", None, None, 0, None, "lost", 0.5, 0.25, 3)]
V003_HISTORY = [  # and the odds_history view these
    (E, "1", "", "1", 1, None, 2.0, 1001), (E, "1", "", "2", 1, None, 3.0000000000000004, 1001),
    (E, "1", "", "1", 3, 2.0, 2.5, 1003)]


@pytest.fixture
async def database() -> AsyncIterator[MySQLConfig]:
    async with scratch_database("migrate") as config:
        yield config


async def connect(config: MySQLConfig) -> Any:
    return await aiomysql.connect(host=config.host, port=config.port, user=config.user,
                                  password=config.password, db=config.database)


@pytest.fixture
async def conn(database: MySQLConfig) -> AsyncIterator[Any]:
    connection = await connect(database)
    try:
        yield connection
    finally:
        connection.close()


async def columns(conn: Any, table: str) -> set[str]:
    async with conn.cursor() as cur:
        await cur.execute(f"SHOW COLUMNS FROM `{table}`")
        return {row[0] for row in await cur.fetchall()}


async def test_a_migration_interrupted_after_some_ddl_is_completed(conn: Any) -> None:
    """A worker killed while migrating: V001 done and V002's first ALTER done (DDL commits
    on its own), neither recorded. The next start applies every migration without failing."""
    (_, _, first), (_, _, second) = migrations()[:2]
    async with conn.cursor() as cur:
        for statement in [*first, second[0]]:
            await cur.execute(statement)
    assert "certainty" in await columns(conn, "markets")  # the half-done migration

    assert await apply_migrations(conn) == [version for version, _, _ in migrations()]
    assert {"result", "void_factor", "dead_heat_factor"} <= await columns(conn, "outcomes")
    assert "odds_history" in {t for (t,) in await tables(conn)}
    assert await apply_migrations(conn) == []


async def test_a_second_applier_waits_for_the_first_however_long_it_takes(
        conn: Any, database: MySQLConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "LOCK_WAIT_SECONDS", 1)
    async with conn.cursor() as cur:  # the first applier, still converting
        await cur.execute("SELECT GET_LOCK('odds_schema_migrations', 1)")
        second = await connect(database)
        try:
            waiting = asyncio.create_task(apply_migrations(second))
            await asyncio.sleep(2.5)  # more than one wait for the lock
            assert not waiting.done()
            assert "markets" not in {t for (t,) in await tables(conn)}
            await cur.execute("SELECT RELEASE_LOCK('odds_schema_migrations')")
            assert await asyncio.wait_for(waiting, 30) == [v for v, _, _ in migrations()]
        finally:
            second.close()


async def tables(conn: Any) -> list[tuple[str]]:
    async with conn.cursor() as cur:
        await cur.execute("SHOW TABLES")
        return list(await cur.fetchall())


async def at_v003_with_rows(conn: Any) -> None:
    """A database the previous release wrote: V001-V003 applied, rows in every table V004
    converts."""
    async with conn.cursor() as cur:
        for _version, _name, statements in migrations()[:3]:
            for statement in statements:
                await cur.execute(statement)
        await cur.executemany(
            "INSERT INTO markets (event_id, market_id, specifiers, name, status, producer,"
            " margin, certainty, void_reason, cancelled, cancels, version, updated_ts)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", V003_MARKETS)
        await cur.executemany(
            "INSERT INTO outcomes (event_id, market_id, specifiers, outcome_id, name, odds,"
            " active, probability, result, void_factor, dead_heat_factor, version)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", V003_OUTCOMES)
        await cur.executemany(
            "INSERT INTO odds_history (event_id, market_id, specifiers, outcome_id, version,"
            " old_odds, new_odds, ts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", V003_HISTORY)
        await cur.execute("CREATE TABLE schema_migrations (version INT NOT NULL PRIMARY KEY,"
                          " name VARCHAR(200) NOT NULL, applied_at TIMESTAMP NOT NULL"
                          " DEFAULT CURRENT_TIMESTAMP)")
        await cur.executemany("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                              [(v, n) for v, n, _ in migrations()[:3]])
    await conn.commit()


async def assert_converted(config: MySQLConfig) -> None:
    """The V003 rows, read through V004's tables and views."""
    assert await mysql_rows(config, "SELECT * FROM outcomes ORDER BY market_id, outcome_id"
                            ) == V003_OUTCOMES
    assert await mysql_rows(config, "SELECT * FROM odds_history ORDER BY version, outcome_id"
                            ) == V003_HISTORY
    assert await mysql_rows(config, "SELECT event_id, market_id, specifiers, name, status,"
                            " producer, margin, certainty, void_reason, cancelled, cancels,"
                            " version, updated_ts FROM markets ORDER BY market_id"
                            ) == V003_MARKETS
    history = await mysql_rows(config, "SELECT version, producer, ts, changes"
                                       " FROM market_history WHERE changes IS NOT NULL"
                                       " ORDER BY version")
    assert [(v, p, ts, sorted(c["outcome_id"] for c in orjson.loads(changes)))
            for v, p, ts, changes in history] == [(1, None, 1001, ["1", "2"]),
                                                  (3, None, 1003, ["1"])]
    assert {t: kind for t, kind in await mysql_rows(config, "SHOW FULL TABLES")} == {
        "events": "BASE TABLE", "markets": "BASE TABLE", "market_history": "BASE TABLE",
        "settlements": "BASE TABLE", "schema_migrations": "BASE TABLE",
        "schema_migration_progress": "BASE TABLE", "outcomes": "VIEW",
        "odds_history": "VIEW"}


async def test_v004_converts_the_rows_of_a_v003_database(conn: Any,
                                                          database: MySQLConfig) -> None:
    await at_v003_with_rows(conn)
    assert await apply_migrations(conn) == [4, 5]
    await assert_converted(database)

    # The sink writes the converted database: an older version changes nothing, a newer
    # one replaces the outcomes (outcome 2 dropped) and adds one history row.
    sink = MySQLSink(database)
    try:
        older = {"event_id": E, "market_id": "1", "specifiers": "", "name": "1x2",
                 "status": "active", "producer": 1, "margin": 0.05, "settlement": None,
                 "cancels": [], "updated_ts": 1002, "version": 2,
                 "outcomes": [{"id": "1", "odds": 9.0, "active": True, "probability": None}]}
        await sink.write(SinkBatch(markets=[older]))
        await assert_converted(database)
        newer = {**older, "version": 4, "updated_ts": 1004,
                 "outcomes": [{"id": "1", "odds": 2.6, "active": True, "probability": None}]}
        change = {"event_id": E, "market_id": "1", "specifiers": "", "producer": 1,
                  "version": 4, "ts": 1004,
                  "changes": [{"kind": "price", "outcome_id": "1", "old": 2.5, "new": 2.6}]}
        await sink.write(SinkBatch(markets=[newer], odds_changes=[change]))
    finally:
        await sink.close()
    assert await mysql_rows(database, "SELECT outcome_id, odds, version FROM outcomes"
                                      " WHERE market_id = '1'") == [("1", 2.6, 4)]
    assert await mysql_rows(database, "SELECT * FROM odds_history ORDER BY version, outcome_id"
                            ) == [*V003_HISTORY, (E, "1", "", "1", 4, 2.5, 2.6, 1004)]


@pytest.mark.parametrize("crash_after", range(len(migrations()[3][2])))
async def test_v004_interrupted_after_any_statement_resumes(
        conn: Any, database: MySQLConfig, crash_after: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed right after one of V004's statements ran, before it was recorded
    (DDL has committed, DML has not): the next start finishes the conversion."""
    await at_v003_with_rows(conn)
    statement = migrations()[3][2][crash_after]
    run = schema._execute_once

    async def crashing(cur: Any, sql: str, name: str) -> None:
        await run(cur, sql, name)
        if sql == statement:
            raise ConnectionResetError("killed")

    monkeypatch.setattr(schema, "_execute_once", crashing)
    with pytest.raises(ConnectionResetError):
        await apply_migrations(conn)
    monkeypatch.undo()
    conn.close()  # the crash: what was not committed is gone

    again = await connect(database)
    try:
        assert await apply_migrations(again) == [4, 5]
    finally:
        again.close()
    await assert_converted(database)
