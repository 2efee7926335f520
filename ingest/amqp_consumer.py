"""A lean AMQP 0-9-1 consumer on asyncio: one connection, one channel, one consumer.

Written for the UOF ingestor, which must take well over 10,000 deliveries a second on a
small machine. A general client (aiormq) spends most of its CPU per delivery on a task, a
future store and frames passed between tasks through queues; here the hot frames (Basic.Deliver,
its content header and body frames, heartbeats) are parsed by hand, straight from the bytes
``data_received`` gets, and each complete delivery goes to a synchronous callback
``on_delivery(delivery_tag, routing_key, body)`` in the order the broker sent them. Nothing
per delivery is scheduled on the loop; ``basic_ack`` writes its frame at once.

The rare frames (the handshake, the setup replies, Connection.Close, Channel.Close,
Basic.Cancel, Connection.Blocked) are decoded and encoded with pamqp.

What ends a connection is the ``closed`` future's exception, always an ``AmqpError`` (a
``ConnectionError``): the broker's Connection.Close or Channel.Close (reply code and text),
its Basic.Cancel of the consumer (the queue was deleted), a frame that breaks the protocol,
no bytes from the broker for two heartbeat intervals, or the transport's loss. A ``close()``
of ours ends it with the result None.

Flow control: ``pause()`` stops reading the socket, ``resume()`` reads again. The broker
already sends at most ``prefetch`` unacknowledged deliveries, and the caller acknowledges
only what its sink took, so a slow sink stops the feed by itself; ``pause`` is for a sink
whose own bound is lower than the prefetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import platform
import ssl
import struct
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar, cast

from pamqp import commands, exceptions, frame, header
from pamqp.base import Frame
from pamqp.common import FieldTable

log = logging.getLogger(__name__)

OnDelivery = Callable[[int, str, bytes], None]
M = TypeVar("M", bound=Frame)

FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
FRAME_END = 0xCE
#: The one channel this client opens.
CHANNEL = 1
#: The largest frame the client asks for (RabbitMQ's default); the broker may lower it.
FRAME_MAX = 131_072
#: The smallest frame_max the protocol allows.
FRAME_MIN = 4096
HEARTBEAT_S = 10
CLOSE_TIMEOUT_S = 5.0

_FRAME = struct.Struct(">BHI")  # type, channel, payload size
_U64 = struct.Struct(">Q")
# A Basic.Ack method frame whole: type, channel, size 13, class 60, method 80, tag, multiple,
# frame end.
_ACK = struct.Struct(">BHIHHQBB")
_BASIC_DELIVER = b"\x00\x3c\x00\x3c"  # class 60 (basic), method 60 (deliver)
PROTOCOL_HEADER = header.ProtocolHeader().marshal()  # AMQP 0-9-1
HEARTBEAT_FRAME = _FRAME.pack(FRAME_HEARTBEAT, 0, 0) + bytes([FRAME_END])

# Where the parser is in a delivery: its method frame next, its content header, its body.
_METHOD, _HEADER, _BODY = 0, 1, 2


class AmqpError(ConnectionError):
    """The AMQP connection is over or unusable; the message says why."""


class ProtocolError(AmqpError):
    """The broker sent bytes that break AMQP 0-9-1 (or the client's expectations)."""


class BrokerClosed(AmqpError):
    """The broker closed the connection or the channel, with a reply code and text."""

    def __init__(self, scope: str, reply_code: int, reply_text: str, class_id: int = 0,
                 method_id: int = 0) -> None:
        self.scope = scope
        self.reply_code = reply_code
        self.reply_text = reply_text
        method: type[Frame] | None = commands.INDEX_MAPPING.get((class_id << 16) | method_id)
        culprit = f" (in reply to {method.name})" if method is not None else ""
        super().__init__(f"the broker closed the {scope}: {reply_code} {reply_text}{culprit}")


class ConsumerCancelled(AmqpError):
    """The broker cancelled the consumer: its queue was deleted (or its node went away)."""


class HeartbeatTimeout(AmqpError):
    """Nothing came from the broker for two heartbeat intervals: the connection is dead."""


def _version() -> str:
    try:
        return importlib.metadata.version("odds-platform")
    except importlib.metadata.PackageNotFoundError:
        return "0"


@dataclass(frozen=True)
class AmqpParams:
    """Where and as whom to connect; ``ssl`` set means amqps (TLS)."""

    host: str
    port: int
    vhost: str
    username: str = field(repr=False)
    password: str = field(repr=False)
    ssl: ssl.SSLContext | None = None
    #: The client's wish, seconds; the broker's Tune may lower it (0: no heartbeats).
    heartbeat: int = HEARTBEAT_S
    frame_max: int = FRAME_MAX
    #: Shown by the broker as the connection's name.
    name: str = "odds-platform"

    def client_properties(self) -> FieldTable:
        return {
            "product": "odds-platform amqp_consumer",
            "version": _version(),
            "platform": f"Python {platform.python_version()}",
            "connection_name": self.name,
            "capabilities": {
                "consumer_cancel_notify": True,
                "connection.blocked": True,
                "authentication_failure_close": True,
            },
        }


def negotiate(ours: int, theirs: int) -> int:
    """Tune's rule for channel_max, frame_max and heartbeat: 0 is "no limit" (or "none"), so
    with a 0 on either side the other value holds; otherwise the lower one."""
    if not ours or not theirs:
        return max(ours, theirs)
    return min(ours, theirs)


async def connect(params: AmqpParams, on_delivery: OnDelivery) -> AmqpConsumer:
    """Connect, authenticate, open the vhost and channel 1; the caller sets a timeout."""
    loop = asyncio.get_running_loop()
    _, consumer = await loop.create_connection(
        lambda: AmqpConsumer(params, on_delivery), params.host, params.port, ssl=params.ssl,
        server_hostname=params.host if params.ssl is not None else None)
    try:
        await consumer.handshake()
    except BaseException:
        consumer.abort()
        raise
    return consumer


class AmqpConsumer(asyncio.Protocol):
    """One AMQP connection with one channel that consumes one queue; see the module doc."""

    def __init__(self, params: AmqpParams, on_delivery: OnDelivery) -> None:
        self.params = params
        self._on_delivery = on_delivery
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        #: Set once the connection is over: None after our ``close()``, else why.
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self.closed.add_done_callback(_retrieve)
        self.frame_max = params.frame_max
        self.heartbeat = 0
        self.channel_max = 0
        self.consumer_tag = ""
        self.server_properties: dict[str, object] = {}
        self.blocked = False
        self.paused = False
        # The parser's state between reads.
        self._tail = b""
        self._state = _METHOD
        self._tag = 0
        self._routing_key = ""
        self._remaining = 0
        self._parts: list[bytes] = []
        self._handshaking = True
        # Replies to the client's synchronous methods, in order.
        self._replies: deque[Frame] = deque()
        self._reply_waiter: asyncio.Future[None] | None = None
        self._closing = False
        # Heartbeats: whether bytes came in / went out since the last tick.
        self._heard = True
        self._sent = False
        self._silent_since = 0.0
        self._ticker: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's do not subclass asyncio.Transport).
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(PROTOCOL_HEADER)

    def data_received(self, data: bytes) -> None:
        if self.closed.done():
            return  # what a dead connection still reads is nobody's
        self._heard = True
        if self._tail:
            data = self._tail + data
            self._tail = b""
        try:
            used = self._parse(data)
        except AmqpError as exc:
            self._fail(exc)
            return
        except exceptions.PAMQPException as exc:
            self._fail(ProtocolError(f"an undecodable frame: {exc}"))
            return
        except Exception as exc:  # a failing on_delivery (or a bug here): end the connection
            log.exception("amqp: handling the broker's bytes failed")
            failed = AmqpError(f"handling a delivery failed: {exc!r}")
            failed.__cause__ = exc
            self._fail(failed)
            return
        if used < len(data):
            self._tail = data[used:]

    def eof_received(self) -> bool:
        return False  # the transport closes itself; connection_lost says why

    def connection_lost(self, exc: Exception | None) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if not self.closed.done():
            if self._closing and exc is None:
                self.closed.set_result(None)
            else:
                reason = f": {exc!r}" if exc is not None else ""
                error = AmqpError(f"the connection to the broker was lost{reason}")
                error.__cause__ = exc
                self.closed.set_exception(error)
        self._wake()

    # -- the hot path ----------------------------------------------------------------------

    def _parse(self, data: bytes) -> int:
        """Handle every whole frame of ``data``; return how many bytes they took."""
        end = len(data)
        pos = 0
        if self._handshaking and data.startswith(b"AMQP"):
            raise ProtocolError(f"the broker refused AMQP 0-9-1: it proposes protocol "
                                f"{data[4:8].hex(' ')}")
        unpack_frame = _FRAME.unpack_from
        unpack_u64 = _U64.unpack_from
        on_delivery = self._on_delivery
        state = self._state
        tag, routing_key = self._tag, self._routing_key
        remaining, parts = self._remaining, self._parts
        try:
            while end - pos >= 7:  # a frame's header: type, channel, size
                kind, channel, size = unpack_frame(data, pos)
                start = pos + 7
                stop = start + size
                if stop >= end:  # the frame's end is still to come
                    if size > self.frame_max:
                        raise ProtocolError(f"a frame of {size} bytes announced, beyond "
                                            f"frame_max {self.frame_max}")
                    break
                if data[stop] != FRAME_END:
                    raise ProtocolError(f"bad frame end octet {data[stop]:#04x} (frame type "
                                        f"{kind}, channel {channel}, size {size})")
                if kind == FRAME_BODY:
                    if state != _BODY or channel != CHANNEL:
                        raise ProtocolError(f"a body frame on channel {channel} out of place")
                    if size == remaining and not parts:
                        state = _METHOD
                        on_delivery(tag, routing_key, data[start:stop])
                    else:
                        parts.append(data[start:stop])
                        remaining -= size
                        if remaining <= 0:
                            if remaining < 0:
                                raise ProtocolError("body frames longer than their header said")
                            state = _METHOD
                            body = b"".join(parts)
                            parts = []
                            on_delivery(tag, routing_key, body)
                elif kind == FRAME_METHOD:
                    if state != _METHOD and channel == CHANNEL:
                        raise ProtocolError("a method frame inside a delivery's content")
                    if data[start:start + 4] == _BASIC_DELIVER and channel == CHANNEL:
                        # consumer-tag, delivery-tag, redelivered, exchange, routing-key
                        at = start + 5 + data[start + 4]
                        tag = unpack_u64(data, at)[0]
                        at += 9
                        at += 1 + data[at]
                        if at + 1 + data[at] > stop:
                            raise ProtocolError("a Basic.Deliver longer than its frame")
                        routing_key = data[at + 1:at + 1 + data[at]].decode(errors="replace")
                        state = _HEADER
                    else:
                        self._method(data[pos:stop + 1])
                        if self.closed.done():
                            return end
                elif kind == FRAME_HEADER:
                    if state != _HEADER or channel != CHANNEL:
                        raise ProtocolError(f"a content header on channel {channel} out of "
                                            f"place")
                    remaining = unpack_u64(data, start + 4)[0]
                    if remaining:
                        state = _BODY
                    else:
                        state = _METHOD
                        on_delivery(tag, routing_key, b"")
                elif kind != FRAME_HEARTBEAT:
                    raise ProtocolError(f"unknown frame type {kind}")
                pos = stop + 1
        finally:
            self._state = state
            self._tag, self._routing_key = tag, routing_key
            self._remaining, self._parts = remaining, parts
        return pos

    def basic_ack(self, delivery_tag: int, multiple: bool = False) -> bool:
        """Acknowledge ``delivery_tag`` (and every one below it with ``multiple``); False when
        the connection is gone (its unacknowledged deliveries are the broker's again)."""
        transport = self._transport
        if transport is None or self.closed.done() or transport.is_closing():
            return False
        transport.write(_ACK.pack(FRAME_METHOD, CHANNEL, 13, 60, 80, delivery_tag,
                                  1 if multiple else 0, FRAME_END))
        self._sent = True
        return True

    # -- flow control ----------------------------------------------------------------------

    def pause(self) -> None:
        """Stop reading from the broker (what was read is still delivered)."""
        if not self.paused and self._transport is not None and not self.closed.done():
            self.paused = True
            self._transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self._transport is not None and not self.closed.done():
            self.paused = False
            self._transport.resume_reading()

    # -- the rare frames -------------------------------------------------------------------

    def _method(self, raw: bytes) -> None:
        _, channel, method = frame.unmarshal(raw)
        if isinstance(method, commands.Connection.Close):
            self._send(0, commands.Connection.CloseOk())
            if self._closing and not self.closed.done():  # both sides closed at once
                self.closed.set_result(None)
            self._fail(BrokerClosed("connection", method.reply_code or 0, method.reply_text,
                                    method.class_id or 0, method.method_id or 0),
                       graceful=True)
        elif isinstance(method, commands.Connection.CloseOk) and self._closing:
            if not self.closed.done():
                self.closed.set_result(None)
            self._wake()
            if self._transport is not None:
                self._transport.close()
        elif isinstance(method, commands.Channel.Close):
            self._send(channel, commands.Channel.CloseOk())
            self._end(BrokerClosed("channel", method.reply_code or 0, method.reply_text,
                                   method.class_id or 0, method.method_id or 0))
        elif isinstance(method, commands.Basic.Cancel):
            if not method.nowait:
                self._send(channel, commands.Basic.CancelOk(method.consumer_tag))
            self._end(ConsumerCancelled(
                f"the broker cancelled consumer {method.consumer_tag!r}: its queue was "
                f"deleted or moved"))
        elif isinstance(method, commands.Connection.Blocked):
            self.blocked = True
            log.warning("amqp: the broker blocked the connection (%s)", method.reason)
        elif isinstance(method, commands.Connection.Unblocked):
            self.blocked = False
            log.info("amqp: the broker unblocked the connection")
        elif isinstance(method, Frame):
            self._replies.append(method)
            self._wake()
        else:  # pragma: no cover (frame.unmarshal of a method frame gives a method)
            raise ProtocolError(f"unexpected frame {method!r}")

    def _send(self, channel: int, method: Frame) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(frame.marshal(method, channel))
            self._sent = True

    def _wake(self) -> None:
        waiter = self._reply_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _expect(self, kind: type[M]) -> M:
        """The next reply to a synchronous method; it must be a ``kind``."""
        while not self._replies:
            if self.closed.done():
                self._raise_closed()
            self._reply_waiter = self._loop.create_future()
            await self._reply_waiter
        reply = self._replies.popleft()
        if not isinstance(reply, kind):
            raise ProtocolError(f"expected {kind.name}, the broker sent {reply.name}")
        return reply

    async def _call(self, channel: int, method: Frame, reply: type[M]) -> M:
        if self.closed.done():
            self._raise_closed()
        self._send(channel, method)
        return await self._expect(reply)

    def _raise_closed(self) -> None:
        exc = self.closed.exception()
        raise exc if exc is not None else AmqpError("the connection is closed")

    def _fail(self, exc: AmqpError, graceful: bool = False) -> None:
        """The connection is over because of ``exc``; ``graceful`` lets written frames out."""
        if not self.closed.done():
            log.debug("amqp: connection over: %s", exc)
            self.closed.set_exception(exc)
        self._wake()
        if self._transport is not None:
            if graceful:
                self._transport.close()
            else:
                self._transport.abort()

    def _end(self, exc: AmqpError) -> None:
        """The channel is over, so is this client's use of the connection: close it."""
        self._closing = True
        self._send(0, commands.Connection.Close(200, "the channel is over", 0, 0))
        self._fail(exc, graceful=True)

    def abort(self) -> None:
        """Drop the connection at once (unless it is over already)."""
        if not self.closed.done():
            self._fail(AmqpError("the connection was aborted"))

    # -- the handshake and setup -----------------------------------------------------------

    async def handshake(self) -> None:
        """Connection.Start/StartOk (PLAIN), Tune/TuneOk, Open/OpenOk, then channel 1."""
        params = self.params
        start = await self._expect(commands.Connection.Start)
        self.server_properties = dict(start.server_properties)
        mechanisms = start.mechanisms
        if isinstance(mechanisms, bytes):
            mechanisms = mechanisms.decode(errors="replace")
        if "PLAIN" not in mechanisms.split():
            raise ProtocolError(f"the broker does not offer PLAIN authentication "
                                f"(it offers {mechanisms})")
        self._handshaking = False
        self._send(0, commands.Connection.StartOk(
            client_properties=params.client_properties(),
            mechanism="PLAIN", response=f"\0{params.username}\0{params.password}",
            locale="en_US"))
        tune = await self._expect(commands.Connection.Tune)
        self.channel_max = negotiate(0, tune.channel_max)
        self.frame_max = max(FRAME_MIN, negotiate(params.frame_max, tune.frame_max))
        self.heartbeat = negotiate(params.heartbeat, tune.heartbeat)
        self._send(0, commands.Connection.TuneOk(self.channel_max, self.frame_max,
                                                 self.heartbeat))
        if self.heartbeat:
            self._silent_since = self._loop.time()
            self._ticker = self._loop.call_later(self.heartbeat / 2, self._tick)
        await self._call(0, commands.Connection.Open(virtual_host=params.vhost),
                         commands.Connection.OpenOk)
        await self._call(CHANNEL, commands.Channel.Open(), commands.Channel.OpenOk)

    async def start_consuming(self, exchange: str, routing_keys: Iterable[str],
                              prefetch: int) -> str:
        """Basic.Qos, a server-named exclusive auto-delete queue bound to ``exchange`` with
        each routing key, Basic.Consume with acknowledgements; return the queue's name."""
        await self._call(CHANNEL, commands.Basic.Qos(prefetch_count=prefetch),
                         commands.Basic.QosOk)
        declared = await self._call(
            CHANNEL, commands.Queue.Declare(queue="", exclusive=True, auto_delete=True),
            commands.Queue.DeclareOk)
        queue = declared.queue or ""
        if not queue:
            raise ProtocolError("the broker named no queue in Queue.DeclareOk")
        for routing_key in routing_keys:
            await self._call(CHANNEL, commands.Queue.Bind(queue=queue, exchange=exchange,
                                                          routing_key=routing_key),
                             commands.Queue.BindOk)
        consumed = await self._call(CHANNEL, commands.Basic.Consume(queue=queue, no_ack=False),
                                    commands.Basic.ConsumeOk)
        self.consumer_tag = consumed.consumer_tag or ""
        return queue

    async def cancel(self) -> None:
        """Stop the deliveries: Basic.Cancel, and wait for CancelOk (every delivery the broker
        sent before it has then reached ``on_delivery``); the caller sets a timeout."""
        if not self.consumer_tag or self.closed.done():
            return
        await self._call(CHANNEL, commands.Basic.Cancel(self.consumer_tag),
                         commands.Basic.CancelOk)

    async def close(self) -> None:
        """Connection.Close and wait (at most ``CLOSE_TIMEOUT_S``) for CloseOk; never raises."""
        if self._transport is None or self.closed.done():
            return
        if not self._closing:
            self._closing = True
            self._send(0, commands.Connection.Close(200, "closing", 0, 0))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), CLOSE_TIMEOUT_S)
        except (AmqpError, TimeoutError) as exc:
            log.debug("amqp: no clean close: %r", exc)
        finally:
            if not self.closed.done():
                self.closed.set_result(None)
            if not self._transport.is_closing():
                self._transport.abort()

    # -- heartbeats ------------------------------------------------------------------------

    def _tick(self) -> None:
        """Every heartbeat/2: send one when nothing went out since the last tick; drop the
        connection when nothing came in for two heartbeat intervals."""
        if self.closed.done():
            return
        now = self._loop.time()
        if self._heard or self.paused:
            self._heard = False
            self._silent_since = now
        elif now - self._silent_since >= 2 * self.heartbeat:
            self._fail(HeartbeatTimeout(f"no bytes from the broker for "
                                        f"{now - self._silent_since:.0f}s (heartbeat "
                                        f"{self.heartbeat}s)"))
            return
        if not self._sent and self._transport is not None and not self._transport.is_closing():
            self._transport.write(HEARTBEAT_FRAME)
        self._sent = False
        self._ticker = self._loop.call_later(self.heartbeat / 2, self._tick)


def _retrieve(future: asyncio.Future[None]) -> None:
    # Whoever owns the consumer reads ``closed``; asyncio must not log it as never retrieved.
    with contextlib.suppress(asyncio.CancelledError):
        future.exception()
