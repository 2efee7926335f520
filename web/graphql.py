"""The GraphQL schema: ``event(id)``, ``events(filter)`` and ``market(...)`` over the read model.

The schema is Strawberry's; ``web.graphql_http`` executes it inside a Faust view (no second
web framework). ``events`` reads this worker's replica; ``event`` and ``market`` read the
owning worker. Resolvers charge the request's budget (``web.cost``) for what they
materialise, and hand long lists to the executor one item per step (``web.slices``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated, Any, cast
from urllib.parse import quote

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter, QueryDepthLimiter
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from web import params
from web.cost import Plan, Selection
from web.doclimits import MAX_DEPTH
from web.graphql_bets import BetCheck, check_bets
from web.graphql_scalars import MILLIS, Millis
from web.history import HistoryUnavailable, read_history
from web.history_shape import DEFAULT_LIMIT as HISTORY_LIMIT
from web.history_shape import checked as history_window
from web.listing import list_events
from web.owner import OwnerUnavailable, owned_json
from web.replica import REPLICA
from web.resolving import below, charge, item_cost, listed, paced
from web.shapes import market_view
from web.views import lookup_event_fields, lookup_market, market_count, market_snapshots

log = logging.getLogger(__name__)

MAX_TOKENS = 1000
#: Answered by ``owned_json`` when this worker owns the event: read its markets here.
LOCAL: dict[str, Any] = {}



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


def _outcome(view: dict[str, Any]) -> Outcome:
    fields: dict[str, Any] = {k: view.get(k) for k in OUTCOME_FIELDS}
    return Outcome(**fields)


def _market_outcomes(root: Market, info: strawberry.Info) -> list[Outcome]:
    weight = item_cost(below(root.selection, info), len(OUTCOME_FIELDS))
    return listed(root.raw_outcomes, _outcome, weight, info)


@strawberry.type(description="An outcome's price in one version of a market.")
class VersionOutcome:
    id: str
    odds: float | None
    active: bool | None


@strawberry.type(description="One version of a market from the price history, as "
                             "GET .../markets/{id}/history answers it.")
class MarketVersion:
    version: int
    status: str | None
    updated_ts: Millis
    producer: int | None
    ts: Millis
    source: str
    changes: JSON | None
    outcomes: list[VersionOutcome] | None


def _version(view: dict[str, Any]) -> MarketVersion:
    outcomes = view["outcomes"]
    return MarketVersion(
        version=view["version"], status=view["status"], updated_ts=view["updated_ts"],
        producer=view["producer"], ts=view["ts"], source=view["source"],
        changes=None if view["changes"] is None else JSON(view["changes"]),
        outcomes=None if outcomes is None else [
            VersionOutcome(id=o["id"], odds=o.get("odds"), active=o.get("active"))
            for o in outcomes])


async def _market_history(
    root: Market, info: strawberry.Info,
    start: Annotated[Millis | None, strawberry.argument(name="from")] = None,
    end: Annotated[Millis | None, strawberry.argument(name="to")] = None,
    limit: int = HISTORY_LIMIT,
) -> list[MarketVersion]:
    try:
        window = history_window(start, end, limit, root.specifiers)
    except params.BadRequest as exc:
        raise _fail("bad_request", str(exc)) from None
    try:
        found = await read_history((root.event_id, root.market_id, root.specifiers), window)
    except HistoryUnavailable as exc:
        raise _fail("mysql_unavailable", f"the price history cannot be read: {exc}") from None
    views = [] if found is None else found["versions"]
    selection = below(root.selection, info)
    # A version's outcomes are built with it: charged here, per outcome, under every key.
    each = 0 if selection is None else sum(c.selection.fixed for c in
                                           selection.children.values() if c.is_list)
    charge(info, sum(len(v["outcomes"] or ()) for v in views) * each)
    return listed(views, _version, item_cost(selection, len(VERSION_FIELDS)), info)


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
    raw_outcomes: strawberry.Private[list[dict[str, Any]]]
    selection: strawberry.Private[Selection | None] = None
    outcomes: list[Outcome] = strawberry.field(resolver=_market_outcomes,
                                               description="The market's outcomes.")
    history: list[MarketVersion] = strawberry.field(
        resolver=_market_history,
        description="Every version with updated_ts from `from` to `to` (ms), ordered by "
                    "version (limit 1..1000), read from MySQL; empty if the market has none.")


def _market(event_id: str, view: dict[str, Any], selection: Selection | None) -> Market:
    fields: dict[str, Any] = {k: view.get(k) for k in MARKET_FIELDS}
    fields["event_id"] = event_id
    fields["cancels"] = JSON(view.get("cancels") or [])
    return Market(**fields, raw_outcomes=view["outcomes"], selection=selection)


def _event_markets(root: Event, info: strawberry.Info) -> list[Market]:
    selection = below(root.selection, info)
    weight = item_cost(selection, len(MARKET_FIELDS) + 1)
    held = root.held_markets
    if held is None:
        plan = info.context if isinstance(info.context, Plan) else None
        return cast(list[Market], _read_markets(root.event_id, plan, selection, weight))
    return listed(held, partial(_market, root.event_id, selection=selection), weight, info)


async def _read_markets(event_id: str, plan: Plan | None, selection: Selection | None,
                        weight: int) -> AsyncIterator[Market]:
    """Yield an event's markets from its owner, charging for them before they are read."""

    def spend(markets: int) -> None:
        if plan is not None:
            plan.budget.charge(markets * weight)

    # The replica knows how many markets the event has before its owner is asked.
    known = sum(((REPLICA.events.get(event_id) or {}).get("market_counts") or {}).values())
    spend(known)
    view = await _owned(event_id, f"/events/{event_id}", {}, lambda: LOCAL)
    if view is None:
        spend(-known)
        return
    if view is not LOCAL:
        spend(len(view["markets"]) - known)
        async for market in paced(view["markets"], partial(_market, event_id,
                                                           selection=selection), plan):
            yield market
        return
    spend((market_count(event_id) or 0) - known)
    async for snapshot in market_snapshots(event_id, plan.budget.deadline if plan else math.inf):
        if plan is not None:
            plan.budget.check()
        yield _market(event_id, market_view(snapshot), selection)


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
    selection: strawberry.Private[Selection | None] = None
    markets: list[Market] = strawberry.field(
        resolver=_event_markets,
        description="Markets sorted by market id then specifiers (read from the worker that "
                    "owns the event).")


