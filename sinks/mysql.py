"""MySQL sink: batched, idempotent writes guarded by each market's version.

A market's latest version is one ``markets`` row (its outcomes as JSON on it); every version
is one ``market_history`` row holding what the sink saw of it: its state (status, prices,
``updated_ts``) from ``markets.v1`` and its changes from ``odds-changes.v2``, merged by
version whichever comes first. ``outcomes`` and ``odds_history`` are views over them
(``sinks/sql/V004__market_versions.sql``, ``V005__market_history_states.sql``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiomysql
import orjson

from app import metrics
from app.retry import Retry
from config import MySQLConfig
from models.market import Snapshot, is_open_ended, legacy_cancels
from sinks.schema import apply_migrations
from sinks.sql_values import Statement, statements

log = logging.getLogger(__name__)

T = TypeVar("T")


def _guarded(columns: tuple[str, ...]) -> str:
    # Every column follows the version guard; ``version`` itself is assigned last because
    # MySQL evaluates the assignments left to right.
    updates = [f"{c} = IF(VALUES(version) > version, VALUES({c}), {c})" for c in columns]
    return ",\n    ".join([*updates, "version = GREATEST(version, VALUES(version))"])


# Table and column names below are this module's constants; values are always escaped.
def _upsert(table: str, keys: tuple[str, ...], columns: tuple[str, ...]) -> Statement:
    names = (*keys, *columns, "version")
    return Statement(f"INSERT INTO {table} ({', '.join(names)}) VALUES ",  # noqa: S608
                     f"\nON DUPLICATE KEY UPDATE\n    {_guarded(columns)}", len(names))


def _append(table: str, names: tuple[str, ...]) -> Statement:
    # A row already there (keyed by version) stays as it is. Not INSERT IGNORE: that makes
    # aiomysql warn on every re-delivered row, and turns errors such as truncation into
    # warnings.
    return Statement(f"INSERT INTO {table} ({', '.join(names)}) VALUES ",  # noqa: S608
                     "\nON DUPLICATE KEY UPDATE version = version", len(names))


MARKET_KEY = ("event_id", "market_id", "specifiers")
UPSERT_MARKETS = _upsert("markets", MARKET_KEY, (
    "name", "status", "producer", "margin", "certainty", "void_reason", "cancelled", "cancels",
    "outcomes", "updated_ts"))
UPSERT_EVENTS = _upsert("events", ("event_id",), (
    "status", "match_status", "home_score", "away_score", "clock", "start_time", "sport",
    "competition", "home", "away", "updated_ts"))
INSERT_SETTLEMENTS = _append("settlements", (
    *MARKET_KEY, "version", "type", "status", "certainty", "ts", "detail"))
HISTORY_COLUMNS = (*MARKET_KEY, "version", "producer", "ts", "changes", "status", "outcomes",
                   "updated_ts")
#: A version's row merges what each topic says of it, in either order; a re-delivered row
#: writes the same values again. ``ts`` is the feed ts of the changes when known; a row
#: without state has the feed ts as ``updated_ts`` until the snapshot's replaces it (assigned
#: before ``outcomes``: MySQL evaluates the assignments left to right).
INSERT_HISTORY = Statement(
    f"INSERT INTO market_history ({', '.join(HISTORY_COLUMNS)}) VALUES ",  # noqa: S608
    "\nON DUPLICATE KEY UPDATE\n"
    "    producer = COALESCE(VALUES(producer), producer),\n"
    "    ts = IF(VALUES(changes) IS NULL, ts, VALUES(ts)),\n"
    "    changes = COALESCE(VALUES(changes), changes),\n"
    "    status = COALESCE(VALUES(status), status),\n"
    "    updated_ts = IF(VALUES(outcomes) IS NULL AND outcomes IS NOT NULL, updated_ts,\n"
    "                    VALUES(updated_ts)),\n"
    "    outcomes = COALESCE(VALUES(outcomes), outcomes)", len(HISTORY_COLUMNS))

#: The outcome fields a market row keeps, the columns of the ``outcomes`` view; a field
#: that is null is left out.
OUTCOME_FIELDS = ("id", "name", "odds", "active", "probability", "result", "void_factor",
                  "dead_heat_factor")
#: The outcome fields a ``market_history`` row keeps: the prices.
HISTORY_OUTCOME_FIELDS = ("id", "odds", "active")


class SinkUnavailable(RuntimeError):
    """MySQL could not be reached or written; the batch must be retried."""


class SinkStopped(asyncio.CancelledError):
    """The worker is stopping and the batch was not written: it must not be committed.

    A cancellation: the task writing the batch ends as if its service had cancelled it (mode
    does not take it for a crash), and code that commits after the write never runs.
    """


def _never() -> bool:
    return False


#: How long a write already under way may finish once the worker stops.
STOP_GRACE_SECONDS = 5.0
#: How often a write or a backoff checks whether the worker stops.
STOP_POLL_SECONDS = 0.1


def latest(snapshots: Iterable[Snapshot], key: Callable[[Snapshot], Any]) -> list[Snapshot]:
    """Keep the highest version of each key, so a batch writes each row once."""
    found: dict[Any, Snapshot] = {}
    for snapshot in snapshots:
        held = found.get(key(snapshot))
        if held is None or snapshot["version"] > held["version"]:
            found[key(snapshot)] = snapshot
    return list(found.values())


def _market_key(s: Snapshot) -> tuple[str, str, str]:
    return (s["event_id"], s["market_id"], s["specifiers"])


def _cancels(snapshot: Snapshot) -> list[Snapshot]:
    """The market's cancels; a record published by an earlier release has one ``cancel``."""
    if "cancels" in snapshot:
        return list(snapshot["cancels"])
    return legacy_cancels(snapshot.get("cancel"), snapshot["updated_ts"])


