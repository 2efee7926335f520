"""Faust's own ceiling: an agent that iterates ``take_events`` batches and does nothing else.

It runs with the platform's Faust tuning: every setting of ``app.faust_app.app`` that differs
from Faust's default (buffer sizes, fetch sizes, commit cadence, custom classes, ...) is copied
here, except identity, storage, web and discovery settings; importing the platform's app
module also applies whatever it does at import (e.g. GC thresholds). The batch size and window
are the platform's (``BATCH_SIZE`` / ``BATCH_WITHIN``). Started by ``bench.run`` as

    BENCH_APP_ID=.. BENCH_TOPIC=.. BENCH_EXPECT=N BENCH_RESULT=file BENCH_DATADIR=dir \\
        python -m faust [-L uvloop] -A bench.ceilings.faust_noop worker -l info

When ``BENCH_EXPECT`` records have arrived it writes ``{"count", "first_batch", "t_first",
"t_last", "rate"}`` to ``BENCH_RESULT``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, cast

import faust
from faust.streams import Stream
from faust.types import StreamT
from faust.types.settings import Settings

from app.faust_app import app as platform_app
from bench.ceilings.progress import Progress
from config import get_settings

#: Settings that name or place the app rather than tune it.
NOT_TUNING = frozenset({
    "id", "autodiscover", "origin", "datadir", "tabledir", "broker", "broker_consumer",
    "broker_producer", "reply_to", "canonical_url", "web_host", "web_port", "web_enabled",
    "web_bind", "store", "cache", "web", "url", "topic_partitions", "topic_replication_factor",
    "web_tables_enabled", "web_graph_enabled", "web_stats_enabled", "web_metrics_enabled",
    "web_router_enabled",
})


def platform_tuning() -> dict[str, Any]:
    """The platform app's settings that differ from Faust's defaults (tuning only)."""
    default = faust.App("bench-default-probe", set_as_current=False)
    tuning: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, setting in Settings.SETTINGS.items():
            if name in NOT_TUNING or setting.version_deprecated:
                continue
            try:
                value = getattr(platform_app.conf, name)
                if value != getattr(default.conf, name):
                    tuning[name] = value
            except Exception:  # noqa: BLE001, S112 - settings that cannot be read are skipped
                continue
    return tuning


TUNING = platform_tuning()
settings = get_settings()

app = faust.App(
    os.environ["BENCH_APP_ID"],
    broker=os.environ.get("BROKER_URL", "kafka://127.0.0.1:9092"),
    datadir=os.environ.get("BENCH_DATADIR", "/tmp/bench-noop"),  # noqa: S108
    web_enabled=False,
    **TUNING,
)
source = app.topic(os.environ["BENCH_TOPIC"], key_serializer="raw", value_serializer="raw")
log = logging.getLogger(__name__)


def _guarded(fun: Callable[..., Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
    takes_app = bool(inspect.signature(fun).parameters)

    async def run() -> None:
        try:
            await (fun(app) if takes_app else fun())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("platform task %s failed in the noop ceiling", fun.__name__)

    run.__name__ = run.__qualname__ = getattr(fun, "__name__", "platform_task")
    return run


#: The platform app's own tasks (its module's start-up tuning, e.g. GC thresholds) run here too.
PLATFORM_TASKS = []
for _wrapped in list(getattr(platform_app, "_app_tasks", ())):
    _fun = getattr(_wrapped, "__wrapped__", _wrapped)
    PLATFORM_TASKS.append(getattr(_fun, "__name__", repr(_fun)))
    app.task(_guarded(_fun))

progress = Progress.from_env()
progress.extra = {"tuning": TUNING, "platform_tasks": PLATFORM_TASKS,
                  "event_loop": type(asyncio.get_event_loop_policy()).__module__}


@app.agent(source, name="noop")
async def noop(stream: StreamT[bytes]) -> None:
    """Count the batches' records; nothing else."""
    async for events in cast(Stream[bytes], stream).take_events(
            settings.batch_size, within=settings.batch_within):
        progress.add(len(events))
