"""The UOF ingestor: Sportradar's AMQP feed into ``feed.raw.uof.v1``, acknowledged end to end.

Deliveries are handed to the Kafka writer in the order they arrive, from the AMQP consumer's
callback (``ingest/amqp_consumer.py``), so a key's records keep the feed's order. A delivery
is acknowledged to the broker (``multiple``, up to the highest tag whose records Kafka all
holds) only after Kafka acknowledged its record. A delivery that arrived before a connection
dropped is still forwarded: the broker redelivers nothing of an exclusive queue, and the
platform drops the duplicates a recovery re-sends.

What Sportradar sent while no queue was bound is lost to this subscription, as the SDKs'
"connection down" says. So each time a queue is bound again, every producer the ingestor knows
(``UOF_PRODUCERS`` and those whose messages it has seen) gets an ``alive`` with
``subscribed="0"`` on the raw topic, Sportradar's own word for "this subscription lost
messages": the workers suspend the producer's markets and ask for a recovery since its last
alive, which the new queue then receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from app import metrics
from config.settings import UofFeedConfig
from ingest import amqp_consumer
from ingest.ack_window import AckWindow
from ingest.amqp_consumer import AmqpConsumer, AmqpParams
from ingest.backoff import Backoff
from ingest.raw_writer import RawTopicWriter
from ingest.service import IngestStatus, LagBatch, sleep_unless_stopped
from ingest.uof_routing import UNKEYED, event_key, message_timestamp_ms, record_key

log = logging.getLogger(__name__)

PROVIDER = "uof"
CONNECT_TIMEOUT_S = 15.0
SYSTEM_ALIVE = b"-.-.-.alive.-.-.-.-"
#: The ``origin`` header of a message the ingestor wrote itself, not Sportradar.
ORIGIN_RECONNECTED = b"ingest:subscribed-again"


def _nothing() -> None:
    """Kafka took a message of the ingestor's own: no delivery to acknowledge."""
#: The errors that mean "this connection is gone": reconnect after a backoff.
CONNECTION_ERRORS = (OSError, asyncio.TimeoutError, ConnectionError)


def amqp_params(config: UofFeedConfig) -> AmqpParams:
    """Return where and as whom the consumer connects (amqps: with the TLS context)."""
    return AmqpParams(host=config.host, port=config.port, vhost=config.vhost,
                      username=config.username, password=config.password,
                      ssl=tls_context(config), heartbeat=config.heartbeat,
                      name="odds-platform uof ingest")


def tls_context(config: UofFeedConfig) -> ssl.SSLContext | None:
    """Return the TLS context for amqps (the system CAs, or ``UOF_AMQP_CAFILE``)."""
    if not config.tls:
        return None
    return ssl.create_default_context(cafile=str(config.cafile) if config.cafile else None)


@dataclass(slots=True)
class Session:
    """One connection's deliveries: acknowledged up to the window's watermark, in batches."""

    consumer: AmqpConsumer | None = None
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
        # A connection that went away has given its unacknowledged deliveries back to the
        # broker, which drops them with the exclusive queue: they are in Kafka already.
        if tag is not None and self.consumer is not None:
            self.consumer.basic_ack(tag, multiple=True)


