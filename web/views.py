"""``GET /events/{event_id}`` and its markets, answered by the worker that owns the event."""

from __future__ import annotations

from typing import Any

from faust.web import Request, Response, View

from app.faust_app import app
from models.market import market_key
from tables import state
from web import params
from web.readmodel import event_view, market_view
from web.routing import error, routed


def lookup_event(event_id: str) -> dict[str, Any] | None:
    """Return the event view from this worker's tables (it must own the event)."""
    event = state.events.get(event_id)
    if event is None:
        return None
    markets = [m for k in event["market_status"] if (m := state.markets.get(k)) is not None]
    return event_view(event, markets)


def lookup_market(event_id: str, market_id: str, specifiers: str) -> dict[str, Any] | None:
    """Return one market view from this worker's tables (it must own the event)."""
    snapshot = state.markets.get(market_key(event_id, market_id, specifiers))
    return None if snapshot is None else {"event_id": event_id, **market_view(snapshot)}


@app.page("/events/{event_id}")
class EventView(View):
    """One event with all its markets and outcomes."""

    async def get(self, request: Request, **kwargs: Any) -> Response:
        """Return the event, a 400 for a malformed id, or a 404 JSON error."""
        try:
            params.event_id(request.match_info["event_id"])
        except params.BadRequest as exc:
            return error(self, 400, "bad_request", str(exc))
        return await self.owned(request)

    @routed(state.events, match_info="event_id")
    async def owned(self: View, request: Request, **kwargs: Any) -> Response:
        event_id: str = request.match_info["event_id"]
        view = lookup_event(event_id)
        if view is None:
            return error(self, 404, "not_found", f"unknown event {event_id!r}")
        return self.json(view)


@app.page("/events/{event_id}/markets/{market_id}")
class MarketView(View):
    """One market of an event (``?specifiers=total=2.5``, in any order)."""

    async def get(self, request: Request, **kwargs: Any) -> Response:
        """Return the market, a 400 for malformed input, or a 404 JSON error."""
        try:
            params.event_id(request.match_info["event_id"])
            params.market_id(request.match_info["market_id"])
            unknown = set(request.query) - {"specifiers"}
            if unknown:
                raise params.BadRequest(f"unknown parameter {sorted(unknown)[0][:40]!r}")
            if sum(1 for name, _ in request.query.items() if name == "specifiers") > 1:
                raise params.BadRequest("parameter 'specifiers' given more than once")
            params.specifiers(request.query.get("specifiers"))
        except params.BadRequest as exc:
            return error(self, 400, "bad_request", str(exc))
        return await self.owned(request)

    @routed(state.events, match_info="event_id")
    async def owned(self: View, request: Request, **kwargs: Any) -> Response:
        event_id: str = request.match_info["event_id"]
        market_id: str = request.match_info["market_id"]
        specifiers = params.specifiers(request.query.get("specifiers"))
        view = lookup_market(event_id, market_id, specifiers)
        if view is None:
            return error(self, 404, "not_found", f"unknown market {market_id!r} with specifiers"
                         f" {specifiers!r} of event {event_id!r}")
        return self.json(view)
