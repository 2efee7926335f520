"""Every HTTP error in the platform's JSON shape, including aiohttp's own (404, 405, 500)."""

from __future__ import annotations

import logging
from typing import Any, cast

from aiohttp import web as aioweb
from aiohttp.web_protocol import RequestPayloadError
from faust.types import AppT

from app.error_shape import json_error

log = logging.getLogger(__name__)

def _json(status: int, message: str, headers: Any = None) -> aioweb.Response:
    response = json_error(status, message)
    if headers and "Allow" in headers:
        response.headers["Allow"] = headers["Allow"]
    return response


@aioweb.middleware
async def json_errors(request: aioweb.Request, handler: Any) -> aioweb.StreamResponse:
    """Turn aiohttp's plain-text errors and unexpected exceptions into JSON errors."""
    try:
        response: aioweb.StreamResponse = await handler(request)
        return response
    except aioweb.HTTPException as exc:
        if exc.status < 400:
            raise
        return _json(exc.status, exc.reason, exc.headers)
    except RequestPayloadError:  # the client's fault; app.web_server logs it once
        return _json(400, "malformed request body")
    except Exception:  # the client gets the stable shape; the log gets the traceback
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return _json(500, "internal error")


@aioweb.middleware
async def head_as_get(request: aioweb.Request, handler: Any) -> aioweb.StreamResponse:
    """Refuse ``HEAD`` where ``GET`` is refused, exactly as ``GET`` is."""
    # Faust routes HEAD to every view and a view's head() to its get(); aiohttp sends no
    # body for HEAD, so elsewhere HEAD answers what GET would, headers included.
    resource = request.match_info.route.resource
    if request.method == "HEAD" and resource is not None:
        allowed = {route.method for route in resource}
        if "GET" not in allowed:
            raise aioweb.HTTPMethodNotAllowed(request.method, allowed)
    response: aioweb.StreamResponse = await handler(request)
    return response


def install(faust_app: AppT) -> None:
    """Put the middlewares on the worker's web app."""
    # In this order: json_errors answers what head_as_get raises.
    cast(Any, faust_app.web).web_app.middlewares.extend([json_errors, head_as_get])
