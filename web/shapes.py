"""The JSON shapes of events and markets that the HTTP API returns, from table state (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from models.event import public_event
from models.market import Snapshot

OUTCOME_FIELDS = ("id", "name", "odds", "active", "probability", "implied_probability",
                  "american", "fractional", "direction", "result", "void_factor",
                  "dead_heat_factor")
#: Shown only when the feed gave them (exchange ladders, exchange removals).
OPTIONAL_OUTCOME_FIELDS = ("removal_ts", "reduction_factor", "back", "lay", "last_traded",
                           "traded_volume")
OPTIONAL_MARKET_FIELDS = ("in_play", "bet_delay", "number_of_winners", "cashout_status")


def _id_order(market_id: str) -> tuple[int, int, str]:
    return (0, int(market_id), "") if market_id.isdigit() else (1, 0, market_id)


def _outcome_view(outcome: Snapshot) -> dict[str, Any]:
    view = {f: outcome.get(f) for f in OUTCOME_FIELDS}
    view.update({f: outcome[f] for f in OPTIONAL_OUTCOME_FIELDS if f in outcome})
    return view


def market_view(snapshot: Snapshot) -> dict[str, Any]:
    """Return one market as the API shows it."""
    view = {
        "market_id": snapshot["market_id"],
        "specifiers": snapshot["specifiers"],
        "name": snapshot.get("name"),
        "status": snapshot["status"],
        "producer": snapshot["producer"],
        "margin": snapshot["margin"],
        "version": snapshot["version"],
        "updated_ts": snapshot["updated_ts"],
        "settlement": snapshot.get("settlement"),
        "cancels": snapshot.get("cancels", []),
        "outcomes": [_outcome_view(o) for o in snapshot["outcomes"]],
    }
    view.update({f: snapshot[f] for f in OPTIONAL_MARKET_FIELDS if f in snapshot})
    return view


def market_order(market_id: str, specifiers: str) -> tuple[tuple[int, int, str], str]:
    """The API's order of markets: market id (numeric ids numerically), then specifiers."""
    return _id_order(market_id), specifiers


def sort_markets(markets: Iterable[Snapshot]) -> list[Snapshot]:
    """Order markets by market id (numeric ids numerically), then specifiers."""
    return sorted(markets, key=lambda m: market_order(m["market_id"], m["specifiers"]))


EVENT_FIELDS = ("event_id", "status", "match_status", "score", "period_scores", "clock",
                "betting_status", "betstop_reason", "start_time", "sport", "competition",
                "home", "away", "market_counts")


def event_view(event: Snapshot, markets: Iterable[Snapshot]) -> dict[str, Any]:
    """Return an event with its live status and its markets."""
    view = event_fields(event)
    view["markets"] = [market_view(m) for m in sort_markets(markets)]
    return view


def event_fields(event: Snapshot) -> dict[str, Any]:
    """Return an event's public fields without its markets."""
    public = public_event(event)
    return {f: public[f] for f in EVENT_FIELDS}


def event_summary(public: Snapshot) -> dict[str, Any]:
    """Return a list entry of ``GET /events`` from an ``events.v1`` value (no markets)."""
    view = {f: public.get(f) for f in EVENT_FIELDS}
    view["version"] = public.get("version")
    view["updated_ts"] = public.get("updated_ts")
    return view
