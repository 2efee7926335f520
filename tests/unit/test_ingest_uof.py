"""The UOF ingestor's pure parts: routing keys to record keys, the ack window, settings."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pamqp import commands

from config.settings import SettingsError, UofFeedConfig
from feeds.uof import translate_uof
from ingest.ack_window import AckWindow
from ingest.backoff import Backoff
from ingest.uof_amqp import UofIngestor, amqp_params, tls_context
from ingest.uof_routing import (
    HEAD_BYTES,
    UNKEYED,
    message_timestamp_ms,
    parse_routing_key,
    record_key,
)
from tests.amqp_broker import FakeBroker

RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "uof"
ODDS_CHANGE = (RESOURCES / "odds_change-0.xml").read_bytes()
ALIVE = b'<alive product="3" timestamp="1700000000123" subscribed="1"/>'


def test_event_messages_are_keyed_by_the_routing_keys_event() -> None:
    key = "hi.-.live.odds_change.1.sr:match.123.-"
    assert record_key(key, ODDS_CHANGE) == b"sr:match:123"
    parsed = parse_routing_key(key)
    assert parsed is not None and parsed.message_type == "odds_change"
    assert parsed.priority == "hi" and parsed.sport_id == "1"


def test_the_same_key_a_replay_gives() -> None:
    # A replay keys by the event_id attribute: the same bytes for the same event.
    assert b'event_id="sr:match:' in ODDS_CHANGE
    event = ODDS_CHANGE.split(b'event_id="', 1)[1].split(b'"', 1)[0]
    urn_type, _, number = event.decode().rpartition(":")
    assert record_key(f"hi.pre.-.odds_change.1.{urn_type}.{number}.-", ODDS_CHANGE) == event


def test_system_messages_are_keyed_by_producer() -> None:
    assert record_key("-.-.-.alive.-.-.-.-", ALIVE) == b"producer:3"
    snapshot = b'<snapshot_complete request_id="9" timestamp="1" product="1"/>'
    assert record_key("-.-.-.snapshot_complete.-.-.-.7", snapshot) == b"producer:1"


@pytest.mark.parametrize(("routing_key", "body"), [
    ("not-a-uof-key", b"<odds_change/>"),
    ("-.-.-.alive.-.-.-.-", b"<alive timestamp='1'/>"),
    ("a.b.c", b"\xff\xfe garbage"),
    ("", b""),
])
def test_what_cannot_be_keyed_is_unkeyed(routing_key: str, body: bytes) -> None:
    assert record_key(routing_key, body) == UNKEYED


def test_message_timestamp() -> None:
    assert message_timestamp_ms(ALIVE) == 1700000000123
    assert message_timestamp_ms(b"<alive/>") is None


def test_ack_window_never_passes_an_incomplete_delivery() -> None:
    window = AckWindow()
    assert not window.complete(2)
    assert not window.complete(3)
    assert window.to_acknowledge() is None
    assert window.complete(1)
    assert window.watermark == 3 and window.pending == 0
    assert window.to_acknowledge() == 3
    assert window.to_acknowledge() is None


def test_ack_window_any_completion_order() -> None:
    rng = random.Random(7)
    tags = list(range(1, 2001))
    rng.shuffle(tags)
    window = AckWindow()
    done: set[int] = set()
    for tag in tags:
        window.complete(tag)
        done.add(tag)
        # Every tag up to the watermark is done; the next one is not.
        assert all(t in done for t in range(1, window.watermark + 1))
        assert window.watermark + 1 not in done
    assert window.watermark == 2000 and window.pending == 0


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    backoff = Backoff(initial_s=1.0, cap_s=8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_uof_settings_local_default() -> None:
    config = UofFeedConfig.from_env({}, "")
    assert (config.host, config.port, config.tls, config.vhost) == ("127.0.0.1", 5672, False,
                                                                    "unifiedfeed")
    assert config.routing_keys == ("#",) and config.exchange == "unifiedfeed"
    assert config.heartbeat == 10 and config.prefetch == 4096
    params = amqp_params(config)
    assert (params.vhost, params.ssl, params.heartbeat) == ("unifiedfeed", None, 10)
    assert (params.username, params.password) == ("odds", "odds")


def test_uof_settings_sportradar_form_with_token_from_the_secret(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    env = {"UOF_AMQP_URL": "amqps://mq.betradar.com/unifiedfeed/12345",
           "UOF_ROUTING_KEYS": "hi.#, -.-.-.alive.#"}
    config = UofFeedConfig.from_env(env, "s3cret-token")
    assert (config.host, config.port, config.tls) == ("mq.betradar.com", 5671, True)
    assert config.vhost == "/unifiedfeed/12345"
    assert config.username == "s3cret-token" and config.password == ""
    assert config.routing_keys == ("hi.#", "-.-.-.alive.#")
    assert "s3cret" not in repr(config) and "s3cret" not in config.redacted()
    params = amqp_params(config)
    # Connection.Open names the vhost as it is, slashes and all.
    assert params.vhost == "/unifiedfeed/12345"
    assert (params.username, params.password) == ("s3cret-token", "")
    assert isinstance(params.ssl, ssl.SSLContext) and "s3cret" not in repr(params)


def test_uof_settings_url_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "url"
    secret.write_text("amqps://tok:@mq.betradar.com:5671/unifiedfeed/9\n")
    config = UofFeedConfig.from_env({"UOF_AMQP_URL_FILE": str(secret)}, "")
    assert config.username == "tok" and config.vhost == "/unifiedfeed/9"


@pytest.mark.parametrize("env", [
    {"UOF_AMQP_URL": "http://mq.betradar.com/unifiedfeed/1"},
    {"UOF_AMQP_URL": "amqps://mq.betradar.com:99999999/x"},
    {"UOF_AMQP_URL": "amqps://zq9@h/x", "UOF_ROUTING_KEYS": " , "},
    {"UOF_AMQP_URL": "amqps://zq9@h/x", "UOF_PREFETCH": "0"},
    {"UOF_AMQP_URL": "amqps://zq9@h/x", "UOF_PREFETCH": "65536"},
    {"UOF_AMQP_URL": "amqps://zq9@h/x", "UOF_HEARTBEAT_SECONDS": "-1"},
    {"UOF_AMQP_URL": "amqps://h/x"},
])
def test_uof_settings_errors_never_quote_the_url(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        UofFeedConfig.from_env(env, "")
    assert "zq9" not in str(caught.value) and "betradar" not in str(caught.value)


def test_amqps_context_verifies_the_broker(tmp_path: Path) -> None:
    ca = trustme.CA()
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    config = UofFeedConfig.from_env({"UOF_AMQP_URL": "amqps://tok@mq.example:5671/uf/1",
                                     "UOF_AMQP_CAFILE": str(cafile),
                                     "UOF_HEARTBEAT_SECONDS": "30"}, "")
    context = tls_context(config)
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == 1  # the given CA only, not the system's
    assert amqp_params(config).heartbeat == 30
    assert tls_context(UofFeedConfig.from_env({}, "")) is None


# -- the ingestor against a scripted broker (no Kafka: the writer is a recording fake) ----------

class RecordingWriter:
    """The RawTopicWriter's interface; Kafka's acknowledgements are the test's to give."""

    topic = "feed.raw.uof.v1"

    def __init__(self, room: int = 1_000_000) -> None:
        self.records: list[tuple[bytes, bytes, dict[str, bytes]]] = []
        self.unacked: list[Callable[[], None]] = []
        self.room = room
        self.flushes = 0
        self.in_flight = 0
        self.failing_since: float | None = None
        self.last_ack = 0.0
        self._room = asyncio.Event()

    def add(self, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]],
            on_acked: Callable[[], None]) -> bool:
        self.records.append((key, value, dict(headers)))
        self.unacked.append(on_acked)
        self._room.clear()
        return len(self.unacked) >= self.room

    def kafka_acks(self, indexes: Iterable[int] | None = None) -> None:
        """Kafka acknowledges the records at ``indexes`` (all so far by default)."""
        chosen = set(range(len(self.unacked)) if indexes is None else indexes)
        for index in sorted(chosen):
            self.unacked[index]()
        self.unacked = [cb for i, cb in enumerate(self.unacked) if i not in chosen]
        if len(self.unacked) < self.room:
            self._room.set()

    async def wait_for_room(self) -> None:
        await self._room.wait()

    async def flush(self) -> None:
        self.flushes += 1
        self.kafka_acks()


