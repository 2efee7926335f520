"""What every ingestor shares: its status, its ``/health``, ``/ready`` and ``/metrics``."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from app import metrics
from app.probes import Verdict, probes_app
from ingest.raw_writer import RawTopicWriter

#: Characters of a provider's text or an error quoted in a log line or ``/ready``.
SHOWN = 300


class IngestFatal(Exception):
    """The provider refused the ingestor for good (e.g. bad credentials): stop, do not retry."""


@dataclass(slots=True)
class IngestStatus:
    """What the probes read: the provider connection and the last message's arrival."""

    provider: str
    connected: bool = False
    messages: int = 0
    last_message: float = field(default_factory=time.monotonic)
    last_problem: str = ""

    def set_connected(self, connected: bool, problem: str = "") -> None:
        self.connected = connected
        if problem:
            self.last_problem = problem
        metrics.INGEST_CONNECTED.labels(self.provider).set(1 if connected else 0)

    def connection_lost(self, exc: BaseException) -> str:
        """Count a connection lost or refused; return the problem as shown (logs, ``/ready``)."""
        problem = f"{type(exc).__name__}: {exc}"[:SHOWN]
        self.set_connected(False, problem)
        metrics.INGEST_RECONNECTS.labels(self.provider).inc()
        return problem


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class Ingestor(Protocol):
    """A provider client: ``run`` until ``stop`` is set, reconnecting on its own."""

    status: IngestStatus
    writer: RawTopicWriter

    async def run(self, stop: asyncio.Event) -> None: ...


def readiness_problems(ingestor: Ingestor, stall_seconds: float) -> list[str]:
    """Return why the ingestor is not ready (empty when it is)."""
    problems = []
    status, writer = ingestor.status, ingestor.writer
    if not status.connected:
        detail = f" ({status.last_problem})" if status.last_problem else ""
        problems.append(f"not connected to {status.provider}{detail}")
    if writer.failing_since is not None:
        problems.append(f"Kafka has refused records for "
                        f"{time.monotonic() - writer.failing_since:.0f}s")
    elif writer.in_flight and time.monotonic() - writer.last_ack > stall_seconds:
        problems.append(f"Kafka has acknowledged nothing for {stall_seconds:.0f}s")
    return problems


def health_app(ingestor: Ingestor, stall_seconds: float) -> web.Application:
    """Return the ingestor's probe and metrics endpoints."""

    async def health() -> Verdict:
        # Alive while the loop answers and Kafka takes records; a provider outage is not
        # fixed by a restart (the ingestor reconnects), so it only makes the ingestor unready.
        writer = ingestor.writer
        if writer.failing_since is not None and \
                time.monotonic() - writer.failing_since > stall_seconds:
            return 503, {"status": "unhealthy", "reason": "Kafka refuses records"}
        return 200, {"status": "ok", "messages": ingestor.status.messages}

    async def ready() -> Verdict:
        problems = readiness_problems(ingestor, stall_seconds)
        if problems:
            return 503, {"status": "not_ready", "reasons": problems}
        return 200, {"status": "ready"}

    return probes_app(health, ready)


def lag_seconds(provider_ts_ms: int, received_s: float) -> float:
    """How far behind the provider's own timestamp a message arrived, clamped to [0,
    ``E2E_CAP_SECONDS``] as the end-to-end latency is (a replayed recording's timestamps
    are hours old)."""
    return min(metrics.E2E_CAP_SECONDS, max(0.0, received_s - provider_ts_ms / 1000))


class LagBatch:
    """``odds_ingest_lag_seconds`` of one provider, observed per message but applied to the
    Prometheus histogram in batches: ``add`` per message, ``flush`` once per loop pass.

    ``Histogram.observe`` takes two locks and walks the buckets, per call: too much per
    message on the ingestors' hot path (docs/decisions/0007). The flush adds to the
    histogram's own bucket and sum values (prometheus_client's internals, pinned; a unit test
    compares the result with plain ``observe`` calls)."""

    __slots__ = ("_bounds", "_child", "_counts", "_sum")

    def __init__(self, provider: str) -> None:
        self._child = metrics.INGEST_LAG.labels(provider)
        self._bounds: list[float] = list(self._child._upper_bounds)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0

    def add(self, provider_ts_ms: int, received_s: float) -> None:
        """One message's lag (``lag_seconds``)."""
        lag = lag_seconds(provider_ts_ms, received_s)
        # Prometheus's bucket: the first upper bound >= the value (the last one is +Inf).
        self._counts[bisect.bisect_left(self._bounds, lag)] += 1
        self._sum += lag

    def flush(self) -> None:
        counts, child = self._counts, self._child
        for index, count in enumerate(counts):
            if count:
                child._buckets[index].inc(count)
                counts[index] = 0
        if self._sum:
            child._sum.inc(self._sum)
            self._sum = 0.0

