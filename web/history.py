"""Price history: ``GET /events/{id}/markets/{market_id}/history`` and ``.../history/at``.

Read from MySQL's ``market_history`` (one row per market version, written by the sink), so
any worker answers: no routing to the event's owner. Queries go through a small aiomysql
pool opened on first use and closed with the web server, each bounded by
``QUERY_TIMEOUT``; MySQL down or slow is a 503 ``mysql_unavailable``. GraphQL's
``Market.history`` reads through ``read_history`` too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import aiomysql
import orjson
from aiohttp import web as aioweb
from faust.types import AppT
from faust.web import Blueprint, Request, Response, View

from app.error_shape import error
from app.faust_app import settings
from config import MySQLConfig
from web import params
from web.bodies import json_answer
from web.history_shape import (
    HistoryQuery,
    Row,
    at_query,
    base_state,
    history_query,
    needs_base,
    row,
    versions,
)

log = logging.getLogger(__name__)

#: Seconds a query may take, connecting included, before the request is answered 503.
QUERY_TIMEOUT = 2.0
POOL_MIN = 1
POOL_MAX = 4

_SELECT = ("SELECT version, producer, ts, changes, status, outcomes, updated_ts"
           " FROM market_history WHERE event_id = %s AND market_id = %s AND specifiers = %s")
#: The window, in time order (the index on the key and ``updated_ts``); one row more than
#: asked tells whether there is a next page.
WINDOW_SQL = (_SELECT + " AND updated_ts BETWEEN %s AND %s AND version > %s"
              " ORDER BY updated_ts, version LIMIT %s")
#: The version in force at an instant: the last one updated at or before it.
AT_SQL = _SELECT + " AND updated_ts <= %s ORDER BY updated_ts DESC, version DESC LIMIT 1"
#: The last version before a version that has a state, then the rows from it (from the first
#: row if none has one) up to that version, newest first, to fold a version without; at most
#: ``FOLD_ROWS``, the newest (cut short of a state or the first publication, they fold to
#: nothing: no state is shown). Two queries: with the first's answer a constant, the second
#: is a range of the primary key.
FOLD_ROWS = 5000
LAST_STATE_SQL = ("SELECT version FROM market_history WHERE event_id = %s AND market_id = %s"
                  " AND specifiers = %s AND version < %s AND outcomes IS NOT NULL"
                  " ORDER BY version DESC LIMIT 1")
BEFORE_SQL = (_SELECT + " AND version >= %s AND version < %s ORDER BY version DESC LIMIT "
              + str(FOLD_ROWS))
EXISTS_SQL = ("SELECT 1 FROM market_history"
              " WHERE event_id = %s AND market_id = %s AND specifiers = %s LIMIT 1")

Key = tuple[str, str, str]


class HistoryUnavailable(RuntimeError):
    """MySQL could not be reached or did not answer in time."""


class HistoryReader:
    """Reads ``market_history`` through a lazily opened pool."""

    def __init__(self, config: MySQLConfig, timeout: float = QUERY_TIMEOUT) -> None:
        self.config = config
        self.timeout = timeout
        self._pool: Any = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> Any:
        async with self._lock:
            if self._pool is None:
                self._pool = await aiomysql.create_pool(
                    **self.config.connect_kwargs(), minsize=POOL_MIN, maxsize=POOL_MAX,
                    autocommit=True, pool_recycle=3600,
                    connect_timeout=max(1, round(self.timeout)))
            return self._pool

    async def query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run one read; ``HistoryUnavailable`` if MySQL fails or is late (both attempts
        within ``timeout``). A connection that failed is dropped and the read tried once more
        on another (a pooled connection can be stale after MySQL restarted)."""
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    return await self._query(sql, args)
                except (aiomysql.Error, OSError) as exc:
                    log.debug("history read failed (%r); retrying once", exc)
                return await self._query(sql, args)
        except (aiomysql.Error, OSError) as exc:
            raise HistoryUnavailable(f"MySQL failed ({type(exc).__name__})") from None
        except TimeoutError:
            raise HistoryUnavailable(f"MySQL did not answer within {self.timeout} s") from None

    async def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        pool = await self._connected()
        conn = await pool.acquire()
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql, args)
                return list(await cur.fetchall())
        except BaseException:
            conn.close()  # mid-query or broken: never handed out again
            raise
        finally:
            pool.release(conn)

    async def close(self) -> None:
        async with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            await pool.wait_closed()

    async def _rows(self, sql: str, args: tuple[Any, ...]) -> list[Row]:
        return [row(values) for values in await self.query(sql, args)]

    async def _versions(self, key: Key, rows: list[Row], raw: bool) -> list[dict[str, Any]]:
        base = None
        if needs_base(rows):
            first = rows[0].version
            last = await self.query(LAST_STATE_SQL, (*key, first))
            before = await self._rows(BEFORE_SQL, (*key, last[0][0] if last else 0, first))
            base = base_state(before[::-1])
        return versions(rows, base, raw)

    async def window(self, key: Key, query: HistoryQuery, raw: bool = False
                     ) -> dict[str, Any] | None:
        """The versions of ``query``'s window and the next page; None if the market has no
        history at all. ``raw``: JSON columns as ``orjson.Fragment`` (for a body)."""
        rows = await self._rows(WINDOW_SQL, (*key, query.start, query.end, query.after,
                                             query.limit + 1))
        if not rows and not await self.query(EXISTS_SQL, key):
            return None
        more = len(rows) > query.limit
        rows = rows[:query.limit]
        found = await self._versions(key, rows, raw)
        return {"event_id": key[0], "market_id": key[1], "specifiers": key[2],
                "versions": found,
                "next_from": rows[-1].updated_ts if more else None,
                "next_after": rows[-1].version if more else None}

    async def at(self, key: Key, ts: int, raw: bool = False) -> dict[str, Any] | None:
        """The version in force at ``ts``; None if the market had no version yet."""
        rows = await self._rows(AT_SQL, (*key, ts))
        if not rows:
            return None
        (found,) = await self._versions(key, rows, raw)
        return {"event_id": key[0], "market_id": key[1], "specifiers": key[2], **found}


