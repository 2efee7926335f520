"""CLI command ``ingest``: a live provider feed into its raw topic, until SIGTERM.

``faust -A app ingest uof`` reads Sportradar's Unified Odds Feed over AMQP;
``faust -A app ingest betfair`` reads the Betfair Exchange Stream. Each serves ``/health``,
``/ready`` and ``/metrics`` on ``INGEST_WEB_PORT`` and reconnects to its provider on its own.
"""

from __future__ import annotations

import os
from typing import Any

import click
from faust.cli import argument

from app import topics
from app.faust_app import app, settings
from app.gc_pauses import tune_collector
from app.probes import serving, stop_on_signals
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
    stop = stop_on_signals()
    async with serving(health_app(ingestor, settings.health_stall_seconds), settings.web_host,
                       settings.ingest_web_port):
        await ingestor.writer.start()
        self.say(f"ingest {provider}: to {ingestor.writer.topic}, health on "
                 f"http://{settings.web_host}:{settings.ingest_web_port}/health")
        # As the worker does; its app tasks, which tune it there, do not run here.
        tune_collector()
        try:
            await ingestor.run(stop)
        except IngestFatal as exc:
            self.say(f"ingest {provider}: stopped: {exc}", file=self.stderr)
            raise SystemExit(EXIT_FAILURE) from None
        finally:
            await ingestor.writer.stop()
    self.say(f"ingest {provider}: stopped after {ingestor.status.messages:,} messages")
