"""The lean AMQP consumer: its hand-written parser of the hot frames fed bytes that pamqp built
(deliveries split at every byte, bodies over many frames, heartbeats, garbage), the rare frames
(the broker's Close, Channel.Close, Basic.Cancel, blocked), heartbeats both ways, and the whole
handshake against a scripted broker, over TLS too."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from pamqp import commands

from ingest import amqp_consumer
from ingest.amqp_consumer import (
    AmqpConsumer,
    AmqpError,
    AmqpParams,
    BrokerClosed,
    ConsumerCancelled,
    HeartbeatTimeout,
    ProtocolError,
    negotiate,
)
from tests.amqp_broker import (
    PROTOCOL_HEADER,
    FakeBroker,
    delivery_frames,
    method_frame,
    read_frames,
)

HEARTBEAT = bytes([8, 0, 0, 0, 0, 0, 0, 0xCE])
Delivery = tuple[int, str, bytes]


class FakeTransport:
    """What the consumer writes and does to its transport."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False
        self.aborted = False
        self.paused = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def frames(self) -> list[tuple[int, object]]:
        """Every frame written since the last call (the protocol header left out)."""
        data = bytes(self.written)
        self.written.clear()
        if data.startswith(PROTOCOL_HEADER):
            data = data[len(PROTOCOL_HEADER):]
        return list(read_frames(data))


def params(**kwargs: object) -> AmqpParams:
    values: dict[str, object] = {"host": "127.0.0.1", "port": 5672, "vhost": "/unifiedfeed/9",
                                 "username": "token", "password": ""}
    values.update(kwargs)
    return AmqpParams(**values)  # type: ignore[arg-type]


def server_setup(*, heartbeat: int = 0, frame_max: int = 131_072) -> bytes:
    return b"".join([
        method_frame(commands.Connection.Start(server_properties={"product": "RabbitMQ"},
                                               mechanisms="AMQPLAIN PLAIN"), 0),
        method_frame(commands.Connection.Tune(2047, frame_max, heartbeat), 0),
        method_frame(commands.Connection.OpenOk(), 0),
        method_frame(commands.Channel.OpenOk()),
    ])


async def opened(received: list[Delivery] | None = None, *, server_heartbeat: int = 0,
                 frame_max: int = 131_072, **kwargs: object) -> tuple[AmqpConsumer,
                                                                      FakeTransport]:
    """A consumer past its handshake on a fake transport (the broker's Tune proposes
    ``server_heartbeat`` and ``frame_max``); deliveries go to ``received``."""
    into = received if received is not None else []
    consumer = AmqpConsumer(params(**kwargs),
                            lambda tag, key, body: into.append((tag, key, body)))
    transport = FakeTransport()
    consumer.connection_made(transport)  # type: ignore[arg-type]
    assert bytes(transport.written) == b"AMQP\x00\x00\x09\x01"
    consumer.data_received(server_setup(heartbeat=server_heartbeat, frame_max=frame_max))
    await asyncio.wait_for(consumer.handshake(), 5)
    return consumer, transport


def stream_of(deliveries: list[Delivery], chunk: int = 131_064) -> bytes:
    return b"".join(delivery_frames(tag, key, body, chunk=chunk)
                    for tag, key, body in deliveries)


DELIVERIES: list[Delivery] = [
    (1, "hi.-.live.odds_change.1.sr:match.1.-", b"<odds_change product='1'/>"),
    (2, "-.-.-.alive.-.-.-.-", b""),  # no body frame at all
    (3, "hi.-.live.odds_change.1.sr:match.2.-", bytes(range(256)) * 2),  # in 5 body frames
    (4, "r\u00e9sum\u00e9.key", b"x"),
]


def split_stream() -> bytes:
    """The deliveries with heartbeats between, the third one's body in 120-byte frames."""
    parts = [delivery_frames(*DELIVERIES[0]), HEARTBEAT, delivery_frames(*DELIVERIES[1]),
             delivery_frames(*DELIVERIES[2], chunk=120), HEARTBEAT,
             delivery_frames(*DELIVERIES[3])]
    return b"".join(parts)


