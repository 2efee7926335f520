"""``GET /events/{event_id}`` and its markets, answered by the worker that owns the event.

An event can have thousands of markets: they are read, shaped and encoded in slices
(``web.slices``), so a large event never holds the event loop for long.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import AsyncIterator
from typing import Any

import orjson
from faust.web import Blueprint, Request, Response, View

from app.error_shape import error
from models.keys import market_key
from models.market import Snapshot
from tables import state
from web import params
from web.bodies import json_answer
from web.owner import routed
from web.shapes import event_fields, market_order, market_view
from web.slices import TURNS

#: Market keys sorted at once, then merged: each run is one short slice.
SORT_RUN = 1000
#: Markets encoded by one ``orjson.dumps``.
ENCODE_RUN = 100


def lookup_event_fields(event_id: str) -> dict[str, Any] | None:
    """Return the event view without its markets from this worker's tables (it must own
    the event)."""
    event = state.events.get(event_id)
    if event is None:
        return None
    return event_fields(event)


def market_count(event_id: str) -> int | None:
    """Return how many markets the event has in this worker's tables, None if unknown."""
    event = state.events.get(event_id)
    return None if event is None else len(event["market_status"])


def _order(key: str) -> tuple[tuple[int, int, str], str]:
    # Market ids exclude '/', event ids too: a key has one reading.
    _event_id, market_id, specifiers = key.split("/", 2)
    return market_order(market_id, specifiers)


async def market_snapshots(event_id: str, until: float = math.inf
                           ) -> AsyncIterator[Snapshot]:
    """Yield the event's markets in the API's order (market id, then specifiers); a wait
    for a turn ends at ``until`` (``time.monotonic``), for the caller to give up."""
    await TURNS.tick(until)
    event = state.events.get(event_id)
    if event is None:
        return
    keys = list(event["market_status"])
    runs = []
    for start in range(0, len(keys), SORT_RUN):
        await TURNS.tick(until)
        runs.append(sorted(keys[start:start + SORT_RUN], key=_order))
    for key in heapq.merge(*runs, key=_order):
        await TURNS.tick(until)
        snapshot = state.markets.get(key)
        if snapshot is not None:
            yield snapshot


async def read_event(event_id: str) -> dict[str, Any] | None:
    """Return the event view with all its markets (``GET /events/{id}``)."""
    view = lookup_event_fields(event_id)
    if view is None:
        return None
    view["markets"] = [market_view(m) async for m in market_snapshots(event_id)]
    return view


async def encode_event(view: dict[str, Any]) -> bytes:
    """Return ``orjson.dumps(view)``, encoding the markets a run at a time."""
    markets = view["markets"]
    head = orjson.dumps({k: v for k, v in view.items() if k != "markets"})
    parts = []
    for start in range(0, len(markets), ENCODE_RUN):
        await TURNS.tick()
        parts.append(orjson.dumps(markets[start:start + ENCODE_RUN])[1:-1])
    return b"".join((head[:-1], b',"markets":[', b",".join(parts), b"]}"))


def lookup_market(event_id: str, market_id: str, specifiers: str) -> dict[str, Any] | None:
    """Return one market view from this worker's tables (it must own the event)."""
    snapshot = state.markets.get(market_key(event_id, market_id, specifiers))
    return None if snapshot is None else {"event_id": event_id, **market_view(snapshot)}


blueprint = Blueprint("events")


@blueprint.route("/events/{event_id}")
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
        view = await read_event(event_id)
        if view is None:
            return error(self, 404, "not_found", f"unknown event {event_id!r}")
        body = await encode_event(view)
        return json_answer(body)


@blueprint.route("/events/{event_id}/markets/{market_id}")
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
