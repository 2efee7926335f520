"""The market state: keys, snapshots and the pure rule that applies an odds change."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from models.odds import american, direction, fractional, implied_probability, margin

Snapshot = dict[str, Any]


class MarketStatus(StrEnum):
    """Market statuses of the canonical feed (UOF 1, -1, 0, -2, -3, -4)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DEACTIVATED = "deactivated"
    HANDED_OVER = "handed_over"
    SETTLED = "settled"
    CANCELLED = "cancelled"


class Verdict(StrEnum):
    """What applying one message did to one market."""

    APPLIED = "applied"
    STALE = "stale"
    DUPLICATE = "duplicate"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Applied:
    """The result of a rule: the verdict and the snapshot to store (None: store nothing)."""

    verdict: Verdict
    snapshot: Snapshot | None
    published: bool


def market_key(event_id: str, market_id: str, specifiers: str) -> str:
    """Return the key of a market: ``{event_id}/{market_id}/{specifiers}``."""
    return f"{event_id}/{market_id}/{specifiers}"


def _outcomes(feed_outcomes: list[dict[str, Any]], previous: Snapshot | None) -> list[Snapshot]:
    old_prices: dict[str, float | None] = {}
    if previous is not None:
        old_prices = {o["id"]: o.get("odds") for o in previous["outcomes"]}
    outcomes = []
    for feed_outcome in feed_outcomes:
        odds = feed_outcome.get("odds")
        outcome: Snapshot = {
            "id": feed_outcome["id"],
            "odds": odds,
            "active": bool(feed_outcome.get("active", True)) and odds is not None,
            "probability": feed_outcome.get("probability"),
            "implied_probability": implied_probability(odds) if odds is not None else None,
            "american": american(odds) if odds is not None else None,
            "fractional": fractional(odds) if odds is not None else None,
            "direction": direction(old_prices.get(feed_outcome["id"]), odds),
        }
        outcomes.append(outcome)
    return outcomes


def _content(snapshot: Snapshot) -> tuple[Any, ...]:
    """Return what a consumer sees change: status and each outcome's price and activity."""
    return (
        snapshot["status"],
        snapshot["producer"],
        tuple((o["id"], o["odds"], o["active"], o["probability"]) for o in snapshot["outcomes"]),
    )


def apply_odds_change(
    current: Snapshot | None,
    event_id: str,
    producer: int,
    ts: int,
    feed_market: dict[str, Any],
) -> Applied:
    """Apply one market of an ``odds_change`` to its current snapshot (pure)."""
    if current is not None and ts < current["ts"]:
        return Applied(Verdict.STALE, None, published=False)
    candidate: Snapshot = {
        "event_id": event_id,
        "market_id": feed_market["id"],
        "specifiers": feed_market.get("specifiers", ""),
        "status": feed_market.get("status", MarketStatus.ACTIVE.value),
        "producer": producer,
        "outcomes": _outcomes(feed_market["outcomes"], current),
    }
    if current is not None and _content(candidate) == _content(current):
        if ts == current["ts"]:
            return Applied(Verdict.DUPLICATE, None, published=False)
        # Same content, newer message: remember its ts for stale checks, publish nothing.
        return Applied(Verdict.UNCHANGED, {**current, "ts": ts}, published=False)
    active_prices = [o["odds"] for o in candidate["outcomes"] if o["active"]]
    candidate["margin"] = margin(active_prices)
    candidate["version"] = 1 if current is None else current["version"] + 1
    candidate["updated_ts"] = ts
    candidate["ts"] = ts
    return Applied(Verdict.APPLIED, candidate, published=True)