# -- the parser ---------------------------------------------------------------------------------

async def test_handshake_and_consumer_setup_as_the_protocol_says() -> None:
    consumer, transport = await opened(server_heartbeat=60, frame_max=65_536)
    sent = transport.frames()
    start_ok = sent[0][1]
    assert isinstance(start_ok, commands.Connection.StartOk)
    assert start_ok.mechanism == "PLAIN" and start_ok.response == "\0token\0"
    capabilities = start_ok.client_properties["capabilities"]
    assert isinstance(capabilities, dict)
    assert capabilities["consumer_cancel_notify"] and capabilities["connection.blocked"]
    tune_ok = sent[1][1]
    # The client's wish (10 s) is below the broker's 60 s; the broker's smaller frame_max wins.
    assert isinstance(tune_ok, commands.Connection.TuneOk)
    assert (tune_ok.channel_max, tune_ok.frame_max, tune_ok.heartbeat) == (2047, 65_536, 10)
    assert (consumer.heartbeat, consumer.frame_max) == (10, 65_536)
    open_ = sent[2][1]
    assert isinstance(open_, commands.Connection.Open)
    assert open_.virtual_host == "/unifiedfeed/9"  # as it is, slashes and all
    assert isinstance(sent[3][1], commands.Channel.Open) and sent[3][0] == 1

    consumer.data_received(b"".join([
        method_frame(commands.Basic.QosOk()),
        method_frame(commands.Queue.DeclareOk("amq.gen-abc", 0, 0)),
        method_frame(commands.Queue.BindOk()), method_frame(commands.Queue.BindOk()),
        method_frame(commands.Basic.ConsumeOk("ctag-9"))]))
    queue = await asyncio.wait_for(
        consumer.start_consuming("unifiedfeed", ["hi.#", "-.-.-.alive.#"], 4096), 5)
    assert queue == "amq.gen-abc" and consumer.consumer_tag == "ctag-9"
    setup = [value for _, value in transport.frames()]
    qos, declare, bind1, bind2, consume = setup
    assert isinstance(qos, commands.Basic.Qos) and qos.prefetch_count == 4096
    assert isinstance(declare, commands.Queue.Declare)
    assert (declare.queue, declare.exclusive, declare.auto_delete) == ("", True, True)
    assert isinstance(bind1, commands.Queue.Bind) and isinstance(bind2, commands.Queue.Bind)
    assert [(b.queue, b.exchange, b.routing_key) for b in (bind1, bind2)] == [
        ("amq.gen-abc", "unifiedfeed", "hi.#"), ("amq.gen-abc", "unifiedfeed", "-.-.-.alive.#")]
    assert isinstance(consume, commands.Basic.Consume)
    assert consume.queue == "amq.gen-abc" and not consume.no_ack
    consumer.abort()


@pytest.mark.parametrize(("ours", "theirs", "agreed"), [
    (10, 60, 10), (0, 60, 60), (10, 0, 10), (0, 0, 0), (131_072, 4096, 4096)])
def test_tune_negotiation(ours: int, theirs: int, agreed: int) -> None:
    assert negotiate(ours, theirs) == agreed


async def test_deliveries_split_at_every_byte_boundary() -> None:
    stream = split_stream()
    for cut in range(1, len(stream)):
        received: list[Delivery] = []
        consumer, _ = await opened(received)
        consumer.data_received(stream[:cut])
        consumer.data_received(stream[cut:])
        assert received == DELIVERIES, f"cut at byte {cut}"
        assert not consumer.closed.done()


async def test_deliveries_a_byte_at_a_time_and_all_in_one_read() -> None:
    stream = split_stream()
    one_by_one: list[Delivery] = []
    consumer, _ = await opened(one_by_one)
    for at in range(len(stream)):
        consumer.data_received(stream[at:at + 1])
    assert one_by_one == DELIVERIES
    at_once: list[Delivery] = []
    consumer, _ = await opened(at_once)
    many = DELIVERIES * 50
    consumer.data_received(stream_of([(i + 1, key, body)
                                      for i, (_, key, body) in enumerate(many)]))
    assert [tag for tag, _, _ in at_once] == list(range(1, len(many) + 1))
    assert [(key, body) for _, key, body in at_once] == [(key, body) for _, key, body in many]