class UofIngestor:
    """Consumes the UOF exchange through a server-named exclusive queue; reconnects.

    Each delivery goes to the writer from the consumer's callback, in the order the broker
    sent them, with nothing in between: no task, no queue."""

    def __init__(self, config: UofFeedConfig, writer: RawTopicWriter,
                 backoff: Backoff | None = None) -> None:
        self.config = config
        self.writer = writer
        self.backoff = backoff or Backoff()
        self.status = IngestStatus(PROVIDER)
        self._messages = metrics.INGEST_MESSAGES.labels(PROVIDER)
        self._unkeyed = metrics.INGEST_UNKEYED.labels(PROVIDER)
        self._lag = LagBatch(PROVIDER)
        self._room: asyncio.Task[None] | None = None
        self._uncounted = 0
        self._received_ms = 0
        self._received_ms_header = b""
        #: Producer ids (``producer:{id}`` keys) known to this ingestor.
        self.producers: set[bytes] = {b"producer:%d" % p for p in config.producers}
        self._bound_before = False

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, consume and forward until ``stop`` is set; reconnect after failures."""
        try:
            while not stop.is_set():
                try:
                    await self._session(stop)
                except CONNECTION_ERRORS as exc:
                    problem = self.status.connection_lost(exc)
                    delay = self.backoff.next_delay()
                    log.warning("uof: connection to %s lost or refused (%s); reconnecting in "
                                "%.1fs", self.config.redacted(), problem, delay)
                    await sleep_unless_stopped(stop, delay)
            await self._drain()
        finally:
            if self._room is not None:
                self._room.cancel()

    async def _session(self, stop: asyncio.Event) -> None:
        session = Session()
        try:
            consumer = await asyncio.wait_for(
                amqp_consumer.connect(amqp_params(self.config),
                                      functools.partial(self._delivered, session)),
                CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise ConnectionError(f"no AMQP connection within {CONNECT_TIMEOUT_S:.0f}s") \
                from None
        session.consumer = consumer
        try:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    queue = await consumer.start_consuming(
                        self.config.exchange, self.config.routing_keys, self.config.prefetch)
            except TimeoutError:
                raise ConnectionError(f"no consumer set up within {CONNECT_TIMEOUT_S:.0f}s") \
                    from None
            self.status.set_connected(True)
            self.backoff.reset()
            if self._bound_before or self.config.producers:
                self._subscription_lost()
            self._bound_before = True
            log.info("uof: consuming %s exchange %s, queue %s, routing keys %s (heartbeat "
                     "%ds, frame_max %d)", self.config.redacted(), self.config.exchange, queue,
                     ",".join(self.config.routing_keys), consumer.heartbeat, consumer.frame_max)
            stopped = asyncio.ensure_future(stop.wait())
            try:
                ends: list[asyncio.Future[Any]] = [stopped, consumer.closed]
                await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
            if not stop.is_set():
                raise consumer.closed.exception() or ConnectionError("the connection closed")
        finally:
            self.status.set_connected(False)
            if stop.is_set():
                # No more deliveries; what came before the broker's CancelOk is forwarded.
                with contextlib.suppress(*CONNECTION_ERRORS):
                    async with asyncio.timeout(amqp_consumer.CLOSE_TIMEOUT_S):
                        await consumer.cancel()
                await self._drain()
            await consumer.close()

    def _delivered(self, session: Session, tag: int, routing_key: str, body: bytes) -> None:
        # The consumer's callback, straight from the bytes read: it must not block.
        at = time.time()
        key = event_key(routing_key)
        if key is None:
            key = record_key(routing_key, body)
            if key == UNKEYED:
                self._unkeyed.inc()
            else:
                self.producers.add(key)
        provider_ts = message_timestamp_ms(body)
        if provider_ts is not None:
            self._lag.add(provider_ts, at)
        received_ms = int(at * 1000)
        if received_ms != self._received_ms:
            self._received_ms = received_ms
            self._received_ms_header = str(received_ms).encode()
        # Counted (and the lags observed) once per loop pass for every delivery in it.
        self._uncounted += 1
        if self._uncounted == 1:
            asyncio.get_running_loop().call_soon(self._count)
        headers = [("routing_key", routing_key.encode()),
                   ("received_ms", self._received_ms_header)]
        if self.writer.add(key, body, headers, functools.partial(session.acked_by_kafka, tag)):
            self._pause(session)

    def _subscription_lost(self) -> None:
        """Say, for every known producer, that messages may have been lost (see the module)."""
        now_ms = int(time.time() * 1000)
        headers = [("routing_key", SYSTEM_ALIVE), ("received_ms", str(now_ms).encode()),
                   ("origin", ORIGIN_RECONNECTED)]
        for key in sorted(self.producers):
            product = key.removeprefix(b"producer:")
            body = b'<alive product="%s" timestamp="%d" subscribed="0"/>' % (product, now_ms)
            self.writer.add(key, body, headers, _nothing)
        if self.producers:
            log.warning("uof: subscribed again; producers %s told unsubscribed so that the "
                        "platform recovers what was sent while no queue was bound",
                        b",".join(sorted(self.producers)).decode())

    def _count(self) -> None:
        count, self._uncounted = self._uncounted, 0
        self._messages.inc(count)
        self._lag.flush()
        self.status.messages += count
        self.status.last_message = time.monotonic()

    def _pause(self, session: Session) -> None:
        """The writer is full: read nothing more from the broker until it has room."""
        consumer = session.consumer
        if consumer is None or consumer.paused:
            return
        consumer.pause()
        log.info("uof: Kafka is behind; reading from the broker paused")

        async def resume() -> None:
            await self.writer.wait_for_room()
            consumer.resume()

        if self._room is not None:
            self._room.cancel()  # a paused connection before this one is gone
        self._room = asyncio.get_running_loop().create_task(resume())

    async def _drain(self) -> None:
        """Wait for Kafka to hold every record handed over (and their acks to go out)."""
        await self.writer.flush()
        await asyncio.sleep(0)
