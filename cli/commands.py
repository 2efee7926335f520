"""CLI commands: ``create-topics``, ``migrate`` and ``generate`` (the demo feed)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from faust.cli import option

from app.faust_app import app, settings
from app.kafka_security import client_kwargs
from cli import admin
from feeds.generator import OddsGenerator
from sinks.mysql import MySQLSink


@app.command()
async def create_topics(self: Any) -> None:
    """Create the platform's topics (idempotent)."""
    created = await admin.create_topics(settings)
    self.say(f"topics created: {', '.join(created) if created else 'none (all exist)'}")


@app.command()
async def migrate(self: Any) -> None:
    """Apply the MySQL schema migrations (idempotent)."""
    sink = MySQLSink(settings.mysql)
    await sink.start()
    await sink.close()
    self.say(f"schema up to date at {settings.mysql.redacted()}")


@app.command(
    option("--events", type=int, default=20, help="Number of events."),
    option("--rate", type=float, default=20.0, help="Messages per second."),
    option("--count", type=int, default=0, help="Stop after this many (0: run until Ctrl-C)."),
    option("--seed", type=int, default=1, help="Random seed."),
)
async def generate(self: Any, events: int, rate: float, count: int, seed: int) -> None:
    """Produce a live demo feed of odds changes to feed.v1."""
    generator = OddsGenerator(events, seed=seed)
    producer = AIOKafkaProducer(**client_kwargs(settings), linger_ms=5)
    await producer.start()
    sent = 0
    try:
        while count == 0 or sent < count:
            message = generator.message(int(time.time() * 1000))
            await producer.send(settings.topic("feed.v1"), key=message["event_id"].encode(),
                                value=orjson.dumps(message))
            sent += 1
            if sent % 100 == 0:
                self.say(f"generated {sent} messages")
            await asyncio.sleep(1.0 / rate)
    finally:
        await producer.stop()