async def test_a_body_over_many_frames_of_the_negotiated_size() -> None:
    received: list[Delivery] = []
    consumer, _ = await opened(received, frame_max=4096)
    body = bytes(range(256)) * 1000  # 256,000 bytes: 63 frames of 4,088
    stream = delivery_frames(7, "k", body, chunk=4096 - 8)
    for at in range(0, len(stream), 1000):
        consumer.data_received(stream[at:at + 1000])
    assert received == [(7, "k", body)]


async def test_acks_are_written_at_once() -> None:
    consumer, transport = await opened()
    transport.frames()
    assert consumer.basic_ack(41, multiple=True)
    assert consumer.basic_ack(42)
    (channel, first), (_, second) = transport.frames()
    assert channel == 1
    assert isinstance(first, commands.Basic.Ack) and isinstance(second, commands.Basic.Ack)
    assert (first.delivery_tag, first.multiple) == (41, True)
    assert (second.delivery_tag, second.multiple) == (42, False)
    consumer.connection_lost(None)
    assert not consumer.basic_ack(43, multiple=True)
    assert not transport.written


# -- the rare frames and the ends of a connection -----------------------------------------------

async def test_the_brokers_connection_close_is_a_clear_error_and_answered() -> None:
    received: list[Delivery] = []
    consumer, transport = await opened(received)
    transport.frames()
    close = method_frame(commands.Connection.Close(
        320, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'",
        0, 0), 0)
    # A delivery before it in the same read still arrives.
    consumer.data_received(delivery_frames(1, "k", b"before") + close)
    assert received == [(1, "k", b"before")]
    with pytest.raises(BrokerClosed) as caught:
        await consumer.closed
    assert caught.value.reply_code == 320 and "CONNECTION_FORCED" in str(caught.value)
    assert "closed the connection" in str(caught.value)
    assert [type(v) for _, v in transport.frames()] == [commands.Connection.CloseOk]
    assert transport.closed and not transport.aborted  # the CloseOk goes out first


async def test_a_refused_bind_names_the_method() -> None:
    consumer, transport = await opened()
    setup = asyncio.ensure_future(consumer.start_consuming("nope", ["#"], 10))
    consumer.data_received(method_frame(commands.Basic.QosOk())
                           + method_frame(commands.Queue.DeclareOk("q", 0, 0)))
    await asyncio.sleep(0.01)
    consumer.data_received(method_frame(commands.Channel.Close(
        404, "NOT_FOUND - no exchange 'nope' in vhost 'unifiedfeed'", 50, 20)))
    with pytest.raises(BrokerClosed, match=r"closed the channel: 404 NOT_FOUND .*Queue.Bind"):
        await asyncio.wait_for(setup, 5)
    answers = [type(v) for _, v in transport.frames()][-2:]
    assert answers == [commands.Channel.CloseOk, commands.Connection.Close]


async def test_the_brokers_cancel_ends_the_connection() -> None:
    consumer, transport = await opened()
    transport.frames()
    consumer.data_received(method_frame(commands.Basic.Cancel("ctag-1", nowait=False)))
    with pytest.raises(ConsumerCancelled, match="ctag-1"):
        await consumer.closed
    answers = [type(v) for _, v in transport.frames()]
    assert answers == [commands.Basic.CancelOk, commands.Connection.Close]


async def test_blocked_and_unblocked_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    consumer, _ = await opened()
    with caplog.at_level(logging.INFO, logger="ingest.amqp_consumer"):
        consumer.data_received(method_frame(commands.Connection.Blocked("low on memory"), 0))
        assert consumer.blocked
        consumer.data_received(method_frame(commands.Connection.Unblocked(), 0))
    assert not consumer.blocked and not consumer.closed.done()
    assert "low on memory" in caplog.text and "unblocked" in caplog.text


