"""Apply a batch of feed records in order and coalesce what changed (pure; no I/O)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from models.feed import FeedError, decode
from models.market import Snapshot, Verdict, apply_odds_change, market_key

Source = TypeVar("Source")


@dataclass(slots=True)
class MarketChange(Generic[Source]):
    """The latest state of one market after a batch, and whether to publish it."""

    source: Source
    snapshot: Snapshot
    publish: bool


@dataclass(slots=True)
class BatchPlan(Generic[Source]):
    """Everything a batch changed, coalesced per key, plus its dead letters and counts."""

    markets: dict[str, MarketChange[Source]] = field(default_factory=dict)
    events: dict[str, tuple[Source, Snapshot]] = field(default_factory=dict)
    dead_letters: list[tuple[Source, str]] = field(default_factory=list)
    verdicts: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)


Lookup = Callable[[Source, str], Snapshot | None]


def plan_batch(
    records: Iterable[tuple[Source, bytes | None, bytes | None]],
    get_market: Lookup[Source],
    get_event: Lookup[Source],
) -> BatchPlan[Source]:
    """Apply ``(source, key, value)`` records in order; read state through the lookups."""
    plan: BatchPlan[Source] = BatchPlan()
    for source, key, value in records:
        try:
            message = decode(value)
            event_id = message["event_id"]
            if key is not None and key.decode("utf-8", "replace") != event_id:
                raise FeedError(f"record key {key!r} does not match event_id {event_id!r}")
        except FeedError as exc:
            plan.dead_letters.append((source, exc.reason))
            plan.verdicts["dead_lettered"] += 1
            continue
        plan.messages[message["type"]] += 1
        _apply_odds_change(plan, source, message, get_market, get_event)
    return plan


def _apply_odds_change(
    plan: BatchPlan[Source],
    source: Source,
    message: dict[str, Any],
    get_market: Lookup[Source],
    get_event: Lookup[Source],
) -> None:
    event_id: str = message["event_id"]
    new_keys: list[str] = []
    for feed_market in message["markets"]:
        key = market_key(event_id, feed_market["id"], feed_market["specifiers"])
        pending = plan.markets.get(key)
        current = pending.snapshot if pending is not None else get_market(source, key)
        applied = apply_odds_change(
            current, event_id, message["producer"], message["ts"], feed_market
        )
        plan.verdicts[applied.verdict.value] += 1
        if applied.snapshot is None:
            continue
        if current is None:
            new_keys.append(key)
        publish = applied.published or (pending is not None and pending.publish)
        plan.markets[key] = MarketChange(source, applied.snapshot, publish)
    if new_keys:
        _index_markets(plan, source, event_id, new_keys, get_event)


def _index_markets(
    plan: BatchPlan[Source],
    source: Source,
    event_id: str,
    new_keys: list[str],
    get_event: Lookup[Source],
) -> None:
    pending = plan.events.get(event_id)
    current = pending[1] if pending is not None else get_event(source, event_id)
    known = current["market_keys"] if current is not None else []
    merged = sorted(set(known).union(new_keys))
    if merged != known:
        plan.events[event_id] = (source, {"event_id": event_id, "market_keys": merged})


__all__ = ["BatchPlan", "FeedError", "MarketChange", "Verdict", "plan_batch"]
