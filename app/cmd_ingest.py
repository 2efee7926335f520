"""CLI command ``ingest``: a live provider feed into its raw topic, until SIGTERM.

``faust -A app ingest uof`` reads Sportradar's Unified Odds Feed over AMQP;
``faust -A app ingest betfair`` reads the Betfair Exchange Stream. Each serves ``/health``,
``/ready`` and ``/metrics`` on ``INGEST_WEB_PORT`` and reconnects to its provider on its own.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from typing import Any

import click
from aiohttp import web
from faust.cli import argument

from app import topics
from app.faust_app import app, settings
from app.gc_pauses import time_collections
from config.settings import BetfairStreamConfig, SettingsError, UofFeedConfig
from ingest.raw_writer import RawTopicWriter
from ingest.service import IngestFatal, Ingestor, health_app

EXIT_FAILURE = 1
PROVIDERS = ("uof", "betfair")
RAW_TOPICS = {"uof": topics.raw_uof, "betfair": topics.raw_betfair}


def build_ingestor(provider: str) -> Ingestor:
    """Return the provider's ingestor, configured from the environment."""
    raw = RAW_TOPICS[provider]
    writer = RawTopicWriter(settings, raw.get_topic_name(), provider,
                            int((raw.config or {})["max.message.bytes"]))
    if provider == "uof":
        from ingest.uof_amqp import UofIngestor

        return UofIngestor(UofFeedConfig.from_env(os.environ, settings.uof_access_token), writer)
    from ingest.betfair_stream import BetfairIngestor

    return BetfairIngestor(BetfairStreamConfig.from_env(os.environ), writer)


@app.command(argument("provider", type=click.Choice(PROVIDERS)))
async def ingest(self: Any, provider: str) -> None:
    """Land a live provider feed (uof: AMQP, betfair: Exchange Stream) on its raw topic."""
    try:
        ingestor = build_ingestor(provider)
    except SettingsError as exc:
        self.say(f"ingest {provider}: {exc}", file=self.stderr)
        raise SystemExit(EXIT_FAILURE) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # No access log: probes and scrapes every few seconds would bury what matters.
    runner = web.AppRunner(health_app(ingestor, settings.health_stall_seconds), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.web_host, settings.ingest_web_port).start()
    await ingestor.writer.start()
    self.say(f"ingest {provider}: to {ingestor.writer.topic}, health on "
             f"http://{settings.web_host}:{settings.ingest_web_port}/health")
    # As the worker does (app.faust_app.tune_garbage_collector), whose app tasks do not run
    # here: with the default thresholds the few objects an ingestor allocates per message
    # set off full collections over the ~100,000 start-up objects (~90 ms each), ~15% of the
    # UOF ingestor's CPU per message.
    gc.set_threshold(50_000, 50, 1000)
    gc.freeze()
    time_collections()
    try:
        await ingestor.run(stop)
    except IngestFatal as exc:
        self.say(f"ingest {provider}: stopped: {exc}", file=self.stderr)
        raise SystemExit(EXIT_FAILURE) from None
    finally:
        await ingestor.writer.stop()
        await runner.cleanup()
    self.say(f"ingest {provider}: stopped after {ingestor.status.messages:,} messages")
