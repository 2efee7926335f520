"""MySQL sink: batched, idempotent upserts guarded by each market's version."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import aiomysql

from app import metrics
from config import MySQLConfig
from models.market import Snapshot
from sinks.schema import apply_migrations

log = logging.getLogger(__name__)

# Every column follows the version guard; ``version`` itself is assigned last because
# MySQL evaluates the assignments left to right.
UPSERT_MARKETS = """
INSERT INTO markets (event_id, market_id, specifiers, status, producer, margin, version,
                     updated_ts)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON DUPLICATE KEY UPDATE
    status = IF(VALUES(version) > version, VALUES(status), status),
    producer = IF(VALUES(version) > version, VALUES(producer), producer),
    margin = IF(VALUES(version) > version, VALUES(margin), margin),
    updated_ts = IF(VALUES(version) > version, VALUES(updated_ts), updated_ts),
    version = GREATEST(version, VALUES(version))
"""

UPSERT_OUTCOMES = """
INSERT INTO outcomes (event_id, market_id, specifiers, outcome_id, odds, active, probability,
                      version)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON DUPLICATE KEY UPDATE
    odds = IF(VALUES(version) > version, VALUES(odds), odds),
    active = IF(VALUES(version) > version, VALUES(active), active),
    probability = IF(VALUES(version) > version, VALUES(probability), probability),
    version = GREATEST(version, VALUES(version))
"""

# Outcomes a newer snapshot no longer carries are removed.
DELETE_DROPPED_OUTCOMES = """
DELETE o FROM outcomes o
JOIN markets m ON o.event_id = m.event_id AND o.market_id = m.market_id
              AND o.specifiers = m.specifiers
WHERE o.version < m.version AND o.event_id IN ({placeholders})
"""


class SinkUnavailable(RuntimeError):
    """MySQL could not be reached or written; the batch must be retried."""


def latest_per_market(snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    """Keep the highest version of each market, so a batch writes each row once."""
    latest: dict[tuple[str, str, str], Snapshot] = {}
    for snapshot in snapshots:
        key = (snapshot["event_id"], snapshot["market_id"], snapshot["specifiers"])
        held = latest.get(key)
        if held is None or snapshot["version"] > held["version"]:
            latest[key] = snapshot
    return list(latest.values())


def market_rows(snapshots: Sequence[Snapshot]) -> list[tuple[Any, ...]]:
    """Rows for ``UPSERT_MARKETS``."""
    return [
        (s["event_id"], s["market_id"], s["specifiers"], s["status"], s["producer"],
         s["margin"], s["version"], s["updated_ts"])
        for s in snapshots
    ]


def outcome_rows(snapshots: Sequence[Snapshot]) -> list[tuple[Any, ...]]:
    """Rows for ``UPSERT_OUTCOMES``."""
    return [
        (s["event_id"], s["market_id"], s["specifiers"], o["id"], o["odds"], o["active"],
         o["probability"], s["version"])
        for s in snapshots
        for o in s["outcomes"]
    ]


class MySQLSink:
    """Owns a small connection pool; writes batches, retrying with backoff until they land."""

    def __init__(self, config: MySQLConfig, *, max_backoff: float = 10.0) -> None:
        self.config = config
        self.max_backoff = max_backoff
        self._pool: Any = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> Any:
        async with self._lock:
            if self._pool is None:
                self._pool = await aiomysql.create_pool(
                    host=self.config.host,
                    port=self.config.port,
                    user=self.config.user,
                    password=self.config.password,
                    db=self.config.database,
                    minsize=1,
                    maxsize=4,
                    autocommit=False,
                    charset="utf8mb4",
                    pool_recycle=3600,
                )
                async with self._pool.acquire() as conn:
                    applied = await apply_migrations(conn)
                if applied:
                    log.info("applied schema migrations %s to %s", applied,
                             self.config.redacted())
            return self._pool

    async def start(self) -> None:
        """Connect and apply the schema; raise ``SinkUnavailable`` if MySQL is down."""
        try:
            await self._connect()
        except (aiomysql.Error, OSError) as exc:
            raise SinkUnavailable(f"MySQL at {self.config.redacted()} unavailable: "
                                  f"{type(exc).__name__}") from None

    async def ping(self) -> bool:
        """Return whether MySQL answers now."""
        try:
            pool = await self._connect()
            async with pool.acquire() as conn, conn.cursor() as cur:
                await cur.execute("SELECT 1")
            return True
        except (aiomysql.Error, OSError):
            return False

    async def write_markets(self, snapshots: Iterable[Snapshot]) -> int:
        """Upsert market snapshots once; return the number of markets written."""
        latest = latest_per_market(snapshots)
        if not latest:
            return 0
        started = time.perf_counter()
        pool = await self._connect()
        event_ids = sorted({s["event_id"] for s in latest})
        delete_sql = DELETE_DROPPED_OUTCOMES.format(placeholders=", ".join(["%s"] * len(event_ids)))
        async with pool.acquire() as conn:
            try:
                async with conn.cursor() as cur:
                    await cur.executemany(UPSERT_MARKETS, market_rows(latest))
                    outcomes = outcome_rows(latest)
                    await cur.executemany(UPSERT_OUTCOMES, outcomes)
                    await cur.execute(delete_sql, event_ids)
                await conn.commit()
            except BaseException:
                await _rollback_quietly(conn)
                raise
        metrics.SINK_ROWS.labels("markets").inc(len(latest))
        metrics.SINK_ROWS.labels("outcomes").inc(len(outcomes))
        metrics.SINK_BATCH_SECONDS.observe(time.perf_counter() - started)
        return len(latest)

    async def write_with_retry(self, snapshots: Sequence[Snapshot]) -> int:
        """Write a batch, retrying with exponential backoff until it lands."""
        delay = 0.2
        while True:
            try:
                return await self.write_markets(snapshots)
            except (aiomysql.Error, OSError) as exc:
                metrics.SINK_ERRORS.inc()
                log.warning("MySQL write failed (%s: %s); retrying in %.1fs",
                            type(exc).__name__, exc.args[:1], delay)
                await self._reset()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)

    async def _reset(self) -> None:
        async with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            await pool.wait_closed()

    async def close(self) -> None:
        """Close the pool."""
        await self._reset()


async def _rollback_quietly(conn: Any) -> None:
    try:
        await conn.rollback()
    except (aiomysql.Error, OSError):
        log.debug("rollback failed on a broken connection")
