"""``GET /events/{event_id}``, answered by the worker that owns the event."""

from __future__ import annotations

from typing import Any

from faust.web import Request, Response, View

from app.faust_app import app
from tables import state
from web.readmodel import event_view
from web.routing import error, routed

MAX_ID_LENGTH = 100


@app.page("/events/{event_id}")
class EventView(View):
    """One event with all its markets and outcomes."""

    @routed(state.events, match_info="event_id")
    async def get(self: View, request: Request, **kwargs: Any) -> Response:
        """Return the event or a 404 JSON error."""
        event_id: str = request.match_info["event_id"]
        if len(event_id) > MAX_ID_LENGTH:
            return error(self, 400, "bad_request", "event id too long")
        event = state.events.get(event_id)
        if event is None:
            return error(self, 404, "not_found", f"unknown event {event_id!r}")
        markets = [m for k in event["market_status"] if (m := state.markets.get(k)) is not None]
        return self.json(event_view(event, markets))
