"""The one Faust app object of the platform."""

from __future__ import annotations

import asyncio
import sys

from faust.types.web import Web

from app.faust_seams.delivery import DELIVERIES
from app.faust_seams.drain import LeanApp
from app.faust_seams.recovery import BulkTableManager
from app.faust_seams.take import LeanStream
from app.kafka_security import faust_credentials
from app.web_server import PlatformWeb
from config import get_settings

settings = get_settings()

if settings.event_loop == "uvloop":
    import uvloop

    # Before Faust creates its loop: uvloop's loop costs less per callback and per read than
    # asyncio's (docs/decisions/0011).
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

# Faust's consumer runs in its own thread, and each wake-up of the odds agent's transaction
# can wait up to this long for it to give up the GIL. A shorter interval hands the GIL over
# more often, which slows planning; the default is Python's 5 ms (docs/decisions/0011).
sys.setswitchinterval(settings.gil_switch_ms / 1000)


class PlatformApp(LeanApp):
    """``LeanApp`` serving HTTP through ``app.web_server.PlatformWeb``."""

    def _new_web(self) -> Web:
        return PlatformWeb(self, header_timeout=settings.http_header_timeout)


app = PlatformApp(
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
    # One batch per partition per flush: aiokafka keeps one request in flight per partition,
    # so 16 KiB batches made a flush of a few thousand records wait for many round trips.
    producer_max_batch_size=512 * 1024,
    producer_max_request_size=4 * 1024 * 1024,
    producer_acks=-1,
    autodiscover=["app.main", "cli"],
    origin="app",
    TableManager=BulkTableManager,
    Stream=LeanStream,
)


app.sensors.add(DELIVERIES)


@app.task  # type: ignore[untyped-decorator]  # faust leaves it untyped
async def tune_garbage_collector() -> None:
    """Tune the collector once the worker has started (``app.gc_pauses.tune_collector``)."""
    from app.gc_pauses import tune_collector

    tune_collector()
