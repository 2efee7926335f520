"""Request bodies read with a bound (never more than the limit is held, chunked or not), and
JSON answers."""

from __future__ import annotations

from typing import cast

from aiohttp import web as aioweb
from faust.web import Request, Response

from app.error_shape import json_error


def json_answer(encoded: bytes, status: int = 200) -> Response:
    """Return ``encoded`` JSON as the answer, with its content type."""
    return cast(Response, aioweb.Response(body=encoded, status=status,
                                          content_type="application/json", charset="utf-8"))


class TooLarge(ValueError):
    """The body is larger than the limit (announced by ``Content-Length`` or read so far)."""


async def read_bounded(request: Request, limit: int) -> bytes:
    """Return the body; raise ``TooLarge`` on a ``Content-Length`` over ``limit`` before
    reading anything, or once a body without one (chunked) passes ``limit``."""
    raw = cast(aioweb.BaseRequest, request)
    announced = raw.content_length
    if announced is not None and announced > limit:
        raise TooLarge(f"body of {announced} bytes is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await raw.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body is larger than {limit} bytes")
        chunks.append(chunk)


def too_large(message: str) -> Response:
    """Return a 413 in the platform's JSON error shape; the connection is not reused."""
    # aiohttp drains and drops the unread rest of the body (its lingering close, at most
    # 10 s) without buffering it.
    response = json_error(413, message)
    response.force_close()
    return cast(Response, response)
