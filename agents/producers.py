"""The producer timer: producers that stop sending ``alive``, and recovery requests left
unanswered, are reported to the producer's home partition, whose agent decides."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from agents.odds import RULES
from app import topics
from app.assignment import active_partitions
from app.clock import now_ms
from app.faust_app import app, settings
from models.keys import partition_for, producer_key
from models.producer import is_overdue, is_silent
from tables import state

log = logging.getLogger(__name__)

#: (message type, producer id) -> monotonic time it was last sent for that producer.
_reported: dict[tuple[str, int], float] = {}
RESEND_AFTER = 5.0


def _due(home: dict[str, Any], now: int) -> str | None:
    """The internal message a producer's home state calls for now, if any."""
    # The agent's own bounds: a message it would not act on is never sent.
    if is_silent(home, now, RULES.silence_timeout_ms):
        return "producer_silent"
    if is_overdue(home, now, RULES.recovery_retry_ms):
        return "recovery_retry"
    return None


@app.timer(interval=1.0)  # type: ignore[untyped-decorator]  # faust leaves it untyped
async def check_producers() -> None:
    """Tell a producer's home partition when it has gone silent or its recovery request is
    overdue; the agent decides."""
    owned = active_partitions(topics.feed)
    now = now_ms()
    for raw_key, home in list(state.producers.items()):
        key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
        if "@" in key or (kind := _due(home, now)) is None:
            continue
        producer = home["producer"]
        partition = partition_for(producer_key(producer).encode(), settings.topic_partitions)
        if partition not in owned:
            continue
        if time.monotonic() - _reported.get((kind, producer), -RESEND_AFTER) < RESEND_AFTER:
            continue
        _reported[(kind, producer)] = time.monotonic()
        if kind == "producer_silent":
            log.warning("producer %s silent for %.1fs", producer,
                        (now - home["last_alive_seen"]) / 1000)
        else:
            log.warning("producer %s: recovery request %s unanswered for %.0fs", producer,
                        home["request_id"], (now - home["requested_ts"]) / 1000)
        value = {"type": kind, "producer": producer, "ts": now}
        await topics.feed.send(key=key.encode(), value=orjson.dumps(value), partition=partition)