async def until(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {seconds}s")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def ingesting(writer: RecordingWriter, producers: tuple[int, ...] = (),
                    **broker: Any) -> AsyncIterator[tuple[FakeBroker, UofIngestor]]:
    fake = FakeBroker(**broker)
    port = await fake.start()
    config = UofFeedConfig(host="127.0.0.1", port=port, tls=False, vhost="unifiedfeed",
                           username="odds", password="odds", routing_keys=("hi.#", "-.#"),
                           prefetch=100, producers=producers)
    ingestor = UofIngestor(config, writer,  # type: ignore[arg-type]
                           Backoff(initial_s=0.01, cap_s=0.05))
    stop = asyncio.Event()
    task = asyncio.create_task(ingestor.run(stop))
    try:
        await until(lambda: bool(fake.clients) and fake.client.consuming.is_set())
        yield fake, ingestor
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await fake.stop()


EVENT_KEY = "hi.-.live.odds_change.1.sr:match.{}.-"


async def test_forwarded_in_order_and_acknowledged_only_after_kafka() -> None:
    writer = RecordingWriter()
    async with ingesting(writer) as (fake, ingestor):
        client = fake.client
        assert ingestor.status.connected
        binds = client.of(commands.Queue.Bind)
        assert [b.routing_key for b in binds] == ["hi.#", "-.#"]  # type: ignore[attr-defined]
        for n in range(1, 7):
            client.deliver(EVENT_KEY.format(n % 2), f'<odds_change timestamp="{n}"/>'.encode())
        client.deliver("-.-.-.alive.-.-.-.-", ALIVE)
        await until(lambda: len(writer.records) == 7)
        assert [value for _, value, _ in writer.records][:2] == [
            b'<odds_change timestamp="1"/>', b'<odds_change timestamp="2"/>']
        assert [key for key, _, _ in writer.records] == [b"sr:match:1", b"sr:match:0"] * 3 + [
            b"producer:3"]
        headers = writer.records[0][2]
        assert headers["routing_key"] == EVENT_KEY.format(1).encode()
        assert abs(int(headers["received_ms"]) - time.time() * 1000) < 10_000
        await asyncio.sleep(0.05)
        assert client.acks() == []  # nothing before Kafka's acknowledgement
        writer.kafka_acks([1, 2, 4])  # Kafka holds 2, 3 and 5 but not 1
        await asyncio.sleep(0.05)
        assert client.acks() == []
        writer.kafka_acks([0])  # now 1, 2, 3 (and 5, but not 4)
        await until(lambda: client.acks() == [(3, True)])
        writer.kafka_acks()
        await until(lambda: client.acked_up_to() == 7)
        assert all(multiple for _, multiple in client.acks())
        await until(lambda: ingestor.status.messages == 7)
    # Stopped: the consumer was cancelled, Kafka flushed, then the connection closed.
    assert writer.flushes >= 1
    names = [type(value).__name__ for _, value in client.received]
    assert names[-2:] == ["Cancel", "Close"]


