"""``GET /events``: every event, filtered and paged, from this worker's replica."""

from __future__ import annotations

from typing import Any

from faust.web import Blueprint, Request, Response, View

from app.error_shape import error
from web import params
from web.replica import REPLICA
from web.shapes import event_summary


def list_events(query: params.EventQuery) -> dict[str, Any]:
    """Return one page of the event list with the total that matched."""
    total, page = REPLICA.events.query(query)
    return {"events": [event_summary(e) for e in page], "total": total,
            "limit": query.limit, "offset": query.offset}


blueprint = Blueprint("listing")


@blueprint.route("/events")
class EventList(View):
    """Events sorted by start time then id; ``status``, ``sport``, ``live``, ``limit``,
    ``offset``."""

    async def get(self, request: Request, **kwargs: Any) -> Response:
        try:
            query = params.event_query(request.query.items())
        except params.BadRequest as exc:
            return error(self, 400, "bad_request", str(exc))
        if not REPLICA.ready:
            return error(self, 503, "not_ready", "the event list is loading; retry shortly")
        return self.json(list_events(query))
