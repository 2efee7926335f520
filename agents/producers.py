"""The silence timer: producers that stop sending ``alive`` are reported to their partition."""

from __future__ import annotations

import logging
import time

import orjson

from agents.odds import now_ms
from app import topics
from app.faust_app import app, settings
from models.memory import partition_for
from models.producer import is_silent, producer_key
from tables import state

log = logging.getLogger(__name__)

#: producer id -> monotonic time the last ``producer_silent`` was sent for it.
_reported: dict[int, float] = {}
RESEND_AFTER = 5.0


def active_feed_partitions() -> set[int]:
    """Return the ``feed.v1`` partitions this worker actively owns (standbys excluded)."""
    name = topics.feed.get_topic_name()
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == name}


@app.timer(interval=1.0)  # type: ignore[untyped-decorator]  # faust leaves it untyped
async def check_producer_silence() -> None:
    """Tell a producer's home partition when it has gone silent; the agent decides."""
    owned = active_feed_partitions()
    timeout_ms = int(settings.producer_timeout * 1000)
    now = now_ms()
    for raw_key, home in list(state.producers.items()):
        key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
        if "@" in key or not is_silent(home, now, timeout_ms):
            continue
        producer = home["producer"]
        partition = partition_for(producer_key(producer).encode(), settings.topic_partitions)
        if partition not in owned:
            continue
        if time.monotonic() - _reported.get(producer, -RESEND_AFTER) < RESEND_AFTER:
            continue
        _reported[producer] = time.monotonic()
        log.warning("producer %s silent for %.1fs", producer,
                    (now - home["last_alive_seen"]) / 1000)
        value = {"type": "producer_silent", "producer": producer, "ts": now}
        await topics.feed.send(key=key.encode(), value=orjson.dumps(value), partition=partition)