async def test_a_dropped_connection_loses_no_delivery_and_reconnects() -> None:
    writer = RecordingWriter()
    async with ingesting(writer) as (fake, ingestor):
        first = fake.client
        for n in range(3):
            first.deliver(EVENT_KEY.format(n), b"<odds_change/>")
        first.close_connection()
        await until(lambda: len(fake.clients) == 2 and fake.client.consuming.is_set())
        assert "CONNECTION_FORCED" in ingestor.status.last_problem
        assert ingestor.status.connected
        # Received before the drop: in Kafka's hands, never acknowledged on the old connection.
        assert len(writer.records) == 3
        writer.kafka_acks()
        second = fake.client
        second.deliver(EVENT_KEY.format(9), b"<odds_change/>")
        await until(lambda: len(writer.records) == 4)
        writer.kafka_acks()
        await until(lambda: second.acks() == [(1, True)])
        assert first.acks() == []
        second.drop()
        await until(lambda: len(fake.clients) == 3 and fake.client.consuming.is_set())
        assert "lost" in ingestor.status.last_problem


def unsubscribed(records: list[tuple[bytes, bytes, dict[str, bytes]]]) -> list[bytes]:
    """The keys of the ingestor's own ``alive subscribed="0"`` records."""
    return [key for key, value, headers in records
            if headers.get("origin") == b"ingest:subscribed-again"
            and b'subscribed="0"' in value and value.startswith(b"<alive product=")]


