"""The recovery agent: asks Sportradar's UOF API to resend what a down producer missed."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import aiohttp
from faust.types import StreamT

from app import metrics, topics
from app.clock import now_ms
from app.faust_app import app, settings
from feeds.uof_api import (
    RecoveryApiError,
    RecoveryRequest,
    RecoveryRequestError,
    decode_request,
    recovery_url,
    request_recovery,
)

log = logging.getLogger(__name__)

SENT, FAILED, SKIPPED = "sent", "failed", "skipped"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently one request is tried before it is given up."""

    attempts: int = 3
    timeout_s: float = 2.5
    backoff_s: float = 0.5
    backoff_cap_s: float = 2.0

    def delay(self, attempt: int) -> float:
        """Return the wait after failed attempt ``attempt`` (1-based): doubling, capped."""
        return float(min(self.backoff_cap_s, self.backoff_s * 2 ** (attempt - 1)))


@dataclass(slots=True)
class Recoverer:
    """What handling a record needs, and the last request id sent per producer."""

    session: aiohttp.ClientSession
    base_url: str
    token: str = field(repr=False)
    #: A request older than this has been asked again with a new id (RECOVERY_RETRY_SECONDS).
    stale_after_ms: int = 60_000
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    last_sent: dict[int, int] = field(default_factory=dict)


class Notices:
    """Warnings written once per process."""

    no_token = False


def _outcome(producer: str, outcome: str) -> str:
    metrics.RECOVERY_REQUESTS.labels(producer, outcome).inc()
    return outcome


def _describe(request: RecoveryRequest) -> str:
    return (f"recovery request {request.request_id} of producer {request.producer}"
            f" ({request.reason})")


async def _post(recoverer: Recoverer, request: RecoveryRequest, url: str) -> str:
    retry = recoverer.retry
    problem = ""
    for attempt in range(1, retry.attempts + 1):
        try:
            status = await request_recovery(recoverer.session, url, recoverer.token,
                                            retry.timeout_s)
        except RecoveryApiError as exc:
            problem = str(exc)
        else:
            if 200 <= status < 300:
                log.info("%s sent: POST %s -> %d", _describe(request), url, status)
                recoverer.last_sent[request.producer] = request.request_id
                return _outcome(str(request.producer), SENT)
            problem = f"HTTP {status}"
        if attempt < retry.attempts:
            log.info("%s: attempt %d of %d failed (%s), again in %.1fs", _describe(request),
                     attempt, retry.attempts, problem, retry.delay(attempt))
            await asyncio.sleep(retry.delay(attempt))
    log.warning("%s given up after %d attempts: POST %s: %s; the platform asks again with a"
                " new id after RECOVERY_RETRY_SECONDS", _describe(request), retry.attempts,
                url, problem)
    return _outcome(str(request.producer), FAILED)


async def handle_record(recoverer: Recoverer, raw: bytes | None, now: int,
                        where: str = "") -> str:
    """Send one record's recovery request, or log why not; return the outcome counted."""
    try:
        request = decode_request(raw)
    except RecoveryRequestError as exc:
        log.warning("malformed recovery request %s skipped: %s", where, exc)
        return _outcome("unknown", SKIPPED)
    producer = str(request.producer)
    url = recovery_url(recoverer.base_url, request, now)
    if url is None:
        log.info("%s skipped: the UOF API does not recover this producer",
                 _describe(request))
        return _outcome(producer, SKIPPED)
    if not recoverer.token:
        if not Notices.no_token:
            Notices.no_token = True
            log.warning("no UOF_ACCESS_TOKEN: recovery requests are not sent to the UOF API")
        return _outcome(producer, SKIPPED)
    age_ms = now - request.requested_ts
    if age_ms > recoverer.stale_after_ms:
        # Superseded by a retry with a new id; sending it would spend the API's rate limit
        # on an id whose snapshot_complete the platform no longer waits for.
        log.info("%s skipped: %.0fs old, answered or asked again since", _describe(request),
                 age_ms / 1000)
        return _outcome(producer, SKIPPED)
    if recoverer.last_sent.get(request.producer) == request.request_id:
        log.info("%s skipped: already sent (redelivered record)", _describe(request))
        return _outcome(producer, SKIPPED)
    return await _post(recoverer, request, url)


if settings.recovery_service == "on":

    @app.agent(topics.recovery_requests, name="recovery")
    async def recovery(stream: StreamT[bytes]) -> None:
        """POST each recovery request of ``recovery_requests.v1`` to the UOF API."""
        async with aiohttp.ClientSession() as session:
            recoverer = Recoverer(session, settings.uof_api_url, settings.uof_access_token,
                                  int(settings.recovery_retry_seconds * 1000))
            async for event in stream.events():
                message = event.message
                await handle_record(recoverer, message.value, now_ms(),
                                    f"{message.topic}[{message.partition}]@{message.offset}")
