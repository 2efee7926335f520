"""CLI command ``mysql-sink``: the MySQL sink as its own process (workers run SINK_MODE=separate).

It serves ``/health`` (the loop answers and the consumer is not stuck), ``/ready`` (MySQL
and a Kafka broker answer) and ``/metrics`` on ``SINK_WEB_PORT``, and stops cleanly on
SIGTERM or SIGINT: a batch being written is abandoned uncommitted and written again by
whoever reads it next.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from app.faust_app import app, settings
from app.kafka_security import client_kwargs
from app.probes import Verdict, probes_app, serving, stop_on_signals
from sinks.consumer import SinkConsumer, sink_group
from sinks.mysql import MySQLSink, SinkUnavailable


def health_app(consumer: SinkConsumer) -> web.Application:
    """Return the sink's health and metrics endpoints."""

    async def health() -> Verdict:
        stalled = time.monotonic() - consumer.last_progress
        if stalled > settings.health_stall_seconds:
            return 503, {"status": "unhealthy", "reason": f"no batch for {stalled:.0f}s"}
        return 200, {"status": "ok", "batches": consumer.batches}

    async def ready() -> Verdict:
        mysql_up, kafka_problem = await asyncio.gather(consumer.sink.ping(),
                                                       consumer.kafka_problem())
        problems = [*([] if mysql_up else ["MySQL unreachable"]),
                    *([kafka_problem] if kafka_problem else [])]
        if problems:
            return 503, {"status": "not_ready", "reasons": problems}
        return 200, {"status": "ready"}

    return probes_app(health, ready)


@app.command()
async def mysql_sink(self: Any) -> None:
    """Write the outbound topics to MySQL (own consumer group), until SIGTERM."""
    sink = MySQLSink(settings.mysql)
    try:
        await sink.start()
    except SinkUnavailable as exc:
        # Not fatal: the consumer retries every batch until MySQL answers.
        self.say(f"{exc}; will retry")
    consumer = SinkConsumer(settings, sink, client_kwargs(settings))
    stop = stop_on_signals()
    async with serving(health_app(consumer), settings.web_host, settings.sink_web_port):
        await consumer.start()
        self.say(f"mysql-sink: group {sink_group(settings)} -> {settings.mysql.redacted()}, "
                 f"health on http://{settings.web_host}:{settings.sink_web_port}/health")
        try:
            await stop.wait()
        finally:
            await consumer.stop()
    self.say(f"mysql-sink stopped after {consumer.batches} batches")
