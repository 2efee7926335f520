"""``faust -A app ingest betfair`` against a local Exchange Stream server, into the platform.

The server (tests/betfair_stream_server.py: TLS with a CA made here) checks the authentication
and the subscription, replays the recorded race, drops the connection once mid-file and
resumes from the clocks the re-subscription carries; the platform's market must then equal
betfairlightweight's cache for the same file, as after a replay (test_feeds).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from config.settings import BETFAIR_FIELDS
from tests.betfair_stream_server import INITIAL_CLK, FakeExchangeStream, Replay, Session, StreamTls
from tests.integration.betfair_oracle import (
    BETFAIR_FILE,
    assert_matches_betfairlightweight,
    betfairlightweight_books,
    settled_market,
)
from tests.integration.support import Platform, Worker, eventually, read_all

pytestmark = pytest.mark.timeout(300)

APP_KEY, SESSION = "integration-app-key", "integration-session-token"
MARKET_FILTER = {"marketIds": ["1.132153978"], "eventTypeIds": ["7"]}
DROP_AFTER = 239  # the first connection ends after this line (of 480)
BAD_LINES = [b"this line is not JSON", b'{"clk":"no op","pt":1}']


@pytest.fixture
def tls(tmp_path: Path) -> StreamTls:
    return StreamTls.make(tmp_path)


def betfair_env(tls: StreamTls, port: int, session: str = SESSION) -> dict[str, str]:
    return {"BETFAIR_STREAM_URL": f"tls://127.0.0.1:{port}",
            "BETFAIR_STREAM_CAFILE": str(tls.cafile),
            "BETFAIR_APP_KEY": APP_KEY, "BETFAIR_SESSION_TOKEN": session,
            "BETFAIR_MARKET_FILTER": json.dumps(MARKET_FILTER),
            "BETFAIR_HEARTBEAT_MS": "1000"}


async def wait_ready(ingestor: Worker, seconds: float = 90) -> None:
    async def ready() -> bool:
        if ingestor.proc.poll() is not None:
            raise AssertionError(f"the ingestor exited:\n{ingestor.log_tail()}")
        return await ingestor.ready()

    await eventually(ready, seconds, "the ingestor's /ready")


async def test_live_stream_with_a_drop_matches_betfairlightweight(
        platform: Platform, tls: StreamTls) -> None:
    worker = await platform.start_worker()
    replay = Replay.from_file(BETFAIR_FILE, drop_after=DROP_AFTER, inject={100: BAD_LINES})
    server = FakeExchangeStream(tls, APP_KEY, SESSION, replay)
    port = await server.start()
    try:
        ingestor = platform.spawn_ingestor("betfair", betfair_env(tls, port))
        await wait_ready(ingestor)
        (book,) = betfairlightweight_books()
        assert_matches_betfairlightweight(await settled_market(worker, book, 120), book)

        # The subscription as configured; the re-subscription the same, with the clocks of
        # the last line the first connection delivered.
        first, second = server.subscriptions
        assert first["marketFilter"] == MARKET_FILTER
        assert first["marketDataFilter"] == {"fields": list(BETFAIR_FIELDS), "ladderLevels": 3}
        assert first["heartbeatMs"] == 1000 and first["segmentationEnabled"] is True
        assert "clk" not in first and "initialClk" not in first
        assert second["initialClk"] == INITIAL_CLK
        assert second["clk"] == replay.lines[DROP_AFTER]["clk"]
        assert {k: v for k, v in second.items() if k not in ("initialClk", "clk")} == first
        assert replay.dropped and replay.resumed_at == [0, DROP_AFTER + 1]
        assert [(a["appKey"], a["session"]) for a in server.authentications] == \
            [(APP_KEY, SESSION)] * 2

        assert await ingestor.ready()
        sent = len(replay.lines) + len(BAD_LINES)
        status, health = await ingestor.get("/health")
        assert status == 200 and health["status"] == "ok" and health["messages"] >= sent
        betfair = {"provider": "betfair"}
        assert await ingestor.metric("odds_ingest_messages_total", **betfair) >= sent
        assert await ingestor.metric("odds_ingest_acked_total", **betfair) >= sent
        assert await ingestor.metric("odds_ingest_reconnects_total", **betfair) == 1
        assert await ingestor.metric("odds_ingest_connected", **betfair) == 1
        assert await ingestor.metric("odds_ingest_provider_errors_total", provider="betfair",
                                     code="malformed_line") == len(BAD_LINES)
        assert await ingestor.metric("odds_ingest_lag_seconds_count", **betfair) >= \
            len(replay.lines)

        # The bad lines went on as received; the platform's splitter dead-lettered them.
        letters = await eventually(lambda: read_all(platform.topic("feed.dlq.v1")), 30,
                                   "the dead letters of the bad lines")
        assert sorted(letter["original"] for _, letter in letters) == \
            sorted(line.decode() for line in BAD_LINES)
        assert {letter["source"]["topic"] for _, letter in letters} == \
            {platform.topic("feed.raw.betfair.v1")}

        ingestor.proc.terminate()
        assert await asyncio.to_thread(ingestor.proc.wait, 30) == 0
        log = ingestor.log.read_text(errors="replace")
        assert "Traceback" not in log and "stopped after" in log
        assert SESSION not in log and APP_KEY not in log
    finally:
        await server.stop()


async def test_a_refused_session_stops_the_ingestor_with_a_clear_message(
        platform: Platform, tls: StreamTls) -> None:
    async def never(_session: Session) -> None:
        raise AssertionError("subscribed with a refused session")

    server = FakeExchangeStream(tls, APP_KEY, SESSION, never)
    port = await server.start()
    try:
        ingestor = platform.spawn_ingestor("betfair",
                                           betfair_env(tls, port, session="expired-token"))
        code = await asyncio.to_thread(ingestor.proc.wait, 90)
        log = ingestor.log.read_text(errors="replace")
        assert code != 0, log
        assert "INVALID_SESSION_INFORMATION" in log and "BETFAIR_SESSION_TOKEN" in log, log
        assert "Traceback" not in log, log
        assert "expired-token" not in log
        assert server.connections == 1 and not server.subscriptions  # no retry
    finally:
        await server.stop()
