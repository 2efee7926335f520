"""The Betfair Exchange Stream ingestor: requests, clocks, the status policy, bad lines, and the
protocol against a local TLS server (no Kafka: the writer is a recording fake)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from config.settings import BETFAIR_FIELDS, BetfairStreamConfig
from ingest import betfair_stream
from ingest.backoff import Backoff
from ingest.betfair_stream import (
    MALFORMED,
    UNEXPECTED_OP,
    Action,
    BetfairIngestor,
    ClockKeeper,
    LineSplitter,
    authentication_request,
    decode,
    encode_request,
    judge_status,
    read_timeout_s,
    subscription_request,
)
from ingest.service import IngestFatal
from tests.betfair_stream_server import (
    INITIAL_CLK,
    FakeExchangeStream,
    Replay,
    Session,
    StreamTls,
)

RECORDED = Path(__file__).resolve().parents[1] / "resources" / "betfair" / "BASIC-1.132153978"
APP_KEY, SESSION = "app-key-1", "session-token-1"
FILTER = {"marketIds": ["1.132153978"], "eventTypeIds": ["7"]}


def config(**overrides: Any) -> BetfairStreamConfig:
    env = {"BETFAIR_STREAM_URL": "tls://127.0.0.1:4443", "BETFAIR_APP_KEY": APP_KEY,
           "BETFAIR_SESSION_TOKEN": SESSION, "BETFAIR_MARKET_FILTER": orjson.dumps(FILTER).decode(),
           "BETFAIR_HEARTBEAT_MS": "500", "BETFAIR_LADDER_LEVELS": "3"}
    env.update({k: str(v) for k, v in overrides.items()})
    return BetfairStreamConfig.from_env(env)


def sample(name: str, provider: str = "betfair", **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"provider": provider, **labels}) or 0.0


# -- requests ---------------------------------------------------------------------------------

def test_authentication_request_carries_the_app_key_and_session() -> None:
    assert authentication_request(config()) == {
        "op": "authentication", "id": 1, "appKey": APP_KEY, "session": SESSION}


def test_fresh_subscription_asks_for_the_adapters_fields() -> None:
    request = subscription_request(config())
    assert request == {
        "op": "marketSubscription", "id": 2, "marketFilter": FILTER,
        "marketDataFilter": {"fields": ["EX_BEST_OFFERS", "EX_TRADED", "EX_LTP", "EX_MARKET_DEF"],
                             "ladderLevels": 3},
        "heartbeatMs": 500, "segmentationEnabled": True}
    assert request["marketDataFilter"]["fields"] == list(BETFAIR_FIELDS)
    assert "conflateMs" not in request and "clk" not in request


def test_resubscription_is_the_same_request_with_the_clocks() -> None:
    fresh = subscription_request(config(BETFAIR_CONFLATE_MS=250, BETFAIR_LADDER_LEVELS=5))
    resumed = subscription_request(config(BETFAIR_CONFLATE_MS=250, BETFAIR_LADDER_LEVELS=5),
                                   ("init", "clk9"))
    assert fresh["conflateMs"] == 250 and fresh["marketDataFilter"]["ladderLevels"] == 5
    assert resumed == {**fresh, "initialClk": "init", "clk": "clk9"}


def test_requests_are_one_crlf_terminated_json_line() -> None:
    line = encode_request(subscription_request(config(), ("a", "b")))
    assert line.endswith(b"\r\n") and line.count(b"\n") == 1
    assert orjson.loads(line)["clk"] == "b"


def test_read_timeout_is_several_heartbeats_with_a_floor() -> None:
    assert read_timeout_s(config(BETFAIR_HEARTBEAT_MS=500)) == 5.0
    assert read_timeout_s(config(BETFAIR_HEARTBEAT_MS=5000)) == 15.0
    assert read_timeout_s(config(BETFAIR_HEARTBEAT_MS=5000, BETFAIR_CONFLATE_MS=10_000)) == 30.0


# -- clocks -----------------------------------------------------------------------------------

def test_clocks_keep_the_image_initial_clk_and_the_latest_clk() -> None:
    keeper = ClockKeeper()
    assert keeper.resume_point() is None
    keeper.observe({"op": "mcm", "clk": "c1"})
    assert keeper.resume_point() is None  # no initialClk yet: a fresh subscription
    keeper.observe({"op": "mcm", "initialClk": "i1", "clk": "c2", "ct": "SUB_IMAGE"})
    keeper.observe({"op": "mcm", "clk": "c3"})
    keeper.observe({"op": "mcm", "clk": "c4", "ct": "HEARTBEAT"})
    keeper.observe({"op": "mcm", "pt": 1})  # no clock: nothing changes
    assert keeper.resume_point() == ("i1", "c4")
    keeper.forget()
    assert keeper.resume_point() is None


def test_a_segmented_change_counts_once_its_last_segment_is_in() -> None:
    keeper = ClockKeeper()
    keeper.observe({"op": "mcm", "initialClk": "i1", "clk": "c1"})
    keeper.observe({"op": "mcm", "segmentType": "SEG_START", "clk": "c2", "initialClk": "i2"})
    keeper.observe({"op": "mcm", "segmentType": "SEG", "clk": "c3"})
    assert keeper.resume_point() == ("i1", "c1")
    keeper.observe({"op": "mcm", "segmentType": "SEG_END"})
    assert keeper.resume_point() == ("i2", "c3")
    keeper.observe({"op": "mcm", "segmentType": "SEG_START", "clk": "c4"})
    keeper.abandon_segment()  # the connection dropped mid-change
    keeper.observe({"op": "mcm", "segmentType": "SEG_END", "clk": "c5"})
    assert keeper.resume_point() == ("i2", "c5")


@pytest.mark.parametrize("bad", [None, 7, "", "x" * 257, ["c"], {"c": 1}])
def test_clocks_that_are_not_short_strings_are_ignored(bad: object) -> None:
    keeper = ClockKeeper()
    keeper.observe({"op": "mcm", "initialClk": "i", "clk": "c"})
    keeper.observe({"op": "mcm", "initialClk": bad, "clk": bad})
    assert keeper.resume_point() == ("i", "c")


# -- status policy ----------------------------------------------------------------------------

def status(**fields: Any) -> dict[str, Any]:
    return {"op": "status", "id": 1, **fields}


def test_success_continues() -> None:
    verdict = judge_status(status(statusCode="SUCCESS", connectionClosed=False))
    assert verdict.action is Action.CONTINUE


@pytest.mark.parametrize("code", ["NO_APP_KEY", "INVALID_APP_KEY", "NO_SESSION",
                                  "INVALID_SESSION_INFORMATION", "NOT_AUTHORIZED"])
def test_refused_credentials_stop_with_a_clear_message(code: str) -> None:
    verdict = judge_status(status(statusCode="FAILURE", errorCode=code, errorMessage="nope",
                                  connectionClosed=True))
    assert verdict.action is Action.STOP and verdict.code == code
    assert code in verdict.detail and "nope" in verdict.detail
    assert "BETFAIR_APP_KEY" in verdict.detail and "BETFAIR_SESSION_TOKEN" in verdict.detail


@pytest.mark.parametrize("code", ["INVALID_INPUT", "INVALID_REQUEST"])
def test_a_refused_request_stops(code: str) -> None:
    verdict = judge_status(status(statusCode="FAILURE", errorCode=code, connectionClosed=True))
    assert verdict.action is Action.STOP and "BETFAIR_MARKET_FILTER" in verdict.detail


def test_an_invalid_clock_subscribes_afresh() -> None:
    verdict = judge_status(status(statusCode="FAILURE", errorCode="INVALID_CLOCK"))
    assert verdict.action is Action.SUBSCRIBE_AFRESH and verdict.code == "INVALID_CLOCK"


@pytest.mark.parametrize("code", ["TIMEOUT", "CONNECTION_FAILED", "UNEXPECTED_ERROR",
                                  "MAX_CONNECTION_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS",
                                  "SUBSCRIPTION_LIMIT_EXCEEDED"])
def test_everything_else_reconnects(code: str) -> None:
    verdict = judge_status(status(statusCode="FAILURE", errorCode=code, connectionClosed=True))
    assert verdict.action is Action.RECONNECT and verdict.code == code


def test_odd_statuses_reconnect_and_are_labelled_other() -> None:
    closed = judge_status(status(statusCode="SUCCESS", connectionClosed=True))
    assert closed.action is Action.RECONNECT and closed.code == "OTHER"
    hostile = judge_status(status(statusCode="FAILURE", errorCode="X" * 5000,
                                  errorMessage="y" * 5000))
    assert hostile.action is Action.RECONNECT and hostile.code == "OTHER"
    assert len(hostile.detail) < 1000
    typed = judge_status(status(statusCode=None, errorCode=["INVALID_APP_KEY"]))
    assert typed.action is Action.RECONNECT and typed.code == "OTHER"


# -- lines ------------------------------------------------------------------------------------

def test_lines_are_cut_at_crlf_across_chunks() -> None:
    splitter = LineSplitter(max_bytes=100)
    assert splitter.feed(b'{"a":1}\r\n{"b"') == [b'{"a":1}']
    assert splitter.feed(b":2}\r") == []
    assert splitter.feed(b"\n\r\n\nbare\n") == [b'{"b":2}', b"bare"]
    assert splitter.oversized == 0


def test_an_oversized_line_is_skipped_and_the_next_one_kept() -> None:
    splitter = LineSplitter(max_bytes=10)
    assert splitter.feed(b"x" * 8) == []
    assert splitter.feed(b"y" * 8) == []  # past the limit: dropped as it comes
    assert splitter.feed(b"z" * 50) == []
    assert splitter.feed(b"zz\r\nok\r\n" + b"w" * 11 + b"\r\nlast") == [b"ok"]
    assert splitter.oversized == 2
    assert splitter.feed(b"\r\n") == [b"last"]


@pytest.mark.parametrize("line", [b"not json", b"[1,2]", b'{"pt":1}', b'{"op":3}', b"\xff\xfe",
                                  b'{"op":"mcm"', b"null"])
def test_malformed_lines_decode_to_none(line: bytes) -> None:
    assert decode(line) is None


# -- the protocol, against a local TLS server ---------------------------------------------------

class RecordingWriter:
    """The RawTopicWriter's interface, keeping what it is sent."""

    topic = "feed.raw.betfair.v1"

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes, tuple[tuple[str, bytes], ...]]] = []
        self.flushes = 0
        self.in_flight = 0
        self.failing_since: float | None = None
        self.last_ack = 0.0

    async def send(self, key: bytes, value: bytes, headers: tuple[tuple[str, bytes], ...],
                   on_acked: Callable[[], None]) -> None:
        self.sent.append((key, value, headers))
        on_acked()

    async def flush(self) -> None:
        self.flushes += 1


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> StreamTls:
    return StreamTls.make(tmp_path_factory.mktemp("tls"))