def outcomes_json(snapshot: Snapshot) -> str:
    """The ``outcomes`` column of a market's row."""
    return orjson.dumps([{k: o[k] for k in OUTCOME_FIELDS if o.get(k) is not None}
                         for o in snapshot["outcomes"]]).decode()


def market_rows(snapshots: Sequence[Snapshot]) -> list[tuple[Any, ...]]:
    """Rows for ``UPSERT_MARKETS``: ``cancelled`` when a cancel has no window (its reason
    then), every cancel with its window in ``cancels``, the outcomes in ``outcomes``."""
    rows = []
    for s in snapshots:
        settlement = s.get("settlement") or {}
        cancels = _cancels(s)
        voided = next((c for c in cancels if is_open_ended(c)), None)
        void_reason = (voided or settlement).get("void_reason")
        rows.append((*_market_key(s), s.get("name"), s["status"], s["producer"], s["margin"],
                     settlement.get("certainty"), None if void_reason is None else str(
                         void_reason), int(voided is not None),
                     orjson.dumps(cancels).decode() if cancels else None,
                     outcomes_json(s), s["updated_ts"], s["version"]))
    return rows


def event_rows(events: Sequence[Snapshot]) -> list[tuple[Any, ...]]:
    """Rows for ``UPSERT_EVENTS`` from ``events.v1`` values."""
    return [
        (e["event_id"], e["status"], e["match_status"], e["score"]["home"], e["score"]["away"],
         e["clock"], e["start_time"], e["sport"], e["competition"], e["home"], e["away"],
         e["updated_ts"], e["version"])
        for e in events
    ]


def settlement_rows(records: Sequence[Snapshot]) -> list[tuple[Any, ...]]:
    """Rows for ``INSERT_SETTLEMENTS`` from ``settlements.v1`` values."""
    return [
        (*_market_key(r), r["version"], r["type"], r["status"],
         (r.get("settlement") or {}).get("certainty"), r["ts"], orjson.dumps(r).decode())
        for r in records
    ]


def history_outcomes_json(snapshot: Snapshot) -> str:
    """The ``outcomes`` column of a ``market_history`` row: each outcome's price."""
    return orjson.dumps([{k: o.get(k) for k in HISTORY_OUTCOME_FIELDS}
                         for o in snapshot["outcomes"]]).decode()


def history_rows(changes: Sequence[Snapshot], markets: Sequence[Snapshot] = ()
                 ) -> list[tuple[Any, ...]]:
    """Rows for ``INSERT_HISTORY``, one per market version: the ``changes`` of its
    ``odds-changes.v2`` value as published, and its state from ``markets.v1`` values (every
    one, not only each key's latest), merged when the batch has both."""
    found: dict[tuple[str, str, str, int], list[Any]] = {}
    for r in changes:
        key = (r["event_id"], r["market_id"], r["specifiers"], r["version"])
        found[key] = [*key, r["producer"], r["ts"], orjson.dumps(r["changes"]).decode(), None,
                      None, r["ts"]]
    for s in markets:
        key = (s["event_id"], s["market_id"], s["specifiers"], s["version"])
        row = found.get(key)
        if row is None:
            found[key] = [*key, s["producer"], s["updated_ts"], None, s["status"],
                          history_outcomes_json(s), s["updated_ts"]]
        elif row[8] is None:
            row[7:10] = s["status"], history_outcomes_json(s), s["updated_ts"]
    return [tuple(row) for row in found.values()]