def _event(view: dict[str, Any], selection: Selection | None) -> Event:
    score = view.get("score") or {}
    fields: dict[str, Any] = {k: view.get(k) for k in EVENT_SCALARS}
    return Event(**fields, score=Score(home=score.get("home"), away=score.get("away")),
                 market_counts=JSON(view.get("market_counts") or {}),
                 period_scores=JSON(view.get("period_scores") or []),
                 held_markets=view.get("markets"), selection=selection)


def _page_events(root: EventPage, info: strawberry.Info) -> list[Event]:
    selection = below(root.selection, info)
    weight = item_cost(selection, len(EVENT_SCALARS) + 5)
    return listed(root.raw_events, partial(_event, selection=selection), weight, info)


@strawberry.type(description="One page of events and how many matched.")
class EventPage:
    total: int
    limit: int
    offset: int
    raw_events: strawberry.Private[list[dict[str, Any]]]
    selection: strawberry.Private[Selection | None] = None
    events: list[Event] = strawberry.field(resolver=_page_events,
                                           description="The events of this page.")


@strawberry.input(description="Filters of events(); all optional, combined with AND.")
class EventFilter:
    status: str | None = None
    sport: str | None = None
    live: bool | None = None


OUTCOME_FIELDS = tuple(Outcome.__annotations__)
MARKET_FIELDS = tuple(k for k in Market.__annotations__
                      if k not in ("raw_outcomes", "selection", "outcomes", "history"))
VERSION_FIELDS = tuple(k for k in MarketVersion.__annotations__ if k != "outcomes")
EVENT_SCALARS = ("event_id", "status", "match_status", "clock", "betting_status",
                 "betstop_reason", "start_time", "sport", "competition", "home", "away")


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


def _root(info: strawberry.Info) -> Selection | None:
    selection = below(None, info)
    if selection is not None:
        charge(info, selection.fixed)
    return selection


async def resolve_event(
    info: strawberry.Info,
    event_id: Annotated[strawberry.ID, strawberry.argument(name="id")],
) -> Event | None:
    event_id_ = _checked(params.event_id, str(event_id))
    view = await _owned(event_id_, f"/events/{event_id_}", {},
                        lambda: lookup_event_fields(event_id_))
    return None if view is None else _event(view, _root(info))


def resolve_events(info: strawberry.Info, filter: EventFilter | None = None,
                   limit: int = params.DEFAULT_LIMIT, offset: int = 0) -> EventPage:
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
                     raw_events=page["events"], selection=_root(info))


async def resolve_market(info: strawberry.Info, event_id: strawberry.ID, market_id: str,
                         specifiers: str = "") -> Market | None:
    event_id_ = _checked(params.event_id, str(event_id))
    market_id_ = _checked(params.market_id, market_id)
    canonical = _checked(params.specifiers, specifiers)
    path = f"/events/{event_id_}/markets/{quote(market_id_, safe='')}"
    view = await _owned(event_id_, path, {"specifiers": canonical} if canonical else {},
                        lambda: lookup_market(event_id_, market_id_, canonical))
    return None if view is None else _market(event_id_, view, _root(info))


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


@strawberry.type
class Mutation:
    check_bets: BetCheck = strawberry.field(
        resolver=check_bets,
        description="May this ticket be taken at these prices now (POST /bets/check).")


class Schema(strawberry.Schema):
    """Logs unexpected resolver errors only; input errors are the client's business."""

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        unexpected = [e for e in errors
                      if e.original_error is not None and not (e.extensions or {}).get("code")]
        if unexpected:
            super().process_errors(unexpected, execution_context)


schema = Schema(query=Query, mutation=Mutation,
                config=StrawberryConfig(scalar_map={Millis: MILLIS}),
                extensions=[partial(QueryDepthLimiter, max_depth=MAX_DEPTH),
                            partial(MaxTokensLimiter, max_token_count=MAX_TOKENS)])
