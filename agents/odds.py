"""The odds agent: applies ``feed.v1`` batches to the market tables and publishes changes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any, cast

import orjson
from faust.streams import Stream
from faust.types import EventT, StreamT

from app import metrics, topics
from app.faust_app import app, settings
from models.engine import BatchPlan, plan_batch
from models.market import Snapshot
from tables import state

log = logging.getLogger(__name__)

Event = EventT[bytes]


def _get_market(event: Event, key: str) -> Snapshot | None:
    with state.event_context(event):
        value: Snapshot | None = state.markets.get(key)
    return value


def _get_event(event: Event, event_id: str) -> Snapshot | None:
    with state.event_context(event):
        value: Snapshot | None = state.events.get(event_id)
    return value


def public_snapshot(snapshot: Snapshot) -> Snapshot:
    """Return the snapshot as published: without the internal last-message ``ts``."""
    return {k: v for k, v in snapshot.items() if k != "ts"}


def dead_letter(event: Event, reason: str) -> bytes:
    """Encode the ``feed.dlq.v1`` value for a record that was rejected."""
    message = event.message
    raw: bytes = message.value or b""
    return orjson.dumps(
        {
            "reason": reason,
            "source": {
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
            },
            "key": message.key.decode("utf-8", "replace") if message.key else None,
            "original": raw.decode("utf-8", "replace")[:65536],
            "original_size": len(raw),
            "received_ts": int(time.time() * 1000),
        }
    )


async def publish(plan: BatchPlan[Event]) -> None:
    """Send dead letters and changed markets, and wait until the broker has them."""
    pending: list[Awaitable[Any]] = []
    for event, reason in plan.dead_letters:
        log.warning("dead-lettered %s[%s]@%s: %s", event.message.topic,
                    event.message.partition, event.message.offset, reason)
        pending.append(
            await topics.dead_letters.send(key=event.message.key, value=dead_letter(event, reason))
        )
    for key, change in plan.markets.items():
        if change.publish:
            pending.append(
                await topics.markets.send(
                    key=key.encode(),
                    value=orjson.dumps(public_snapshot(change.snapshot)),
                    partition=change.source.message.partition,
                )
            )
    if pending:
        await asyncio.gather(*pending)


def store(plan: BatchPlan[Event]) -> None:
    """Write each changed market and event index once, in its source partition."""
    for key, change in plan.markets.items():
        with state.event_context(change.source):
            state.markets[key] = change.snapshot
    for event_id, (event, index) in plan.events.items():
        with state.event_context(event):
            state.events[event_id] = index


async def process(events: Sequence[Event]) -> BatchPlan[Event]:
    """Apply one batch: plan it, publish it, then commit it to the tables."""
    started = time.perf_counter()
    plan = plan_batch(
        ((e, e.message.key, e.message.value) for e in events), _get_market, _get_event
    )
    # Outbound first: a crash between the two re-applies the batch and re-publishes the
    # same versions, whereas the other order could lose a publication for good.
    await publish(plan)
    store(plan)
    for message_type, count in plan.messages.items():
        metrics.MESSAGES_IN.labels(message_type).inc(count)
    for verdict, count in plan.verdicts.items():
        metrics.MARKET_UPDATES.labels(verdict).inc(count)
    metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
    return plan


@app.agent(topics.feed, name="odds")
async def odds_agent(stream: StreamT[bytes]) -> None:
    """Consume ``feed.v1`` in batches and keep the market tables current."""
    batches = cast(Stream[bytes], stream).take_events(
        settings.batch_size, within=settings.batch_within
    )
    async for events in batches:
        await process(events)
