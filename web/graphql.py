"""``POST /graphql``: ``event(id)``, ``events(filter)`` and ``market(...)`` over the read model.

The schema is Strawberry's; it is executed inside a Faust view (no second web framework).
``events`` reads this worker's replica; ``event`` and ``market`` read the owning worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, NewType
from urllib.parse import quote

import orjson
import strawberry
from faust.web import Request, Response, View
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter, QueryDepthLimiter
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from app import metrics
from app.faust_app import app
from web import params
from web.listing import list_events
from web.owner import OwnerUnavailable, owned_json
from web.replica import REPLICA
from web.routing import error
from web.views import lookup_event, lookup_market

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 20_000

#: GraphQL's Int is 32 bits; epoch milliseconds need more.
Millis = NewType("Millis", int)
MILLIS = strawberry.scalar(name="Millis", serialize=int, parse_value=int,
                           description="Milliseconds since the Unix epoch (a 64-bit integer).")


def _fail(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


@strawberry.type(description="A score; null until the event has one.")
class Score:
    home: float | None
    away: float | None


@strawberry.type(description="One outcome of a market, with its price in every format.")
class Outcome:
    id: str
    name: str | None
    odds: float | None
    active: bool
    probability: float | None
    implied_probability: float | None
    american: int | None
    fractional: str | None
    direction: str | None
    result: str | None
    void_factor: float | None
    dead_heat_factor: float | None
    removal_ts: Millis | None
    reduction_factor: float | None


@strawberry.type(description="A market snapshot, as on markets.v1 and GET .../markets/{id}.")
class Market:
    event_id: str
    market_id: str
    specifiers: str
    name: str | None
    status: str
    producer: int
    margin: float | None
    version: int
    updated_ts: Millis
    settlement: JSON | None
    cancels: JSON
    cashout_status: str | None
    outcomes: list[Outcome]


async def _event_markets(root: Event) -> list[Market]:
    held = root.held_markets
    if held is None:
        view = await _owned(root.event_id, f"/events/{root.event_id}", {},
                            lambda: lookup_event(root.event_id))
        held = [] if view is None else view["markets"]
    return [_market(root.event_id, m) for m in held]


@strawberry.type(description="An event: fixture, live status and score, and its markets.")
class Event:
    event_id: str
    status: str
    match_status: int | None
    score: Score
    period_scores: JSON
    clock: str | None
    betting_status: str | None
    betstop_reason: str | None
    start_time: Millis | None
    sport: str | None
    competition: str | None
    home: str | None
    away: str | None
    market_counts: JSON
    held_markets: strawberry.Private[list[dict[str, Any]] | None] = None
    markets: list[Market] = strawberry.field(
        resolver=_event_markets,
        description="Markets sorted by market id then specifiers (read from the worker that "
                    "owns the event).")


@strawberry.type(description="One page of events and how many matched.")
class EventPage:
    total: int
    limit: int
    offset: int
    events: list[Event]


@strawberry.input(description="Filters of events(); all optional, combined with AND.")
class EventFilter:
    status: str | None = None
    sport: str | None = None
    live: bool | None = None


def _market(event_id: str, view: dict[str, Any]) -> Market:
    fields: dict[str, Any] = {k: view.get(k) for k in Market.__annotations__
                              if k != "outcomes"}
    fields["event_id"] = event_id
    fields["cancels"] = JSON(view.get("cancels") or [])
    outcomes = [Outcome(**{k: o.get(k) for k in Outcome.__annotations__})
                for o in view["outcomes"]]
    return Market(**fields, outcomes=outcomes)


EVENT_SCALARS = ("event_id", "status", "match_status", "clock", "betting_status",
                 "betstop_reason", "start_time", "sport", "competition", "home", "away")


def _event(view: dict[str, Any]) -> Event:
    score = view.get("score") or {}
    fields: dict[str, Any] = {k: view.get(k) for k in EVENT_SCALARS}
    return Event(**fields, score=Score(home=score.get("home"), away=score.get("away")),
                 market_counts=JSON(view.get("market_counts") or {}),
                 period_scores=JSON(view.get("period_scores") or []),
                 held_markets=view.get("markets"))


async def _owned(event_id: str, path: str, query: dict[str, str],
                 local: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    try:
        return await owned_json(event_id, path, query, local)
    except OwnerUnavailable as exc:
        raise _fail("not_ready", str(exc)) from None


def _checked(check: Callable[[str], str], raw: str) -> str:
    try:
        return check(raw)
    except params.BadRequest as exc:
        raise _fail("bad_request", str(exc)) from None


async def resolve_event(
    event_id: Annotated[strawberry.ID, strawberry.argument(name="id")],
) -> Event | None:
    event_id_ = _checked(params.event_id, str(event_id))
    view = await _owned(event_id_, f"/events/{event_id_}", {}, lambda: lookup_event(event_id_))
    return None if view is None else _event(view)


def resolve_events(filter: EventFilter | None = None, limit: int = params.DEFAULT_LIMIT,
                   offset: int = 0) -> EventPage:
    wanted = filter or EventFilter()
    try:
        limit, offset = params.page(limit, offset)
        query = params.EventQuery(
            status=None if wanted.status is None else params.status(wanted.status),
            sport=None if wanted.sport is None else params.sport(wanted.sport),
            live=wanted.live, limit=limit, offset=offset)
    except params.BadRequest as exc:
        raise _fail("bad_request", str(exc)) from None
    if not REPLICA.ready:
        raise _fail("not_ready", "the event list is loading; retry shortly")
    page = list_events(query)
    return EventPage(total=page["total"], limit=limit, offset=offset,
                     events=[_event(e) for e in page["events"]])


async def resolve_market(event_id: strawberry.ID, market_id: str,
                         specifiers: str = "") -> Market | None:
    event_id_ = _checked(params.event_id, str(event_id))
    market_id_ = _checked(params.market_id, market_id)
    canonical = _checked(params.specifiers, specifiers)
    path = f"/events/{event_id_}/markets/{quote(market_id_, safe='')}"
    view = await _owned(event_id_, path, {"specifiers": canonical} if canonical else {},
                        lambda: lookup_market(event_id_, market_id_, canonical))
    return None if view is None else _market(event_id_, view)


@strawberry.type
class Query:
    event: Event | None = strawberry.field(
        resolver=resolve_event, description="One event with its markets; null if unknown.")
    events: EventPage = strawberry.field(
        resolver=resolve_events,
        description="Events sorted by start time then id (limit 1..200, offset >= 0).")
    market: Market | None = strawberry.field(
        resolver=resolve_market,
        description="One market (specifiers in any order); null if unknown.")


class Schema(strawberry.Schema):
    """Logs unexpected resolver errors only; input errors are the client's business."""

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        unexpected = [e for e in errors
                      if e.original_error is not None and not (e.extensions or {}).get("code")]
        if unexpected:
            super().process_errors(unexpected, execution_context)


