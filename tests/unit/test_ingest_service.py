"""An ingestor's probes: ready only while subscribed and Kafka takes records; unhealthy only
when Kafka has refused records for longer than the stall limit."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ingest.service import IngestStatus, health_app, readiness_problems
from tests.unit.probing import get_json


@dataclass
class FakeWriter:
    """What the probes read of a RawTopicWriter."""

    failing_since: float | None = None
    in_flight: int = 0
    last_ack: float = field(default_factory=time.monotonic)


@dataclass
class FakeIngestor:
    status: IngestStatus = field(default_factory=lambda: IngestStatus("uof"))
    writer: Any = field(default_factory=FakeWriter)

    async def run(self, stop: Any) -> None:
        return None


async def probe(ingestor: FakeIngestor, path: str) -> tuple[int, Any]:
    return await get_json(health_app(ingestor, stall_seconds=30), path)


async def test_ready_once_connected() -> None:
    ingestor = FakeIngestor()
    ingestor.status.set_connected(False, "ConnectionRefusedError: 111")
    status, body = await probe(ingestor, "/ready")
    assert status == 503
    assert body["reasons"] == ["not connected to uof (ConnectionRefusedError: 111)"]
    ingestor.status.set_connected(True)
    assert await probe(ingestor, "/ready") == (200, {"status": "ready"})
    assert (await probe(ingestor, "/health"))[0] == 200


async def test_kafka_refusing_records() -> None:
    ingestor = FakeIngestor()
    ingestor.status.set_connected(True)
    ingestor.writer.failing_since = time.monotonic() - 5
    assert readiness_problems(ingestor, 30) == ["Kafka has refused records for 5s"]
    assert (await probe(ingestor, "/health"))[0] == 200  # not yet for long
    ingestor.writer.failing_since = time.monotonic() - 31
    status, body = await probe(ingestor, "/health")
    assert status == 503 and body["reason"] == "Kafka refuses records"


def test_acknowledgements_stalled() -> None:
    ingestor = FakeIngestor()
    ingestor.status.set_connected(True)
    ingestor.writer.in_flight = 10
    ingestor.writer.last_ack = time.monotonic() - 40
    assert readiness_problems(ingestor, 30) == ["Kafka has acknowledged nothing for 30s"]
    ingestor.writer.in_flight = 0
    assert readiness_problems(ingestor, 30) == []


def test_lag_batches_equal_plain_observations() -> None:
    from prometheus_client import CollectorRegistry, Histogram

    from app import metrics
    from ingest.service import LagBatch

    registry = CollectorRegistry()
    plain = Histogram("lag_plain", "", ["provider"], registry=registry,
                      buckets=metrics.INGEST_LAG._upper_bounds[:-1]).labels("x")
    batched = LagBatch("test-lag-batch")
    now = 1_700_000_100.0
    # Either side of every bound, exactly on it, negative (a fast clock) and beyond the cap.
    stamps = [int((now - lag) * 1000) for lag in (
        0.0, 0.004, 0.005, 0.0051, 0.3, 1.0, 2.5, 7.0, 59.999, 60.0, 61.0, 600.0, -3.0,
        metrics.E2E_CAP_SECONDS * 2)]
    for passes in range(2):
        for stamp in stamps:
            batched.add(stamp, now)
            plain.observe(min(metrics.E2E_CAP_SECONDS, max(0.0, now - stamp / 1000)))
        batched.flush()
        batched.flush()  # nothing twice

        def samples(collected: Any) -> list[tuple[str, dict[str, str], float]]:
            return [(s.name.rsplit("_", 1)[-1], {k: v for k, v in s.labels.items()
                                                  if k == "le"}, round(s.value, 6))
                    for metric in collected for s in metric.samples
                    if not s.name.endswith("_created")]

        ours = samples(metrics.INGEST_LAG.labels("test-lag-batch").collect())
        assert ours == samples(plain.collect()), f"pass {passes}"
        assert ours[-2] == ("count", {}, len(stamps) * (passes + 1))
