"""Reach the worker that owns an event: read its state there, or route a request to it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import wraps
from typing import Any, TypeVar, cast

import aiohttp
from aiohttp import web as aioweb
from faust.exceptions import SameNode
from faust.types import TableT
from faust.web import Request, Response, View
from yarl import URL

from app.error_shape import error
from app.faust_app import app
from tables import state

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Response]]
Owned = TypeVar("Owned")

OWNER_TIMEOUT = aiohttp.ClientTimeout(total=5)


class OwnerUnavailable(RuntimeError):
    """The worker that owns the event is not known yet or did not answer."""


def owner_url(event_id: str) -> URL | None:
    """Return the owner's base URL, or None when this worker owns the event."""
    try:
        dest = app.router.key_store(state.events.name, event_id)
    except (KeyError, TypeError, LookupError) as exc:
        raise OwnerUnavailable("partition owner unknown; retry shortly") from exc
    canonical = URL(str(app.conf.canonical_url))
    if (dest.host, dest.port) == (canonical.host, canonical.port):
        return None
    return dest


async def owned_json(event_id: str, path: str, query: Mapping[str, str],
                     local: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    """Return ``local()`` on the owner, else GET ``path`` from it; None means not found."""
    base = owner_url(event_id)
    if base is None:
        return local()
    return await _ask(base.with_path(path, encoded=False).with_query(query), None)


async def owned_post(event_id: str, path: str, body: dict[str, Any],
                     read: Callable[[dict[str, Any]], Owned],
                     local: Callable[[], Owned]) -> Owned:
    """Return ``local()`` on the owner, else the owner's answer to POST ``body`` to ``path``,
    read by ``read``."""
    base = owner_url(event_id)
    if base is None:
        return local()
    answer = await _ask(base.with_path(path, encoded=False), body)
    if answer is None:
        raise OwnerUnavailable("the owning worker does not know the route")
    return read(answer)


async def _ask(url: URL, body: dict[str, Any] | None) -> dict[str, Any] | None:
    method = "GET" if body is None else "POST"
    try:
        async with app.http_client.request(method, url, json=body,
                                           timeout=OWNER_TIMEOUT) as response:
            if response.status == 404:
                return None
            if response.status != 200:
                raise OwnerUnavailable(f"the owning worker answered HTTP {response.status}")
            answer: dict[str, Any] = await response.json()
            return answer
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise OwnerUnavailable(f"the owning worker did not answer ({type(exc).__name__})") \
            from exc


def routed(table: TableT[Any, Any], match_info: str) -> Callable[[Handler], Handler]:
    """Like Faust's ``table_route``, but a worker that cannot route yet answers 503 JSON."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def route(view: View, request: Request, **kwargs: Any) -> Response:
            key = request.match_info[match_info]
            # The owner is asked with GET: its answer to HEAD has no body to measure.
            forwarded = (cast(aioweb.Request, request).clone(method="GET")
                         if request.method == "HEAD" else request)
            try:
                return await view.app.router.route_req(table.name, key, view.web,
                                                  cast(Request, forwarded))
            except SameNode:
                return await handler(view, request, **kwargs)
            except (KeyError, TypeError, LookupError) as exc:
                # No assignment or metadata yet (starting, rebalancing).
                log.debug("cannot route %s yet: %r", key, exc)
                return error(view, 503, "not_ready", "partition owner unknown; retry shortly")
            except aiohttp.ClientError as exc:
                return error(view, 502, "owner_unreachable",
                             f"the worker owning this key did not answer ({type(exc).__name__})")

        return route

    return decorate
