"""A scripted AMQP 0-9-1 broker for the unit tests of ``ingest.amqp_consumer`` and the UOF
ingestor: the handshake as RabbitMQ does it (Start, Tune, OpenOk), the channel and consumer
setup replies, deliveries the test sends, and a record of what the client sent (its StartOk,
TuneOk, Open, binds, acknowledgements, heartbeats). TLS when given a server context; frames
are built and read with pamqp, never with the code under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field

from pamqp import commands, frame, header
from pamqp.base import Frame
from pamqp.body import ContentBody
from pamqp.heartbeat import Heartbeat

PROTOCOL_HEADER = header.ProtocolHeader().marshal()


def method_frame(method: Frame, channel: int = 1) -> bytes:
    return frame.marshal(method, channel)


def delivery_frames(tag: int, routing_key: str, body: bytes, *, chunk: int = 131_064,
                    consumer_tag: str = "ctag-1", exchange: str = "unifiedfeed") -> bytes:
    """Basic.Deliver, its content header and its body in frames of at most ``chunk`` bytes."""
    frames = [method_frame(commands.Basic.Deliver(consumer_tag, tag, False, exchange,
                                                  routing_key)),
              frame.marshal(header.ContentHeader(0, len(body), commands.Basic.Properties()), 1)]
    frames += [frame.marshal(ContentBody(body[at:at + chunk]), 1)
               for at in range(0, len(body), chunk)]
    return b"".join(frames)


def read_frames(data: bytes) -> Iterator[tuple[int, object]]:
    """Every frame of ``data`` (channel, frame) as pamqp reads it."""
    while data:
        used, channel, value = frame.unmarshal(data)
        yield channel, value
        data = data[used:]


@dataclass
class Client:
    """One client connection as the broker saw it."""

    index: int
    writer: asyncio.StreamWriter
    received: list[tuple[int, object]] = field(default_factory=list)
    consuming: asyncio.Event = field(default_factory=asyncio.Event)
    next_tag: int = 1
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, kind: type) -> list[object]:
        return [value for _, value in self.received if isinstance(value, kind)]

    def acks(self) -> list[tuple[int, bool]]:
        return [(ack.delivery_tag or 0, bool(ack.multiple))
                for ack in self.of(commands.Basic.Ack)
                if isinstance(ack, commands.Basic.Ack)]

    def acked_up_to(self) -> int:
        return max((tag for tag, _ in self.acks()), default=0)

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def deliver(self, routing_key: str, body: bytes, *, chunk: int = 131_064) -> int:
        tag = self.next_tag
        self.next_tag += 1
        self.writer.write(delivery_frames(tag, routing_key, body, chunk=chunk))
        return tag

    def close_connection(self, code: int = 320, text: str = "CONNECTION_FORCED - broker "
                         "forced connection closure with reason 'shutdown'") -> None:
        self.writer.write(method_frame(commands.Connection.Close(code, text, 0, 0), 0))

    def drop(self) -> None:
        """The TCP connection breaks (no Close)."""
        transport = self.writer.transport
        transport.abort()


class FakeBroker:
    """Accepts AMQP clients on 127.0.0.1; each connection is a ``Client`` in ``clients``."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, heartbeat: int = 60,
                 frame_max: int = 131_072, username: str = "odds",
                 password: str = "odds",  # noqa: S107 (the local test broker's)
                 queue: str = "amq.gen-test") -> None:
        self.ssl_context = ssl_context
        self.heartbeat = heartbeat
        self.frame_max = frame_max
        self.credentials = f"\0{username}\0{password}"
        self.queue = queue
        self.clients: list[Client] = []
        self.connected = asyncio.Event()
        self._server: asyncio.Server | None = None
        #: Replies to a setup method, by its class: instead of the usual OK.
        self.refuse: dict[type, Frame] = {}

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0,
                                                  ssl=self.ssl_context)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        for client in self.clients:
            client.writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def client(self) -> Client:
        return self.clients[-1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = Client(len(self.clients), writer)
        self.clients.append(client)
        try:
            if await reader.readexactly(8) != PROTOCOL_HEADER:
                return
            writer.write(method_frame(commands.Connection.Start(
                server_properties={"product": "FakeBroker"}, mechanisms="AMQPLAIN PLAIN"), 0))
            while True:
                head = await reader.readexactly(7)
                size = int.from_bytes(head[3:7], "big")
                _, channel, value = frame.unmarshal(head + await reader.readexactly(size + 1))
                client.received.append((channel, value))
                if not self._answer(client, channel, value):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            client.closed.set()
            with contextlib.suppress(ConnectionError, RuntimeError):
                writer.close()

    def _answer(self, client: Client, channel: int, value: object) -> bool:
        """Answer one client frame; False ends the connection."""
        write = client.writer.write
        refused = self.refuse.get(type(value))
        if refused is not None:
            write(method_frame(refused, channel))
            return True
        if isinstance(value, commands.Connection.StartOk):
            if value.response != self.credentials:
                write(method_frame(commands.Connection.Close(
                    403, "ACCESS_REFUSED - Login was refused", 0, 0), 0))
                return True
            write(method_frame(commands.Connection.Tune(2047, self.frame_max,
                                                        self.heartbeat), 0))
        elif isinstance(value, commands.Connection.Open):
            write(method_frame(commands.Connection.OpenOk(), 0))
            self.connected.set()
        elif isinstance(value, commands.Channel.Open):
            write(method_frame(commands.Channel.OpenOk(), channel))
        elif isinstance(value, commands.Basic.Qos):
            write(method_frame(commands.Basic.QosOk(), channel))
        elif isinstance(value, commands.Queue.Declare):
            write(method_frame(commands.Queue.DeclareOk(self.queue, 0, 0), channel))
        elif isinstance(value, commands.Queue.Bind):
            write(method_frame(commands.Queue.BindOk(), channel))
        elif isinstance(value, commands.Basic.Consume):
            write(method_frame(commands.Basic.ConsumeOk("ctag-1"), channel))
            client.consuming.set()
        elif isinstance(value, commands.Basic.Cancel):
            write(method_frame(commands.Basic.CancelOk(value.consumer_tag), channel))
        elif isinstance(value, commands.Connection.Close):
            write(method_frame(commands.Connection.CloseOk(), 0))
            return False
        elif isinstance(value, commands.Connection.CloseOk | commands.Channel.CloseOk):
            return not isinstance(value, commands.Connection.CloseOk)
        elif not isinstance(value, commands.Basic.Ack | commands.Connection.TuneOk | Heartbeat):
            raise AssertionError(f"the fake broker got an unexpected {value!r}")
        return True
