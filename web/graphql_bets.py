"""``checkBets``, the GraphQL mutation of ``POST /bets/check``: same reading of the ticket,
same answer (``web.bets.check_ticket``), in GraphQL's types."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError

from models.acceptance import Policy
from web import bet_bodies
from web.bets import check_ticket
from web.graphql_scalars import Millis
from web.owner import OwnerUnavailable
from web.params import BadRequest

PricePolicy = strawberry.enum(Policy, description="Which current price a ticket accepts.")


@strawberry.input(description="One selection to check: an outcome at the odds asked.")
class BetSelectionInput:
    event_id: strawberry.ID
    market_id: str
    outcome_id: str
    odds: float
    specifiers: str = ""
    version: int | None = None


@strawberry.input(description="A ticket to check, as the body of POST /bets/check.")
class TicketInput:
    selections: list[BetSelectionInput]
    stake: float
    price_policy: PricePolicy = Policy.EXACT  # type: ignore[valid-type]
    allow_same_event: bool = False
    ticket_id: str | None = None


@strawberry.type(description="How one selection stands (POST /bets/check's selections).")
class BetSelection:
    event_id: str
    market_id: str
    specifiers: str
    outcome_id: str
    status: str
    odds: float | None
    version: int | None
    reason: str | None
    market_status: str | None
    current_odds: float | None
    current_version: int | None
    bet_delay_ms: int


@strawberry.type(description="The answer to a ticket (POST /bets/check's answer).")
class BetCheck:
    status: str
    reason: str | None
    ticket_id: str | None
    check_after_ms: int | None
    expires_at: Millis | None
    stake: float
    combined_odds: float | None
    potential_return: float | None
    selections: list[BetSelection]


SELECTION_FIELDS = tuple(BetSelection.__annotations__)
TICKET_FIELDS = tuple(k for k in BetCheck.__annotations__ if k != "selections")


def _fields(ticket: TicketInput) -> dict[str, Any]:
    selections = [{"event_id": str(s.event_id), "market_id": s.market_id,
                   "specifiers": s.specifiers, "outcome_id": s.outcome_id, "odds": s.odds,
                   "version": s.version} for s in ticket.selections]
    return {"selections": selections, "stake": ticket.stake,
            "price_policy": Policy(ticket.price_policy).value,
            "allow_same_event": ticket.allow_same_event, "ticket_id": ticket.ticket_id}


async def check_bets(ticket: TicketInput) -> BetCheck:
    """May this ticket be taken at these prices now."""
    try:
        request = bet_bodies.check_fields(_fields(ticket))
    except BadRequest as exc:
        raise GraphQLError(str(exc), extensions={"code": "bad_request"}) from None
    try:
        answer = await check_ticket(request)
    except OwnerUnavailable as exc:
        raise GraphQLError(str(exc), extensions={"code": "not_ready"}) from None
    return BetCheck(**{k: answer[k] for k in TICKET_FIELDS},
                    selections=[BetSelection(**{k: s.get(k) for k in SELECTION_FIELDS})
                                for s in answer["selections"]])