@contextlib.asynccontextmanager
async def serving(tls: StreamTls, feed: Any, **kwargs: Any) -> AsyncIterator[
        tuple[FakeExchangeStream, BetfairStreamConfig]]:
    server = FakeExchangeStream(tls, APP_KEY, SESSION, feed, **kwargs)
    port = await server.start()
    try:
        yield server, config(BETFAIR_STREAM_URL=f"tls://127.0.0.1:{port}",
                             BETFAIR_STREAM_CAFILE=tls.cafile)
    finally:
        await server.stop()


def ingestor_for(settings: BetfairStreamConfig) -> tuple[BetfairIngestor, RecordingWriter]:
    writer = RecordingWriter()
    ingestor = BetfairIngestor(settings, writer,  # type: ignore[arg-type]
                               Backoff(initial_s=0.01, cap_s=0.05))
    return ingestor, writer


async def until(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not true within {seconds}s")


async def stopped(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    async with asyncio.timeout(15):
        await task


async def test_replay_with_a_drop_resumes_from_the_last_clk_handed_over(tls: StreamTls) -> None:
    replay = Replay.from_file(RECORDED, drop_after=199,
                              inject={100: [b"this is not json", b'{"no":"op"}'],
                                      300: [b'{"op":"ocm","id":2}']})
    reconnects = sample("odds_ingest_reconnects_total")
    malformed = sample("odds_ingest_provider_errors_total", code=MALFORMED)
    unexpected = sample("odds_ingest_provider_errors_total", code=UNEXPECTED_OP)
    async with serving(tls, replay) as (server, settings):
        ingestor, writer = ingestor_for(settings)
        stop = asyncio.Event()
        task = asyncio.create_task(ingestor.run(stop))
        await until(lambda: len(writer.sent) >= 480 + 3)
        assert ingestor.status.connected
        await stopped(task, stop)

    assert writer.flushes == 1
    assert replay.resumed_at == [0, 200]
    first, second = server.subscriptions
    assert "clk" not in first and "initialClk" not in first
    assert first["marketFilter"] == FILTER
    assert second["initialClk"] == INITIAL_CLK
    assert second["clk"] == replay.lines[199]["clk"]
    assert {k: v for k, v in second.items() if k not in ("initialClk", "clk")} == first
    assert all(a == authentication_request(settings) for a in server.authentications)

    values = [value for _, value, _ in writer.sent]
    assert {key for key, _, _ in writer.sent} == {b"betfair:exchange"}
    assert all(h[0][0] == "received_ms" and int(h[0][1]) > 0 for _, _, h in writer.sent)
    bad = {b"this is not json", b'{"no":"op"}', b'{"op":"ocm","id":2}'}
    forwarded = [orjson.loads(v) for v in values if v not in bad]
    assert [m.get("clk") for m in forwarded[:480]] == [line["clk"] for line in replay.lines]
    assert forwarded[0]["ct"] == "SUB_IMAGE" and forwarded[200]["ct"] == "RESUB_DELTA"
    assert values[101:103] == [b"this is not json", b'{"no":"op"}']  # in order, as received
    assert sample("odds_ingest_reconnects_total") - reconnects == 1
    assert sample("odds_ingest_provider_errors_total", code=MALFORMED) - malformed == 2
    assert sample("odds_ingest_provider_errors_total", code=UNEXPECTED_OP) - unexpected == 1
    assert ingestor.status.messages == len(writer.sent)


async def test_a_refused_session_stops_the_ingestor(tls: StreamTls) -> None:
    async def never(_session: Session) -> None:
        raise AssertionError("subscribed with a bad session")

    errors = sample("odds_ingest_provider_errors_total", code="INVALID_SESSION_INFORMATION")
    async with serving(tls, never) as (server, settings):
        ingestor, writer = ingestor_for(BetfairStreamConfig(
            **{**settings.__dict__, "session_token": "expired"}))
        with pytest.raises(IngestFatal, match=r"INVALID_SESSION_INFORMATION.*"
                                              r"BETFAIR_SESSION_TOKEN"):
            await asyncio.wait_for(ingestor.run(asyncio.Event()), 15)
    assert server.connections == 1 and not server.subscriptions
    assert not ingestor.status.connected
    assert "INVALID_SESSION_INFORMATION" in ingestor.status.last_problem
    assert sample("odds_ingest_provider_errors_total",
                  code="INVALID_SESSION_INFORMATION") - errors == 1
    assert writer.flushes == 1


async def test_missing_credentials_stop_before_connecting() -> None:
    ingestor, _ = ingestor_for(config(BETFAIR_SESSION_TOKEN=""))
    with pytest.raises(IngestFatal, match="BETFAIR_SESSION_TOKEN"):
        await ingestor.run(asyncio.Event())


async def test_an_invalid_clock_forgets_the_clocks_and_subscribes_afresh(
        tls: StreamTls) -> None:
    replay = Replay.from_file(RECORDED)
    async with serving(tls, replay) as (server, settings):
        ingestor, writer = ingestor_for(settings)
        ingestor.clocks.observe({"initialClk": "stale", "clk": "stale"})
        stop = asyncio.Event()
        task = asyncio.create_task(ingestor.run(stop))
        await until(lambda: len(writer.sent) >= 480)
        await stopped(task, stop)
    first, second = server.subscriptions
    assert (first["initialClk"], first["clk"]) == ("stale", "stale")
    assert "clk" not in second
    assert replay.resumed_at == [0]
    assert ingestor.clocks.resume_point() == (INITIAL_CLK, replay.lines[-1]["clk"])


async def test_an_error_status_mid_stream_reconnects_and_resumes(tls: StreamTls) -> None:
    lines = Replay.from_file(RECORDED).lines[:20]

    async def first_then_failure(session: Session) -> None:
        if session.index == 0:
            await session.send({"op": "status", "id": 2, "statusCode": "SUCCESS"})
            for line in lines[:10]:
                await session.send({"op": "mcm", "id": 2, **line,
                                    **({"initialClk": INITIAL_CLK} if line is lines[0] else {})})
            await session.send({"op": "status", "statusCode": "FAILURE",
                                "errorCode": "TOO_MANY_REQUESTS", "connectionClosed": True})
            await session.heartbeats(lines[9]["clk"])  # the client must go on its own
            return
        await Replay(lines)(session)

    errors = sample("odds_ingest_provider_errors_total", code="TOO_MANY_REQUESTS")
    async with serving(tls, first_then_failure) as (server, settings):
        ingestor, writer = ingestor_for(settings)
        stop = asyncio.Event()
        task = asyncio.create_task(ingestor.run(stop))
        await until(lambda: len(server.subscriptions) == 2 and len(writer.sent) >= 20)
        await stopped(task, stop)
    assert server.subscriptions[1]["clk"] == lines[9]["clk"]
    assert sample("odds_ingest_provider_errors_total", code="TOO_MANY_REQUESTS") - errors == 1


async def test_a_silent_connection_is_dropped_after_the_read_timeout(tls: StreamTls) -> None:
    lines = Replay.from_file(RECORDED).lines[:5]

    async def silent_first(session: Session) -> None:
        if session.index == 0:
            await session.send({"op": "status", "id": 2, "statusCode": "SUCCESS"})
            await session.send({"op": "mcm", "id": 2, "initialClk": INITIAL_CLK, **lines[0]})
            await asyncio.sleep(30)  # no heartbeats: a half-dead connection
            return
        await Replay(lines)(session)

    async with serving(tls, silent_first) as (server, settings):
        ingestor, _ = ingestor_for(settings)
        ingestor.read_timeout_s = 0.3
        stop = asyncio.Event()
        task = asyncio.create_task(ingestor.run(stop))
        await until(lambda: len(server.subscriptions) == 2)
        assert "no line from Betfair" in ingestor.status.last_problem
        await stopped(task, stop)
    assert server.subscriptions[1]["clk"] == lines[0]["clk"]


async def test_stop_while_reconnecting_returns_promptly(tls: StreamTls) -> None:
    ingestor, writer = ingestor_for(config(BETFAIR_STREAM_URL="tls://127.0.0.1:9",
                                           BETFAIR_STREAM_CAFILE=tls.cafile))
    ingestor.backoff = Backoff(initial_s=60, cap_s=60)
    stop = asyncio.Event()
    task = asyncio.create_task(ingestor.run(stop))
    await until(lambda: "Error" in ingestor.status.last_problem)
    await stopped(task, stop)
    assert writer.flushes == 1 and not writer.sent


async def test_a_line_too_long_for_the_topic_is_dropped_and_counted(
        tls: StreamTls, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(betfair_stream, "MAX_LINE_BYTES", 4096)
    lines = Replay.from_file(RECORDED).lines[:3]
    big = orjson.dumps({"op": "mcm", "id": 2, "pt": 1, "mc": [{"id": "1.1", "x": "y" * 9000}]})
    replay = Replay(lines, inject={0: [big]})
    oversized = sample("odds_ingest_provider_errors_total", code=betfair_stream.OVERSIZED)
    async with serving(tls, replay) as (_server, settings):
        ingestor, writer = ingestor_for(settings)
        stop = asyncio.Event()
        task = asyncio.create_task(ingestor.run(stop))
        await until(lambda: len(writer.sent) >= 3)
        await stopped(task, stop)
    assert [orjson.loads(v)["clk"] for _, v, _ in writer.sent] == [m["clk"] for m in lines]
    assert sample("odds_ingest_provider_errors_total",
                  code=betfair_stream.OVERSIZED) - oversized == 1