@pytest.mark.parametrize(("garbage", "problem"), [
    (delivery_frames(1, "k", b"body")[:-1] + b"\x00", "bad frame end octet 0x00"),
    (b"\x05\x00\x01\x00\x00\x00\x00\xce", "unknown frame type 5"),
    (b"\x01\x00\x01\x7f\xff\xff\xff", "beyond frame_max"),  # would wait for 2 GB of bytes
    (delivery_frames(1, "k", b"body")[-12:], "body frame on channel 1 out of place"),
    (b"\x02\x00\x01\x00\x00\x00\x0e" + bytes(14) + b"\xce", "content header on channel 1"),
    (method_frame(commands.Basic.Deliver("c", 1, False, "x", "k"))
     + method_frame(commands.Basic.Deliver("c", 2, False, "x", "k")), "inside a delivery"),
    (b"\x01\x00\x00\x00\x00\x00\x04\x00\x63\x00\x01\xce", "undecodable frame"),
])
async def test_garbage_is_a_clear_protocol_error_never_a_hang(garbage: bytes,
                                                              problem: str) -> None:
    consumer, transport = await opened()
    consumer.data_received(garbage)
    assert consumer.closed.done()
    with pytest.raises(ProtocolError, match=problem):
        await consumer.closed
    assert transport.aborted
    consumer.data_received(delivery_frames(2, "k", b"after"))  # ignored, no error


async def test_a_broker_of_another_protocol_version() -> None:
    consumer = AmqpConsumer(params(), lambda *_: None)
    consumer.connection_made(FakeTransport())  # type: ignore[arg-type]
    consumer.data_received(b"AMQP\x00\x00\x08\x00")
    with pytest.raises(ProtocolError, match="refused AMQP 0-9-1"):
        await asyncio.wait_for(consumer.handshake(), 5)


async def test_a_failing_callback_ends_the_connection() -> None:
    def explode(tag: int, key: str, body: bytes) -> None:
        raise RuntimeError("boom")

    consumer = AmqpConsumer(params(), explode)
    transport = FakeTransport()
    consumer.connection_made(transport)  # type: ignore[arg-type]
    consumer.data_received(server_setup())
    await consumer.handshake()
    consumer.data_received(delivery_frames(1, "k", b"x"))
    with pytest.raises(AmqpError, match="boom"):
        await consumer.closed
    assert transport.aborted


async def test_a_lost_transport_is_the_closed_futures_exception() -> None:
    consumer, _ = await opened()
    consumer.connection_lost(ConnectionResetError(104, "Connection reset by peer"))
    with pytest.raises(AmqpError, match=r"lost.*reset") as caught:
        await consumer.closed
    assert isinstance(caught.value.__cause__, ConnectionResetError)


async def test_a_lost_transport_during_setup_fails_the_setup() -> None:
    consumer, _ = await opened()
    setup = asyncio.ensure_future(consumer.start_consuming("x", ["#"], 10))
    await asyncio.sleep(0.01)
    consumer.connection_lost(None)
    with pytest.raises(AmqpError, match="lost"):
        await asyncio.wait_for(setup, 5)


async def test_pause_and_resume_reading() -> None:
    consumer, transport = await opened()
    consumer.pause()
    assert transport.paused and consumer.paused
    consumer.resume()
    assert not transport.paused and not consumer.paused


async def test_close_waits_for_close_ok() -> None:
    consumer, transport = await opened()
    transport.frames()
    closing = asyncio.ensure_future(consumer.close())
    await asyncio.sleep(0.01)
    assert [type(v) for _, v in transport.frames()] == [commands.Connection.Close]
    consumer.data_received(method_frame(commands.Connection.CloseOk(), 0))
    await asyncio.wait_for(closing, 5)
    assert consumer.closed.result() is None and transport.closed


async def test_close_without_an_answer_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(amqp_consumer, "CLOSE_TIMEOUT_S", 0.05)
    consumer, transport = await opened()
    await asyncio.wait_for(consumer.close(), 5)
    assert consumer.closed.result() is None and transport.aborted


# -- heartbeats ---------------------------------------------------------------------------------

