"""The UOF ingestor's pure parts: routing keys to record keys, the ack window, settings."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from config.settings import SettingsError, UofFeedConfig
from ingest.ack_window import AckWindow
from ingest.backoff import Backoff
from ingest.uof_amqp import connection_url
from ingest.uof_routing import (
    HEAD_BYTES,
    UNKEYED,
    message_timestamp_ms,
    parse_routing_key,
    record_key,
)

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
    assert connection_url(config).path == "/unifiedfeed"


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
    url = connection_url(config)
    # aiormq reads the vhost from the path with %2F as "/".
    assert url.path[1:].replace("%2F", "/") == "/unifiedfeed/12345"
    assert url.user == "s3cret-token"


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
    {"UOF_AMQP_URL": "amqps://h/x"},
])
def test_uof_settings_errors_never_quote_the_url(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        UofFeedConfig.from_env(env, "")
    assert "zq9" not in str(caught.value) and "betradar" not in str(caught.value)


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
