"""Shape table state into the read model that the HTTP API returns (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from models.market import Snapshot

OUTCOME_FIELDS = ("id", "odds", "active", "probability", "implied_probability", "american",
                  "fractional", "direction")


def _id_order(market_id: str) -> tuple[int, int, str]:
    return (0, int(market_id), "") if market_id.isdigit() else (1, 0, market_id)


def market_view(snapshot: Snapshot) -> dict[str, Any]:
    """Return one market as the API shows it."""
    return {
        "market_id": snapshot["market_id"],
        "specifiers": snapshot["specifiers"],
        "status": snapshot["status"],
        "producer": snapshot["producer"],
        "margin": snapshot["margin"],
        "version": snapshot["version"],
        "updated_ts": snapshot["updated_ts"],
        "outcomes": [{f: o.get(f) for f in OUTCOME_FIELDS} for o in snapshot["outcomes"]],
    }


def event_view(event_id: str, markets: Iterable[Snapshot]) -> dict[str, Any]:
    """Return an event with its markets sorted by market id, then specifiers."""
    ordered = sorted(markets, key=lambda m: (_id_order(m["market_id"]), m["specifiers"]))
    return {"event_id": event_id, "markets": [market_view(m) for m in ordered]}
