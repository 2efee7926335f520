"""The recovery service against a real HTTP server on 127.0.0.1: URLs, token, retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from agents import recovery as agent
from feeds.uof_api import (
    RecoveryApiError,
    RecoveryRequest,
    RecoveryRequestError,
    decode_request,
    recovery_url,
    request_recovery,
)
from tests.unit.broker_fakes import closed_port

HOUR_MS = 3_600_000
NOW = 1_700_000_000_000
TOKEN = "t0ken-s3cret"
FAST = agent.RetryPolicy(attempts=3, timeout_s=1.0, backoff_s=0.01, backoff_cap_s=0.02)


def request(producer: int = 1, request_id: int = 7, after_ts: int | None = NOW - HOUR_MS,
            reason: str = "silent", requested_ts: int = NOW) -> RecoveryRequest:
    return RecoveryRequest(producer, request_id, after_ts, reason, requested_ts)


def record(**fields: Any) -> bytes:
    value = {"producer": 1, "request_id": 7, "after_ts": NOW - HOUR_MS, "reason": "silent",
             "requested_ts": NOW, **fields}
    return orjson.dumps(value)


@dataclass
class FakeUofApi:
    """A real aiohttp server that records each request and answers with scripted statuses."""

    base_url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0

    async def handle(self, req: web.Request) -> web.Response:
        self.seen.append({"method": req.method, "path": req.path, "query": dict(req.query),
                          "headers": dict(req.headers)})
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status = self.statuses.pop(0) if self.statuses else 202
        return web.Response(status=status, text='<response response_code="ACCEPTED"/>')


@pytest.fixture
async def api() -> AsyncIterator[FakeUofApi]:
    fake = FakeUofApi()
    server = web.Application()
    server.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.base_url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def counted(producer: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("odds_recovery_requests_total",
                                     {"producer": producer, "outcome": outcome}) or 0.0


# --- the URL (pure) -----------------------------------------------------------------------------


def test_after_within_the_window() -> None:
    url = recovery_url("https://api.betradar.com", request(), NOW)
    assert url == ("https://api.betradar.com/v1/liveodds/recovery/initiate_request"
                   f"?after={NOW - HOUR_MS}&request_id=7")


@pytest.mark.parametrize("after_ts", [None, 0, NOW - 72 * HOUR_MS, NOW - 100 * HOUR_MS])
def test_full_recovery_without_after_or_when_it_is_too_old(after_ts: int | None) -> None:
    url = recovery_url("https://api.betradar.com/", request(3, 9, after_ts), NOW)
    assert url == "https://api.betradar.com/v1/pre/recovery/initiate_request?request_id=9"


def test_each_producer_has_its_own_window() -> None:
    # Virtual producers: 3 h.
    assert "after=" not in (recovery_url("http://h", request(6, 1, NOW - 4 * HOUR_MS), NOW)
                            or "")
    assert recovery_url("http://h", request(6, 1, NOW - 2 * HOUR_MS), NOW) == (
        f"http://h/v1/vf/recovery/initiate_request?after={NOW - 2 * HOUR_MS}&request_id=1")


@pytest.mark.parametrize("producer", [100, 999])
def test_no_url_for_a_producer_the_api_does_not_recover(producer: int) -> None:
    assert recovery_url("https://api.betradar.com", request(producer), NOW) is None


def test_decode_request() -> None:
    assert decode_request(record(after_ts=None, reason="startup")) == request(
        after_ts=None, reason="startup")


@pytest.mark.parametrize("raw", [None, b"", b"{", b"[]", b'"x"', record(producer="1"),
                                 record(producer=True), record(request_id=0),
                                 record(after_ts=-1), record(after_ts="1"), record(reason=1),
                                 orjson.dumps({"producer": 1})])
def test_malformed_records_are_clear_errors(raw: bytes | None) -> None:
    with pytest.raises(RecoveryRequestError):
        decode_request(raw)


# --- the HTTP call ------------------------------------------------------------------------------


async def test_post_carries_the_token_in_a_header(api: FakeUofApi,
                                                  session: aiohttp.ClientSession) -> None:
    url = recovery_url(api.base_url, request(), NOW)
    assert url is not None and TOKEN not in url
    assert await request_recovery(session, url, TOKEN, 2.0) == 202
    [seen] = api.seen
    assert seen["method"] == "POST"
    assert seen["path"] == "/v1/liveodds/recovery/initiate_request"
    assert seen["query"] == {"after": str(NOW - HOUR_MS), "request_id": "7"}
    assert seen["headers"]["x-access-token"] == TOKEN


async def test_full_recovery_request_has_no_after(api: FakeUofApi,
                                                  session: aiohttp.ClientSession) -> None:
    for after_ts in (None, NOW - 80 * HOUR_MS):
        url = recovery_url(api.base_url, request(3, 11, after_ts), NOW)
        assert url is not None
        assert await request_recovery(session, url, TOKEN, 2.0) == 202
    assert [s["path"] for s in api.seen] == ["/v1/pre/recovery/initiate_request"] * 2
    assert [s["query"] for s in api.seen] == [{"request_id": "11"}] * 2


async def test_the_status_is_returned_not_raised(api: FakeUofApi,
                                                 session: aiohttp.ClientSession) -> None:
    api.statuses = [403, 302]
    assert await request_recovery(session, f"{api.base_url}/x", TOKEN, 2.0) == 403
    # A redirect is not followed: it would take the token header elsewhere.
    assert await request_recovery(session, f"{api.base_url}/x", TOKEN, 2.0) == 302
    assert len(api.seen) == 2


async def test_network_errors_and_timeouts_raise_one_type(
        api: FakeUofApi, session: aiohttp.ClientSession) -> None:
    closed = closed_port()
    with pytest.raises(RecoveryApiError):
        await request_recovery(session, f"http://127.0.0.1:{closed}/x", TOKEN, 2.0)
    api.delay_s = 1.0
    with pytest.raises(RecoveryApiError, match=r"no answer within 0\.1s"):
        await request_recovery(session, f"{api.base_url}/x", TOKEN, 0.1)


# --- the agent's handling of one record ---------------------------------------------------------


def recoverer(session: aiohttp.ClientSession, base_url: str,
              token: str = TOKEN) -> agent.Recoverer:
    return agent.Recoverer(session, base_url, token, 60_000, FAST)


async def test_a_failed_answer_is_retried(api: FakeUofApi,
                                          session: aiohttp.ClientSession) -> None:
    api.statuses = [500]
    before = counted("1", "sent")
    assert await agent.handle_record(recoverer(session, api.base_url), record(), NOW) == "sent"
    assert [s["query"]["request_id"] for s in api.seen] == ["7", "7"]
    assert counted("1", "sent") == before + 1


async def test_given_up_after_the_attempts(api: FakeUofApi, session: aiohttp.ClientSession,
                                           caplog: pytest.LogCaptureFixture) -> None:
    api.statuses = [500, 503, 429]
    before = counted("3", "failed")
    with caplog.at_level(logging.INFO, logger="agents.recovery"):
        outcome = await agent.handle_record(recoverer(session, api.base_url),
                                            record(producer=3), NOW)
    assert outcome == "failed" and len(api.seen) == 3
    assert counted("3", "failed") == before + 1
    assert "given up after 3 attempts" in caplog.text and "HTTP 429" in caplog.text
    assert TOKEN not in caplog.text


async def test_an_unreachable_api_is_given_up(session: aiohttp.ClientSession) -> None:
    closed = closed_port()
    handler = recoverer(session, f"http://127.0.0.1:{closed}")
    assert await agent.handle_record(handler, record(), NOW) == "failed"


async def test_the_retry_policy_backs_off_and_is_capped() -> None:
    policy = agent.RetryPolicy()
    delays = [policy.delay(n) for n in range(1, policy.attempts)]
    assert delays == sorted(delays) and max(delays) <= policy.backoff_cap_s
    assert policy.attempts * policy.timeout_s + sum(delays) <= 10


async def test_no_token_skips_and_warns_once(api: FakeUofApi, session: aiohttp.ClientSession,
                                             caplog: pytest.LogCaptureFixture,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent.Notices, "no_token", False)
    handler = recoverer(session, api.base_url, token="")
    before = counted("1", "skipped")
    with caplog.at_level(logging.INFO, logger="agents.recovery"):
        for request_id in (1, 2, 3):
            assert await agent.handle_record(handler, record(request_id=request_id),
                                             NOW) == "skipped"
    assert not api.seen
    assert caplog.text.count("no UOF_ACCESS_TOKEN") == 1
    assert counted("1", "skipped") == before + 3


async def test_no_url_skips_without_a_request(api: FakeUofApi,
                                              session: aiohttp.ClientSession) -> None:
    handler = recoverer(session, api.base_url)
    for producer in (100, 999):
        assert await agent.handle_record(handler, record(producer=producer), NOW) == "skipped"
    assert not api.seen


async def test_a_malformed_record_is_skipped_and_the_next_one_sent(
        api: FakeUofApi, session: aiohttp.ClientSession,
        caplog: pytest.LogCaptureFixture) -> None:
    handler = recoverer(session, api.base_url)
    before = counted("unknown", "skipped")
    with caplog.at_level(logging.WARNING, logger="agents.recovery"):
        for raw in (b"\xff not json", b"[1]", None, record(request_id="7")):
            assert await agent.handle_record(handler, raw, NOW, "t[0]@5") == "skipped"
    assert "malformed recovery request t[0]@5 skipped" in caplog.text
    assert counted("unknown", "skipped") == before + 4
    assert await agent.handle_record(handler, record(), NOW) == "sent"
    assert len(api.seen) == 1


async def test_stale_and_redelivered_requests_are_not_sent_again(
        api: FakeUofApi, session: aiohttp.ClientSession) -> None:
    handler = recoverer(session, api.base_url)
    # Older than RECOVERY_RETRY_SECONDS: the platform has asked again with a new id.
    assert await agent.handle_record(handler, record(requested_ts=NOW - 61_000),
                                     NOW) == "skipped"
    assert await agent.handle_record(handler, record(), NOW) == "sent"
    assert await agent.handle_record(handler, record(), NOW) == "skipped"
    assert await agent.handle_record(handler, record(request_id=8), NOW) == "sent"
    assert [s["query"]["request_id"] for s in api.seen] == ["7", "8"]


def test_the_token_is_not_in_the_handlers_repr() -> None:
    handler = agent.Recoverer(None, "http://h", TOKEN)  # type: ignore[arg-type]
    assert TOKEN not in repr(handler)


def test_the_agent_runs_unless_the_service_is_off() -> None:
    import os
    import subprocess
    import sys

    from app.faust_app import app

    assert "recovery" in app.agents
    probe = ("import app.faust_app as f, agents.recovery as r; "
             "print('recovery' in f.app.agents, hasattr(r, 'recovery'))")
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           env={**os.environ, "RECOVERY_SERVICE": "off"}, check=True,
                           timeout=60)
    assert found.stdout.split()[-2:] == ["False", "False"]
