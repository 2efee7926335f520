"""Route a request to the worker that owns a key, with JSON errors when that cannot be done."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, cast

import aiohttp
from aiohttp import web as aioweb
from faust.exceptions import SameNode
from faust.types import TableT
from faust.web import Request, Response, View

from app.faust_app import app

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Response]]


def error(web: Any, status: int, code: str, message: str) -> Response:
    """Return the platform's JSON error shape: ``{"error": {"code", "message"}}``."""
    response: Response = web.json({"error": {"code": code, "message": message}}, status=status)
    return response


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
                return await app.router.route_req(table.name, key, view.web,
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
