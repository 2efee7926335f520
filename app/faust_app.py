"""The one Faust app object of the platform."""

from __future__ import annotations

import asyncio

import faust

from app.kafka_security import faust_credentials
from config import get_settings

settings = get_settings()

if settings.event_loop == "uvloop":
    import uvloop

    # Before Faust creates its loop: uvloop roughly halves the event loop's overhead.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

app = faust.App(
    settings.app_id,
    broker=settings.broker_url,
    broker_credentials=faust_credentials(settings),
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
    stream_buffer_maxsize=32768,
    consumer_max_fetch_size=4 * 1024 * 1024,
    producer_linger_ms=5,
    producer_max_request_size=4 * 1024 * 1024,
    producer_acks=-1,
    autodiscover=["agents", "web", "app.commands", "app.cmd_replay", "app.cmd_simulate"],
    origin="app",
)


@app.task  # type: ignore[untyped-decorator]  # faust leaves it untyped
async def tune_garbage_collector() -> None:
    """Collect less often and stop scanning start-up objects: the hot path makes many dicts."""
    import gc

    gc.set_threshold(50_000, 50, 1000)
    gc.freeze()
