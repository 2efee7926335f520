"""The one Faust app object of the platform."""

from __future__ import annotations

import faust

from config import get_settings

settings = get_settings()

app = faust.App(
    settings.app_id,
    broker=settings.broker_url,
    store=settings.store,
    datadir=str(settings.datadir),
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=settings.topic_replication,
    topic_allow_declare=True,
    topic_disable_leader=True,
    web_host=settings.web_host,
    web_port=settings.web_port,
    canonical_url=f"http://{settings.web_host}:{settings.web_port}",
    web_tables_enabled=False,
    web_graph_enabled=False,
    web_stats_enabled=False,
    web_metrics_enabled=False,
    web_router_enabled=False,
    consumer_auto_offset_reset="earliest",
    stream_buffer_maxsize=16384,
    producer_linger_ms=5,
    producer_acks=-1,
    autodiscover=["agents", "web", "app.commands", "app.cmd_replay", "app.cmd_simulate"],
    origin="app",
)
