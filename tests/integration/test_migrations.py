"""Schema migrations against the real MariaDB: a run interrupted half-way is finished later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiomysql
import pytest

from sinks.schema import apply_migrations, migrations
from tests.integration.support import scratch_database

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def conn() -> AsyncIterator[Any]:
    async with scratch_database("migrate") as config:
        connection = await aiomysql.connect(host=config.host, port=config.port,
                                            user=config.user, password=config.password,
                                            db=config.database)
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


async def tables(conn: Any) -> list[tuple[str]]:
    async with conn.cursor() as cur:
        await cur.execute("SHOW TABLES")
        return list(await cur.fetchall())
