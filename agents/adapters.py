"""Adapter agents: raw UOF XML and Betfair stream records in, canonical ``feed.v1`` out."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

import orjson
from faust.types import EventT, StreamT

from agents.deadletter import dead_letter
from app import metrics, topics
from app.faust_app import app, settings
from feeds import betfair, betfair_cache
from feeds.errors import AdapterError
from feeds.uof import translate_uof
from models.feed import FeedError, canonical_specifiers
from models.keys import partition_for
from tables import state

log = logging.getLogger(__name__)

def canonical_key(message: dict[str, Any]) -> bytes:
    """Return the ``feed.v1`` key of a canonical message."""
    return (message.get("event_id") or f"producer:{message['producer']}").encode()


async def emit(messages: Iterable[dict[str, Any]]) -> None:
    """Produce canonical messages to ``feed.v1`` in the partition their key hashes to."""
    for message in messages:
        key = canonical_key(message)
        await topics.feed.send(key=key, value=orjson.dumps(message),
                               partition=partition_for(key, settings.topic_partitions))


async def reject(event: EventT[Any], reason: str) -> None:
    """Dead-letter a raw record; the agent goes on with the next one."""
    message = event.message
    log.warning("dead-lettered %s[%s]@%s: %s", message.topic, message.partition,
                message.offset, reason)
    metrics.MARKET_UPDATES.labels("dead_lettered").inc()
    await topics.dead_letters.send(key=message.key, value=dead_letter(message, reason),
                                   partition=message.partition)


@app.agent(topics.raw_uof, name="uof-adapter")
async def uof_adapter(stream: StreamT[bytes]) -> None:
    """Translate each raw UOF XML message into canonical messages."""
    async for event in stream.events():
        try:
            messages = translate_uof(event.message.value)
            for message in messages:
                for market in message.get("markets", ()):
                    market["specifiers"] = canonical_specifiers(market.get("specifiers", ""))
        except (AdapterError, FeedError) as exc:
            await reject(event, f"uof: {exc.reason}")
            continue
        await emit(messages)


@app.agent(topics.raw_betfair, name="betfair-splitter")
async def betfair_splitter(stream: StreamT[bytes]) -> None:
    """Report the stream's liveness, then split each message into changes keyed by market id."""
    gate = betfair.AliveGate()
    async for event in stream.events():
        try:
            message = betfair.parse_stream_message(event.message.value)
            records = betfair.split_records(message)
        except AdapterError as exc:
            await reject(event, f"betfair: {exc.reason}")
            continue
        alive = betfair.to_alive(message)
        if gate.admit(alive["subscribed"], time.monotonic()):
            await emit([alive])
        for key, value in records:
            await topics.raw_betfair_markets.send(
                key=key, value=value, partition=partition_for(key, settings.topic_partitions))


def check_betfair_partition(event: EventT[Any]) -> None:
    """Raise AdapterError for a re-keyed record outside its key's partition (the cache's)."""
    message = event.message
    home = partition_for(message.key or b"", settings.topic_partitions)
    if home != message.partition:
        raise AdapterError(f"key belongs to partition {home}, not {message.partition}")


def restore_betfair_market(market_id: str, held: betfair_cache.MarketState | None) -> None:
    """Put a market's cache, and its changelog, back as they were before a failed change."""
    if held is not None:
        state.betfair_markets[market_id] = held
        return
    # The changelog may already have the new value: the delete sends its tombstone either way.
    with contextlib.suppress(KeyError):
        del state.betfair_markets[market_id]


async def apply_betfair_change(market_id: str, change: dict[str, Any]) -> None:
    """Apply one checked change to its market's cache and publish; a failure keeps the cache."""
    held = state.betfair_markets.get(market_id)
    if betfair_cache.is_stale(held, change["pt"]):
        return
    new_state = betfair_cache.apply_market_change(held, change, change["pt"], change.get("ct"))
    messages = betfair.to_canonical(new_state, change["pt"])
    try:
        state.betfair_markets[market_id] = new_state
        await emit(messages)
    except Exception:
        restore_betfair_market(market_id, held)
        raise


@app.agent(topics.raw_betfair_markets, name="betfair-adapter")
async def betfair_adapter(stream: StreamT[bytes]) -> None:
    """Apply each market change to that market's cache; publish its canonical view."""
    async for event in stream.events():
        try:
            market_id, change = betfair.parse_market_change(event.message.key,
                                                            event.message.value)
            check_betfair_partition(event)
            await apply_betfair_change(market_id, change)
        except AdapterError as exc:
            await reject(event, f"betfair market: {exc.reason}")
        except Exception as exc:
            # Whatever fails in writing the cache or the output is this record's failure.
            log.exception("betfair market change failed")
            await reject(event, f"betfair market: {type(exc).__name__}: {exc}"[:500])
