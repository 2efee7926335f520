"""``GET /stream``: Server-Sent Events of market changes (one ``changes`` event per
``odds-changes.v2`` record: a market version's price and status changes) and event changes.

Each frame's ``id`` is a cursor of Kafka offsets (``web.changes``): a client that reconnects
with ``Last-Event-ID`` (or ``?last_event_id=``), to this worker or any other, gets every
change it has not seen that is still buffered, none twice. When the buffer no longer holds
what it missed, it gets ``event: reset`` and should refetch ``/events``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp import web as aioweb
from faust.web import Request, Response, View

from app import metrics
from app.faust_app import app
from web import params
from web.changes import Change, Subscription, decode_cursor
from web.replica import REPLICA
from web.routing import error

KEEPALIVE_SECONDS = 15.0
RETRY_MS = 1000

Write = Callable[[bytes], Awaitable[None]]


def frame(kind: str, stream_id: str, data: bytes) -> bytes:
    """Encode one SSE event (``data`` is one line of JSON)."""
    return b"event: %s\nid: %s\ndata: %s\n\n" % (kind.encode(), stream_id.encode(), data)


def reset_frame(subscription: Subscription, reason: str) -> bytes:
    """Tell the client to refetch state; its position jumps to the newest change."""
    subscription.reset()
    metrics.STREAM_RESETS.inc()
    return frame("reset", subscription.stream_id, b'{"reason": "%s"}' % reason.encode())


def frames(delivered: list[tuple[Change, str]]) -> bytes:
    """Encode the changes a subscription let through."""
    return b"".join(frame(change.kind, stream_id, change.data) for change, stream_id in delivered)


async def serve(subscription: Subscription, last_id: tuple[int, ...] | None, write: Write,
                keepalive: float = KEEPALIVE_SECONDS) -> None:
    """Write the stream until the buffer closes or the client goes away."""
    buffer = subscription.buffer
    opening = b"retry: %d\n: connected\n\n" % RETRY_MS
    if last_id is None:
        opening += b"id: %s\n\n" % subscription.stream_id.encode()
    else:
        resumed = subscription.resume(last_id)
        opening += (reset_frame(subscription, "position no longer buffered") if resumed is None
                    else frames(resumed) + b"id: %s\n\n" % subscription.stream_id.encode())
    await write(opening)
    sent_id = subscription.stream_id
    while not buffer.closed:
        waiter = buffer.waiter()
        pending = subscription.pending()
        if pending is None:
            await write(reset_frame(subscription, "client fell behind the buffer"))
        elif pending:
            await write(frames(pending))
            sent_id = pending[-1][1]
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), keepalive)
                continue
            # Idle: keep the connection open, and move the client's resume point past
            # changes its filter skipped (an id with no data sets it without an event).
            ping = b": keepalive\n"
            if subscription.stream_id != sent_id:
                sent_id = subscription.stream_id
                ping += b"id: %s\n" % sent_id.encode()
            await write(ping + b"\n")


@app.page("/stream")
class StreamView(View):
    """Live changes as Server-Sent Events, optionally for one event (``?event_id=``)."""

    async def get(self, request: Request, **kwargs: Any) -> Response:
        try:
            event_id = request.query.get("event_id")
            if event_id is not None:
                params.event_id(event_id)
            raw_id = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
            last_id = decode_cursor(raw_id) if raw_id else None
        except params.BadRequest as exc:
            return error(self, 400, "bad_request", str(exc))
        if not REPLICA.changes.started or REPLICA.changes.closed:
            return error(self, 503, "not_ready", "the change stream is starting; retry shortly")
        response = aioweb.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no"})
        native = cast(aioweb.Request, request)
        await response.prepare(native)
        metrics.STREAM_CLIENTS.inc()
        try:
            await serve(Subscription(REPLICA.changes, event_id), last_id, response.write)
        except ConnectionError:
            pass  # the client went away (aiohttp raises ClientConnectionResetError)
        finally:
            metrics.STREAM_CLIENTS.dec()
        return cast(Response, response)


async def _close_streams(_app: aioweb.Application) -> None:
    REPLICA.changes.close()


# Open streams would hold the worker's shutdown for aiohttp's 60 s handler timeout.
cast(Any, app.web).web_app.on_shutdown.append(_close_streams)