READER = HistoryReader(settings.mysql)


async def read_history(key: Key, query: HistoryQuery, raw: bool = False
                       ) -> dict[str, Any] | None:
    """``GET .../history`` (``raw``) and GraphQL's ``Market.history``."""
    return await READER.window(key, query, raw)


def _path_key(request: Request, specifiers: str) -> Key:
    return (params.event_id(request.match_info["event_id"]),
            params.market_id(request.match_info["market_id"]), specifiers)


def _body(found: dict[str, Any]) -> Response:
    return json_answer(orjson.dumps(found))


def _unavailable(view: View, exc: HistoryUnavailable) -> Response:
    return error(view, 503, "mysql_unavailable", f"the price history cannot be read: {exc}")


def _no_history(view: View, key: Key) -> Response:
    return error(view, 404, "not_found", f"no history for market {key[1]!r} with specifiers "
                                         f"{key[2]!r} of event {key[0]!r}")


blueprint = Blueprint("history")


@blueprint.route("/events/{event_id}/markets/{market_id}/history")
class HistoryView(View):
    """Every version of a market in a window of ``updated_ts`` (``from``, ``to``, ms)."""

    async def get(self, request: Request, **kwargs: Any) -> Response:
        """Return the versions, a 400 for malformed input, a 404 if the market has no
        history, or a 503 if MySQL cannot answer."""
        try:
            query = history_query(request.query.items())
            key = _path_key(request, query.specifiers)
        except params.BadRequest as exc:
            return error(self, 400, "bad_request", str(exc))
        try:
            found = await read_history(key, query, raw=True)
        except HistoryUnavailable as exc:
            return _unavailable(self, exc)
        return _no_history(self, key) if found is None else _body(found)


@blueprint.route("/events/{event_id}/markets/{market_id}/history/at")
class HistoryAtView(View):
    """The version of a market in force at ``ts`` (ms)."""

    async def get(self, request: Request, **kwargs: Any) -> Response:
        """Return the version, a 400 for malformed input, a 404 if the market had no version
        at ``ts``, or a 503 if MySQL cannot answer."""
        try:
            specifiers, ts = at_query(request.query.items())
            key = _path_key(request, specifiers)
        except params.BadRequest as exc:
            return error(self, 400, "bad_request", str(exc))
        try:
            found = await READER.at(key, ts, raw=True)
        except HistoryUnavailable as exc:
            return _unavailable(self, exc)
        if found is None:
            return error(self, 404, "not_found", f"market {key[1]!r} with specifiers "
                                                 f"{key[2]!r} of event {key[0]!r} had no "
                                                 f"version at {ts}")
        return _body(found)


async def _close_pool(_app: aioweb.Application) -> None:
    await READER.close()


def install(faust_app: AppT) -> None:
    """Close the MySQL pool when the web server shuts down."""
    cast(Any, faust_app.web).web_app.on_shutdown.append(_close_pool)