@dataclass
class SinkBatch:
    """Decoded outbound records to write together, by kind."""

    markets: list[Snapshot] = field(default_factory=list)
    events: list[Snapshot] = field(default_factory=list)
    settlements: list[Snapshot] = field(default_factory=list)
    odds_changes: list[Snapshot] = field(default_factory=list)

    def __len__(self) -> int:
        return (len(self.markets) + len(self.events) + len(self.settlements)
                + len(self.odds_changes))


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
                    **self.config.connect_kwargs(),
                    minsize=1,
                    maxsize=4,
                    autocommit=False,
                    pool_recycle=3600,
                    # A server that does not answer at all fails the attempt instead of
                    # holding the sink (and readiness) for the kernel's TCP timeout.
                    connect_timeout=10,
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

    async def write(self, batch: SinkBatch) -> int:
        """Write one batch in one transaction; return the number of rows sent."""
        markets = latest(batch.markets, _market_key)
        tables: list[tuple[str, Statement, list[tuple[Any, ...]]]] = [
            ("markets", UPSERT_MARKETS, market_rows(markets)),
            ("events", UPSERT_EVENTS,
             event_rows(latest(batch.events, lambda e: e["event_id"]))),
            ("settlements", INSERT_SETTLEMENTS, settlement_rows(batch.settlements)),
            # Every version, before the per-key dedupe of ``markets``.
            ("market_history", INSERT_HISTORY,
             history_rows(batch.odds_changes, batch.markets)),
        ]
        tables = [t for t in tables if t[2]]
        if not tables:
            return 0
        started = time.perf_counter()
        pool = await self._connect()
        async with pool.acquire() as conn:
            try:
                async with conn.cursor() as cur:
                    for _table, statement, rows in tables:
                        for sql in statements(statement, rows, conn.escape_string,
                                              conn.encoding):
                            await cur.execute(sql)
                await conn.commit()
            except BaseException:
                await _rollback_quietly(conn)
                raise
        for table, _statement, rows in tables:
            metrics.SINK_ROWS.labels(table).inc(len(rows))
        metrics.SINK_BATCH_SECONDS.observe(time.perf_counter() - started)
        return sum(len(rows) for _t, _s, rows in tables)

    async def write_with_retry(self, batch: SinkBatch,
                               stopping: Callable[[], bool] = _never) -> int:
        """Write a batch, retrying with exponential backoff until it lands.

        ``stopping`` says whether the worker is shutting down. Then the backoff ends at once
        and a write under way gets ``STOP_GRACE_SECONDS`` to finish; if the batch has not
        landed by then, ``SinkStopped`` is raised: the caller must leave the batch
        uncommitted, so that it is read and written again after the restart. A batch is
        never dropped.
        """
        retry = Retry("MySQL write", log, first=0.2, cap=self.max_backoff, stopping=stopping,
                      poll=STOP_POLL_SECONDS)
        while True:
            try:
                rows = await _unless_stopping(self.write(batch), stopping, STOP_GRACE_SECONDS)
            except (aiomysql.Error, OSError) as exc:
                metrics.SINK_ERRORS.inc()
                await self._reset()
                # The error code only: the server's message can name the user and host.
                if not await retry.wait(f"{type(exc).__name__}: {exc.args[:1]}"):
                    raise SinkStopped("the worker is stopping; the batch was not written"
                                      ) from exc
                continue
            retry.succeeded()
            return rows

    async def _reset(self) -> None:
        async with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            await pool.wait_closed()

    async def close(self) -> None:
        """Close the pool."""
        await self._reset()


async def _unless_stopping(work: Awaitable[T], stopping: Callable[[], bool],
                           grace: float) -> T:
    """Await ``work``; once ``stopping()`` is true, give it ``grace`` seconds more, then
    cancel it and raise ``SinkStopped``."""
    task = asyncio.ensure_future(work)
    stop_at: float | None = None
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=STOP_POLL_SECONDS)
            if done:
                return task.result()
            now = time.monotonic()
            if stop_at is None and stopping():
                stop_at = now + grace
            if stop_at is not None and now >= stop_at:
                raise SinkStopped("the worker is stopping; the batch was not written")
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomysql.Error, OSError):
                await task


async def _rollback_quietly(conn: Any) -> None:
    try:
        await conn.rollback()
    except (aiomysql.Error, OSError):
        log.debug("rollback failed on a broken connection")
