"""Versioned DDL, applied idempotently at start: each ``V{n}__name.sql`` runs once."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

MIGRATION_NAME = re.compile(r"^V(\d{3})__[a-z0-9_]+\.sql$")

CREATE_HISTORY = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INT          NOT NULL PRIMARY KEY,
    name       VARCHAR(200) NOT NULL,
    applied_at TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP
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
    async with conn.cursor() as cur:
        await cur.execute(CREATE_HISTORY)
        # One applier at a time, across workers starting together.
        await cur.execute("SELECT GET_LOCK('odds_schema_migrations', 60)")
        try:
            await cur.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for version, name, statements in migrations():
                if version in done:
                    continue
                for statement in statements:
                    await cur.execute(statement)
                await cur.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (version, name),
                )
                applied.append(version)
            await conn.commit()
        finally:
            await cur.execute("SELECT RELEASE_LOCK('odds_schema_migrations')")
    return applied
