"""Versioned DDL, applied idempotently at start: each ``V{n}__name.sql`` runs once.

Each statement of a migration runs once too: the statements done so far are recorded as they
complete, so a migration that copies data out of a table and then drops it resumes after an
interruption instead of reading the dropped table again.
"""

from __future__ import annotations

import logging
import re
import warnings
from importlib import resources
from typing import Any

import aiomysql

log = logging.getLogger(__name__)

MIGRATION_NAME = re.compile(r"^V(\d{3})__[a-z0-9_]+\.sql$")
#: Errors of a DDL statement that an earlier, interrupted run of its migration already
#: applied (DDL commits on its own, so a crash can leave a statement done and unrecorded):
#: table exists, duplicate column, duplicate key name.
ALREADY_APPLIED = frozenset({1050, 1060, 1061})
#: Seconds of each wait for the migration lock, between log lines.
LOCK_WAIT_SECONDS = 60

CREATE_HISTORY = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INT          NOT NULL PRIMARY KEY,
    name       VARCHAR(200) NOT NULL,
    applied_at TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB
"""
#: Statements done of a migration under way (DML commits with its row here).
CREATE_PROGRESS = """
CREATE TABLE IF NOT EXISTS schema_migration_progress (
    version INT NOT NULL PRIMARY KEY,
    done    INT NOT NULL
) ENGINE=InnoDB
"""


def migrations() -> list[tuple[int, str, list[str]]]:
    """Return ``(version, name, statements)`` for every shipped migration, in order."""
    found = []
    for entry in resources.files("sinks").joinpath("sql").iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if not match:
            continue
        text = "\n".join(
            line for line in entry.read_text("utf-8").splitlines()
            if not line.lstrip().startswith("--")
        )
        statements = [s.strip() for s in text.split(";") if s.strip()]
        found.append((int(match.group(1)), entry.name, statements))
    return sorted(found)


async def apply_migrations(conn: Any) -> list[int]:
    """Apply the migrations this database has not seen; return the versions applied."""
    applied: list[int] = []
    with warnings.catch_warnings():
        # MySQL's note for IF NOT EXISTS on what exists ("Table ... already exists").
        warnings.simplefilter("ignore", aiomysql.Warning)
        await _apply(conn, applied)
    return applied


async def _apply(conn: Any, applied: list[int]) -> None:
    async with conn.cursor() as cur:
        await cur.execute(CREATE_HISTORY)
        await cur.execute(CREATE_PROGRESS)
        await _lock(cur)
        try:
            await cur.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            await cur.execute("SELECT version, done FROM schema_migration_progress")
            progress = dict(await cur.fetchall())
            for version, name, statements in migrations():
                if version in done:
                    continue
                for index in range(progress.get(version, 0), len(statements)):
                    await _execute_once(cur, statements[index], name)
                    await cur.execute("REPLACE INTO schema_migration_progress (version, done)"
                                      " VALUES (%s, %s)", (version, index + 1))
                    await conn.commit()
                await cur.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (version, name),
                )
                await cur.execute("DELETE FROM schema_migration_progress WHERE version = %s",
                                  (version,))
                await conn.commit()  # recorded as soon as it is done
                applied.append(version)
        finally:
            await cur.execute("SELECT RELEASE_LOCK('odds_schema_migrations')")


async def _lock(cur: Any) -> None:
    """Take the migration lock: one applier at a time, across processes starting together,
    however long another one's migration takes (a conversion of many rows)."""
    while True:
        await cur.execute("SELECT GET_LOCK('odds_schema_migrations', %s)",
                          (LOCK_WAIT_SECONDS,))
        (locked,) = await cur.fetchone()
        if locked == 1:
            return
        log.info("waiting for another process to finish the schema migrations")


async def _execute_once(cur: Any, statement: str, name: str) -> None:
    """Run one DDL statement; one an interrupted earlier run already applied is skipped."""
    try:
        await cur.execute(statement)
    except aiomysql.Error as exc:
        code = exc.args[0] if exc.args else None
        if code not in ALREADY_APPLIED:
            raise
        log.warning("%s: a statement was already applied by an interrupted run (%s); "
                    "skipping it", name, code)