schema = Schema(query=Query, config=StrawberryConfig(scalar_map={Millis: MILLIS}),
                extensions=[partial(QueryDepthLimiter, max_depth=8),
                            partial(MaxTokensLimiter, max_token_count=2000)])


def _request(raw: bytes) -> tuple[str, dict[str, Any] | None, str | None]:
    if len(raw) > MAX_QUERY_BYTES:
        raise params.BadRequest(f"request larger than {MAX_QUERY_BYTES} bytes")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise params.BadRequest("body must be JSON: {\"query\": ..., \"variables\": ...}") \
            from None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise params.BadRequest("body must be a JSON object with a string \"query\"")
    variables, operation = body.get("variables"), body.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        raise params.BadRequest("\"variables\" must be a JSON object")
    if operation is not None and not isinstance(operation, str):
        raise params.BadRequest("\"operationName\" must be a string")
    return body["query"], variables, operation


@app.page("/graphql")
class GraphQLView(View):
    """GraphQL over HTTP: POST a JSON body ``{"query", "variables", "operationName"}``."""

    async def post(self, request: Request, **kwargs: Any) -> Response:
        try:
            query, variables, operation = _request(await self.read_request_content(request))
        except params.BadRequest as exc:
            metrics.GRAPHQL_REQUESTS.labels("bad_request").inc()
            return error(self, 400, "bad_request", str(exc))
        result = await schema.execute(query, variable_values=variables,
                                      operation_name=operation)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        metrics.GRAPHQL_REQUESTS.labels("error" if result.errors else "ok").inc()
        return self.json(body)
