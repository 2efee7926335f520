"""``GET /stream``: Server-Sent Events of market changes (one ``changes`` event per
``odds-changes.v2`` record: a market version's price and status changes) and event changes.

Each frame's ``id`` is a cursor of Kafka offsets (``web.changes``): a client that reconnects
with ``Last-Event-ID`` (or ``?last_event_id=``), to this worker or any other, gets every
change it has not seen that is still buffered, none twice. When the buffer no longer holds
what it missed, or its id points past the end of the topics (no stream sent it), it gets
``event: reset`` and should refetch ``/events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from aiohttp import web as aioweb
from aiokafka.errors import KafkaError
from faust.exceptions import ConsumerNotStarted
from faust.types import TP, AppT
from faust.web import Blueprint, Request, Response, View

from app import metrics
from app.error_shape import error
from app.faust_app import app
from web import params
from web.changes import Change, Subscription, decode_cursor
from web.replica import REPLICA

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
RETRY_MS = 1000
#: How long a client whose id is ahead of this worker waits for Kafka's end offsets.
END_OFFSETS_TIMEOUT = 5.0

Write = Callable[[bytes], Awaitable[None]]
PastEnd = Callable[[Sequence[int]], Awaitable[bool]]


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


async def past_the_end(positions: Sequence[int]) -> bool:
    """Return whether a cursor is past the read-committed end of a followed partition."""
    slots = [TP(topic, partition) for topic, partition in REPLICA.positions()]  # slot order
    try:
        ends = await asyncio.wait_for(app.consumer.highwaters(*slots), END_OFFSETS_TIMEOUT)
    except (KafkaError, ConsumerNotStarted, OSError, TimeoutError) as exc:
        log.info("stream id not checked against the topics' end (%r): reset", exc)
        return True
    return any(p > ends.get(tp, -1) for p, tp in zip(positions, slots, strict=True))


async def opening(subscription: Subscription, last_id: tuple[int, ...] | None,
                  past_end: PastEnd) -> bytes:
    """Return the first events of a stream: its id, or what the client missed since."""
    fresh = b"id: %s\n\n"
    if last_id is None:
        return fresh % subscription.stream_id.encode()
    # Ahead of this worker is normal (another worker read further, or its id is an end
    # offset past a commit marker); past Kafka's end, no stream sent that id.
    if subscription.buffer.ahead(last_id) and await past_end(last_id):
        return reset_frame(subscription, "position past the end of the stream")
    resumed = subscription.resume(last_id)
    if resumed is None:
        return reset_frame(subscription, "position no longer buffered")
    return frames(resumed) + fresh % subscription.stream_id.encode()


async def serve(subscription: Subscription, last_id: tuple[int, ...] | None, write: Write,
                keepalive: float = KEEPALIVE_SECONDS, past_end: PastEnd = past_the_end) -> None:
    """Write the stream until the buffer closes or the client goes away."""
    buffer = subscription.buffer
    await write(b"retry: %d\n: connected\n\n" % RETRY_MS
                + await opening(subscription, last_id, past_end))
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


blueprint = Blueprint("stream")


@blueprint.route("/stream")
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
        if request.method == "HEAD":
            return cast(Response, response)  # the stream's headers; a HEAD has no body
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


def install(faust_app: AppT) -> None:
    """End open streams when the web server shuts down."""
    # Open streams would hold the worker's shutdown for aiohttp's handler timeout (60 s).
    cast(Any, faust_app.web).web_app.on_shutdown.append(_close_streams)