async def test_a_queue_bound_again_tells_each_known_producer_unsubscribed() -> None:
    writer = RecordingWriter()
    async with ingesting(writer, producers=(1,)) as (fake, _ingestor):
        # The first queue of this process: the configured producers, as after any gap.
        await until(lambda: unsubscribed(writer.records) == [b"producer:1"])
        fake.client.deliver("-.-.-.alive.-.-.-.-", ALIVE)  # producer 3, seen from now on
        fake.client.deliver(EVENT_KEY.format(5), b'<odds_change product="4"/>')
        await until(lambda: len(writer.records) == 3)
        writer.kafka_acks()
        fake.client.close_connection()
        await until(lambda: len(fake.clients) == 2 and fake.client.consuming.is_set())
        await until(lambda: len(unsubscribed(writer.records)) == 3)
        assert unsubscribed(writer.records)[1:] == [b"producer:1", b"producer:3"]
        key, value, headers = writer.records[-1]
        assert key == b"producer:3" and headers["routing_key"] == b"-.-.-.alive.-.-.-.-"
        assert value.startswith(b'<alive product="3" timestamp="')
        # The platform's own adapter reads it as Sportradar's alive.
        (alive,) = translate_uof(value)
        assert alive["type"] == "alive" and alive["subscribed"] is False
        assert alive["producer"] == 3


async def test_a_full_writer_pauses_reading_until_it_has_room() -> None:
    writer = RecordingWriter(room=3)
    async with ingesting(writer) as (fake, ingestor):
        for n in range(3):
            fake.client.deliver(EVENT_KEY.format(n), b"<odds_change/>")
        await until(lambda: len(writer.records) == 3)
        for n in range(3, 10):
            fake.client.deliver(EVENT_KEY.format(n), b"<odds_change/>")
        await asyncio.sleep(0.2)
        assert len(writer.records) == 3  # the third filled the writer: nothing read since
        assert ingestor.status.connected
        while len(writer.records) < 10:  # each time Kafka makes room, reading resumes
            writer.kafka_acks()
            await asyncio.sleep(0.02)
        writer.kafka_acks()
        await until(lambda: fake.client.acked_up_to() == 10)


PLAIN_TIMESTAMP = re.compile(rb'\stimestamp="(\d{1,15})"')
PLAIN_PRODUCT = re.compile(rb'\sproduct="(\d{1,9})"')


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from([b" ", b"\t", b"\n", b"x", b"_", b'"', b'1"', b"9",
                                 b'timestamp="', b'product="', b"<alive", b'123"',
                                 b"0" * 14, b"1" * 16, b"\xff"]), max_size=30),
       st.integers(min_value=0, max_value=1100))
@example([b"x", b'timestamp="', b'1"', b" ", b'timestamp="', b'123"'], 0)
@example([b"_", b'product="', b'1"', b"\n", b'product="', b"9", b'1"'], 0)
@example([b" ", b'timestamp="', b"1" * 16, b'1"', b"\t", b'timestamp="', b'1"'], 0)
@example([b" ", b'timestamp="', b'123"'], 1000)  # ends beyond the head: not found
def test_attribute_search_as_the_plain_patterns(parts: list[bytes], pad: int) -> None:
    for body in (b"".join(parts), b"x" * pad + b"".join(parts)):
        plain = PLAIN_TIMESTAMP.search(body, 0, HEAD_BYTES)
        assert message_timestamp_ms(body) == (int(plain.group(1)) if plain else None)
        product = PLAIN_PRODUCT.search(body, 0, HEAD_BYTES)
        expected = b"producer:" + product.group(1) if product else UNKEYED
        assert record_key("not.a.key", body) == expected
