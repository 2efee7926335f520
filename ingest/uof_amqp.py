"""The UOF ingestor: Sportradar's AMQP feed into ``feed.raw.uof.v1``, acknowledged end to end.

Deliveries are forwarded to Kafka in the order they arrive, by one task, so a key's records
keep the feed's order. A delivery is acknowledged to the broker (``multiple``, up to the
highest tag whose records Kafka all holds) only after Kafka acknowledged its record. A
delivery that arrived before a connection dropped is still forwarded: the broker redelivers
nothing of an exclusive queue, and the platform drops the duplicates a recovery re-sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import time
from collections import deque
from dataclasses import dataclass, field

import aiormq
from aiormq.abc import AbstractChannel, DeliveredMessage
from yarl import URL

from app import metrics
from config.settings import UofFeedConfig
from ingest.ack_window import AckWindow
from ingest.backoff import Backoff
from ingest.raw_writer import RawTopicWriter
from ingest.service import IngestStatus, observe_lag
from ingest.uof_routing import UNKEYED, message_timestamp_ms, record_key

log = logging.getLogger(__name__)

PROVIDER = "uof"
HEARTBEAT_S = 10
CONNECT_TIMEOUT_S = 15.0
#: The errors that mean "this connection is gone": reconnect after a backoff.
CONNECTION_ERRORS = (aiormq.exceptions.AMQPError, OSError, asyncio.TimeoutError, ConnectionError)


def connection_url(config: UofFeedConfig) -> URL:
    """Return the AMQP URL aiormq connects to (the vhost escaped as one path segment)."""
    return URL.build(
        scheme="amqps" if config.tls else "amqp", user=config.username,
        password=config.password, host=config.host, port=config.port,
        path="/" + config.vhost.replace("/", "%2F"),
        query={"heartbeat": str(HEARTBEAT_S), "name": "odds-platform uof ingest"})


def tls_context(config: UofFeedConfig) -> ssl.SSLContext | None:
    """Return the TLS context for amqps (the system CAs, or ``UOF_AMQP_CAFILE``)."""
    if not config.tls:
        return None
    return ssl.create_default_context(cafile=str(config.cafile) if config.cafile else None)


@dataclass(slots=True)
class Session:
    """One channel's deliveries: acknowledged up to the window's watermark, in batches."""

    channel: AbstractChannel
    window: AckWindow = field(default_factory=AckWindow)
    flush_scheduled: bool = False

    def acked_by_kafka(self, tag: int) -> None:
        if self.window.complete(tag) and not self.flush_scheduled:
            # One acknowledgement per loop pass covers every record Kafka confirmed in it.
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_scheduled = False
        tag = self.window.to_acknowledge()
        if tag is None or self.channel.is_closed:
            return
        task = asyncio.ensure_future(self.channel.basic_ack(tag, multiple=True))
        task.add_done_callback(_ack_done)


def _close_reason(connection: aiormq.Connection) -> str:
    closing = connection.closing
    if closing.done() and not closing.cancelled() and closing.exception() is not None:
        return repr(closing.exception())
    return "the channel was closed"


def _ack_done(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        # The channel went away: its unacknowledged messages are in Kafka already.
        log.info("uof: acknowledgement not sent: %r", task.exception())


class UofIngestor:
    """Consumes the UOF exchange through a server-named exclusive queue; reconnects."""

    def __init__(self, config: UofFeedConfig, writer: RawTopicWriter,
                 backoff: Backoff | None = None) -> None:
        self.config = config
        self.writer = writer
        self.backoff = backoff or Backoff()
        self.status = IngestStatus(PROVIDER)
        self._received: deque[tuple[Session, int, str, bytes, float]] = deque()
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()
        self._messages = metrics.INGEST_MESSAGES.labels(PROVIDER)
        self._unkeyed = metrics.INGEST_UNKEYED.labels(PROVIDER)

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, consume and forward until ``stop`` is set; reconnect after failures."""
        forwarder = asyncio.create_task(self._forward(), name="uof-forward")
        try:
            while not stop.is_set():
                try:
                    await self._session(stop)
                except CONNECTION_ERRORS as exc:
                    problem = f"{type(exc).__name__}: {exc}"[:300]
                    self.status.set_connected(False, problem)
                    metrics.INGEST_RECONNECTS.labels(PROVIDER).inc()
                    delay = self.backoff.next_delay()
                    log.warning("uof: connection to %s lost or refused (%s); reconnecting in "
                                "%.1fs", self.config.redacted(), problem, delay)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
            await self._drain()
        finally:
            forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forwarder

    async def _session(self, stop: asyncio.Event) -> None:
        connection = await asyncio.wait_for(
            aiormq.connect(connection_url(self.config), context=tls_context(self.config)),
            CONNECT_TIMEOUT_S)
        try:
            channel = await connection.channel(publisher_confirms=False,
                                               frame_buffer_size=1024)
            await channel.basic_qos(prefetch_count=self.config.prefetch)
            declared = await channel.queue_declare("", exclusive=True, auto_delete=True)
            queue = declared.queue if declared is not None and declared.queue else ""
            for routing_key in self.config.routing_keys:
                await channel.queue_bind(queue, self.config.exchange, routing_key=routing_key)
            session = Session(channel)
            await channel.basic_consume(queue, lambda message: self._delivered(session, message))
            self.status.set_connected(True)
            self.backoff.reset()
            log.info("uof: consuming %s exchange %s, queue %s, routing keys %s",
                     self.config.redacted(), self.config.exchange, queue,
                     ",".join(self.config.routing_keys))
            stopped = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait([stopped, connection.closing, channel.closing],
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
            if not stop.is_set():
                raise ConnectionError(f"closed by the broker: {_close_reason(connection)}")
        finally:
            self.status.set_connected(False)
            if stop.is_set():
                await self._drain()
            with contextlib.suppress(*CONNECTION_ERRORS):
                await connection.close()

    async def _delivered(self, session: Session, message: DeliveredMessage) -> None:
        # Runs as its own task per delivery (aiormq's); it never waits, so order holds.
        self._received.append((session, message.delivery_tag or 0,
                               message.routing_key or "", message.body, time.time()))
        self._idle.clear()
        self._arrived.set()

    async def _forward(self) -> None:
        received, writer = self._received, self.writer
        while True:
            if not received:
                self._idle.set()
                self._arrived.clear()
                await self._arrived.wait()
                continue
            self._idle.clear()
            session, tag, routing_key, body, at = received.popleft()
            self._messages.inc()
            self.status.messages += 1
            self.status.last_message = time.monotonic()
            key = record_key(routing_key, body)
            if key == UNKEYED:
                self._unkeyed.inc()
            observe_lag(PROVIDER, message_timestamp_ms(body), at)
            headers = (("routing_key", routing_key.encode()),
                       ("received_ms", str(int(at * 1000)).encode()))
            await writer.send(key, body, headers, functools.partial(session.acked_by_kafka, tag))

    async def _drain(self) -> None:
        """Forward what has arrived and wait for Kafka to hold it (and its acks to go out)."""
        if self._received:
            await self._idle.wait()
        await self.writer.flush()
        await asyncio.sleep(0)