async def test_heartbeats_sent_when_idle_and_a_silent_broker_is_dead() -> None:
    consumer, transport = await opened(server_heartbeat=1)
    assert consumer.heartbeat == 1  # below the client's 10 s
    transport.frames()
    # Ticks every 0.5 s: the first one saw the handshake go out, the second nothing.
    await asyncio.sleep(1.1)
    written = bytes(transport.written)
    assert written and written == HEARTBEAT * (len(written) // len(HEARTBEAT))
    consumer.data_received(HEARTBEAT)  # the broker's heartbeat keeps it alive
    await asyncio.sleep(1.1)
    assert not consumer.closed.done()
    with pytest.raises(HeartbeatTimeout, match="no bytes from the broker"):
        await asyncio.wait_for(asyncio.shield(consumer.closed), 4)
    assert transport.aborted


async def test_no_heartbeat_sent_while_acks_go_out() -> None:
    consumer, transport = await opened(server_heartbeat=1)
    transport.frames()
    for tag in range(1, 6):
        consumer.basic_ack(tag, multiple=True)
        consumer.data_received(HEARTBEAT)
        await asyncio.sleep(0.2)
    assert {type(v) for _, v in transport.frames()} == {commands.Basic.Ack}
    consumer.abort()


async def test_a_paused_consumer_is_not_declared_dead() -> None:
    consumer, _ = await opened(server_heartbeat=1)
    consumer.pause()
    await asyncio.sleep(2.6)
    assert not consumer.closed.done()
    consumer.abort()


# -- against a scripted broker, over TCP and TLS ------------------------------------------------

@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    cafile = tmp_path_factory.mktemp("amqps") / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    return cafile, server


@contextlib.asynccontextmanager
async def broker(**kwargs: object) -> AsyncIterator[tuple[FakeBroker, int]]:
    server = FakeBroker(**kwargs)  # type: ignore[arg-type]
    port = await server.start()
    try:
        yield server, port
    finally:
        await server.stop()


async def consume_one(params_: AmqpParams, fake: FakeBroker) -> None:
    received: list[Delivery] = []
    consumer = await asyncio.wait_for(
        amqp_consumer.connect(params_, lambda *d: received.append(d)), 5)
    queue = await asyncio.wait_for(consumer.start_consuming("unifiedfeed", ["#"], 10), 5)
    assert queue == fake.queue
    body = b"<odds_change/>" * 20_000  # over several frames
    fake.client.deliver("hi.-.live.odds_change.1.sr:match.1.-", body)
    for _ in range(200):
        if received:
            break
        await asyncio.sleep(0.01)
    assert received == [(1, "hi.-.live.odds_change.1.sr:match.1.-", body)]
    consumer.basic_ack(1, multiple=True)
    await consumer.cancel()
    await consumer.close()
    assert consumer.closed.result() is None
    await asyncio.wait_for(fake.client.closed.wait(), 5)
    assert fake.client.acks() == [(1, True)]
    assert [type(v).__name__ for _, v in fake.client.received][-2:] == ["Cancel", "Close"]


async def test_amqps_against_a_tls_broker(tls: tuple[Path, ssl.SSLContext]) -> None:
    cafile, server_context = tls
    async with broker(ssl_context=server_context, username="token", password="") as (fake,
                                                                                  port):
        client_context = ssl.create_default_context(cafile=str(cafile))
        await consume_one(params(host="localhost", port=port, ssl=client_context), fake)
        start_ok = fake.client.of(commands.Connection.StartOk)[0]
        assert isinstance(start_ok, commands.Connection.StartOk)
        assert start_ok.response == "\0token\0"


async def test_amqps_refuses_a_broker_it_cannot_verify(tls: tuple[Path, ssl.SSLContext]) -> None:
    _, server_context = tls
    async with broker(ssl_context=server_context) as (_fake, port):
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.wait_for(amqp_consumer.connect(
                params(host="localhost", port=port, ssl=ssl.create_default_context()),
                lambda *_: None), 5)


async def test_plain_tcp_and_a_refused_login() -> None:
    async with broker() as (fake, port):
        await consume_one(params(port=port, username="odds", password="odds"), fake)
        with pytest.raises(BrokerClosed, match="403 ACCESS_REFUSED"):
            await asyncio.wait_for(amqp_consumer.connect(
                params(port=port, username="odds", password="wrong"), lambda *_: None), 5)
