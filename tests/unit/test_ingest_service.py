"""An ingestor's probes: ready only while subscribed and Kafka takes records; unhealthy only
when Kafka has refused records for longer than the stall limit."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from ingest.service import IngestStatus, health_app, readiness_problems
from tests.unit.broker_fakes import closed_port


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
    runner = web.AppRunner(health_app(ingestor, stall_seconds=30))
    await runner.setup()
    port = closed_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{port}{path}") as resp:
            return resp.status, await resp.json()
    finally:
        await runner.cleanup()


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
