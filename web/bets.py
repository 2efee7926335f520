"""``POST /bets/check`` and ``POST /bets/settle``: bets against the platform's own state.

A ticket's selections are grouped by event; each group is answered by the worker that owns
the event (``POST /bets/check/events/{event_id}``, between workers), the groups concurrently.
The owner checks the selections against its tables (``models.acceptance``) and, for a ticket
that must wait out a bet delay, holds them (``agents.bet_watch``) until the ticket is sent
again. Settlement reads each market from its owner and applies ``models.payout``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeVar, cast
from urllib.parse import quote

import orjson
from faust.web import Blueprint, Request, Response, View

from agents.bet_watch import WATCH, Held
from agents.odds import read_owned
from app.clock import now_ms
from app.error_shape import error
from app.faust_app import settings
from models.acceptance import (
    TICKET_TTL_MS,
    Answer,
    Asked,
    Policy,
    Reason,
    TicketReason,
    Verdict,
    check_selection,
    correlated,
    decide,
    fingerprint,
)
from models.event import sport_status
from models.payout import LegResult, settle_ticket
from tables import state
from web import bet_bodies, params
from web.bet_bodies import CheckRequest, SettleRequest
from web.bodies import TooLarge, json_answer, read_bounded, too_large
from web.owner import OwnerUnavailable, owned_json, owned_post, owner_url
from web.views import lookup_market

MAX_BODY_BYTES = 16_000
Ticket = TypeVar("Ticket", CheckRequest, SettleRequest)


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


# -- the owner ------------------------------------------------------------------------------

def _event_status(event_id: str) -> str | None:
    event = read_owned(state.events, event_id, event_id)
    return None if event is None else sport_status(event)


def _check_here(asked: Asked, event_status: str | None, policy: Policy) -> Answer:
    market = read_owned(state.markets, asked.event_id, asked.market_key)
    return check_selection(asked, event_status, market, policy, settings.live_bet_delay_ms)


def _recheck(held: Held, event_status: str | None, now: int) -> Answer:
    if held.spoiled is not None:
        return Answer(Verdict.REJECTED, Reason.SUSPENDED_DURING_DELAY,
                      market_status=held.spoiled)
    answer = _check_here(held.asked, event_status, held.policy)
    if answer.verdict is not Verdict.ACCEPTED:
        return answer
    wait = max(0, held.ready_ms - now)
    return replace(answer, verdict=Verdict.PENDING if wait else Verdict.ACCEPTED, delay_ms=wait)


def _held_for(ticket_id: str, selections: Sequence[Asked], ticket: str,
              now: int) -> tuple[list[Held], TicketReason | None]:
    held = WATCH.get(ticket_id)
    if held is None:
        return [], TicketReason.TICKET_UNKNOWN
    if min(h.expires_ms for h in held) <= now:
        return [], TicketReason.TICKET_EXPIRED
    by_selection = {(h.asked.market_key, h.asked.outcome_id): h for h in held}
    matched = [by_selection.get((a.market_key, a.outcome_id)) for a in selections]
    if len(held) != len(selections) or any(h is None or h.fingerprint != ticket
                                           for h in matched):
        return [], TicketReason.TICKET_MISMATCH
    return cast(list[Held], matched), None


@dataclass(frozen=True, slots=True)
class OwnerAnswer:
    """What the owner of an event answers for its selections: each one's answer, a reason
    that refuses the whole ticket, and when the ticket's holds expire (None: none held)."""

    answers: list[Answer]
    reason: TicketReason | None = None
    expires_at: int | None = None

    def json(self) -> dict[str, Any]:
        """The answer as it travels between workers."""
        return {"reason": None if self.reason is None else self.reason.value,
                "expires_at": self.expires_at,
                "answers": [_answer_json(a) for a in self.answers]}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> OwnerAnswer:
        """Read what ``json`` wrote."""
        return cls([_answer_from_json(a) for a in raw["answers"]],
                   None if raw["reason"] is None else TicketReason(raw["reason"]),
                   raw["expires_at"])


def check_owned(event_id: str, selections: Sequence[Asked], policy: Policy, ticket: str,
                ticket_id: str | None, new_ticket_id: str | None,
                hold: bool) -> OwnerAnswer:
    """Answer the selections of one event on the worker that owns it.

    ``ticket``: the whole ticket's fingerprint; ``ticket_id``: the pending ticket sent again;
    ``new_ticket_id``: the id a new ticket gets if it must wait; ``hold``: hold its
    selections even without a delay of their own (the ticket spans workers, and another's
    selection may have one)."""
    now = now_ms()
    event_status = _event_status(event_id)
    reason: TicketReason | None = None
    expires: int | None = None
    if ticket_id is not None:
        held, reason = _held_for(ticket_id, selections, ticket, now)
        answers = ([_recheck(h, event_status, now) for h in held] if reason is None else
                   [_check_here(a, event_status, policy) for a in selections])
        if held:
            expires = min(h.expires_ms for h in held)
    else:
        answers = [_check_here(a, event_status, policy) for a in selections]
        accepted = all(a.verdict is Verdict.ACCEPTED for a in answers)
        waits = any(a.delay_ms for a in answers)
        if new_ticket_id is not None and accepted and (hold or waits):
            expires = now + TICKET_TTL_MS
            WATCH.hold(new_ticket_id, [Held(a, policy, ticket, now + answer.delay_ms, expires)
                                       for a, answer in zip(selections, answers, strict=True)],
                       now)
    return OwnerAnswer(answers, reason, expires)


def _answer_json(answer: Answer) -> dict[str, Any]:
    return {"verdict": answer.verdict.value,
            "reason": None if answer.reason is None else answer.reason.value,
            "odds": _text(answer.odds), "version": answer.version,
            "market_status": answer.market_status,
            "current_odds": _text(answer.current_odds),
            "current_version": answer.current_version, "delay_ms": answer.delay_ms}


def _answer_from_json(raw: dict[str, Any]) -> Answer:
    return Answer(Verdict(raw["verdict"]),
                  None if raw["reason"] is None else Reason(raw["reason"]),
                  _decimal(raw["odds"]), raw["version"], raw["market_status"],
                  _decimal(raw["current_odds"]), raw["current_version"], raw["delay_ms"])


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _asked_json(asked: Asked) -> dict[str, Any]:
    return {"event_id": asked.event_id, "market_id": asked.market_id,
            "specifiers": asked.specifiers, "outcome_id": asked.outcome_id,
            "odds": str(asked.odds), "version": asked.version}


# -- the coordinator ------------------------------------------------------------------------

async def _check_event(event_id: str, selections: list[Asked], request: CheckRequest,
                       ticket: str, new_ticket_id: str | None, hold: bool) -> OwnerAnswer:
    body = {"selections": [_asked_json(a) for a in selections],
            "price_policy": request.policy.value, "fingerprint": ticket,
            "ticket_id": request.ticket_id, "new_ticket_id": new_ticket_id, "hold": hold}
    return await owned_post(
        event_id, f"/bets/check/events/{event_id}", body, OwnerAnswer.from_json,
        lambda: check_owned(event_id, selections, request.policy, ticket, request.ticket_id,
                            new_ticket_id, hold))


async def check_ticket(request: CheckRequest) -> dict[str, Any]:
    """Answer a ticket: every selection by its event's owner, then the ticket as a whole.

    Raises ``OwnerUnavailable`` when an owner is not known or does not answer."""
    groups: dict[str, list[int]] = {}
    for index, asked in enumerate(request.selections):
        groups.setdefault(asked.event_id, []).append(index)
    reason = (TicketReason.CORRELATED
              if not request.allow_same_event and correlated(request.selections) else None)
    new_ticket_id = uuid.uuid4().hex if request.ticket_id is None and reason is None else None
    hold = len(groups) > 1
    ticket = fingerprint(request.selections, request.stake, request.policy)
    owners = await asyncio.gather(*(
        _check_event(event_id, [request.selections[i] for i in indexes], request, ticket,
                     new_ticket_id, hold)
        for event_id, indexes in groups.items()))
    answers: list[Answer | None] = [None] * len(request.selections)
    expires: list[int] = []
    for indexes, owner in zip(groups.values(), owners, strict=True):
        reason = reason or owner.reason
        if owner.expires_at is not None:
            expires.append(owner.expires_at)
        for index, answer in zip(indexes, owner.answers, strict=True):
            answers[index] = answer
    checked = cast(list[Answer], answers)
    decided = decide(checked, request.stake, reason)
    pending = decided.verdict is Verdict.PENDING
    return {
        "status": decided.verdict.value,
        "reason": None if decided.reason is None else decided.reason.value,
        "ticket_id": (request.ticket_id or new_ticket_id) if pending else None,
        "check_after_ms": decided.delay_ms if pending else None,
        "expires_at": min(expires) if pending and expires else None,
        "stake": float(request.stake),
        "combined_odds": _number(decided.combined_odds),
        "potential_return": _number(decided.potential_return),
        "selections": [_selection_json(a, answer, pending)
                       for a, answer in zip(request.selections, checked, strict=True)],
    }


def _selection_json(asked: Asked, answer: Answer, pending: bool) -> dict[str, Any]:
    status = answer.verdict
    if pending and status is Verdict.ACCEPTED and answer.delay_ms:
        status = Verdict.PENDING
    view: dict[str, Any] = {
        "event_id": asked.event_id, "market_id": asked.market_id,
        "specifiers": asked.specifiers, "outcome_id": asked.outcome_id,
        "status": status.value, "odds": _number(answer.odds), "version": answer.version,
        "reason": None if answer.reason is None else answer.reason.value,
        "bet_delay_ms": answer.delay_ms}
    if answer.reason in (Reason.MARKET_NOT_ACTIVE, Reason.PRODUCER_DOWN,
                         Reason.SUSPENDED_DURING_DELAY):
        view["market_status"] = answer.market_status
    if answer.reason in (Reason.PRICE_CHANGED, Reason.OUTCOME_INACTIVE):
        view["current_odds"] = _number(answer.current_odds)
        view["current_version"] = answer.current_version
    return view


async def _market(event_id: str, market_id: str, specifiers: str) -> dict[str, Any] | None:
    path = f"/events/{event_id}/markets/{quote(market_id, safe='')}"
    return await owned_json(event_id, path, {"specifiers": specifiers} if specifiers else {},
                            lambda: lookup_market(event_id, market_id, specifiers))


def _leg_json(result: LegResult) -> dict[str, Any]:
    return {"outcome": result.outcome.value, "factor": _number(result.factor),
            "provisional": result.provisional, "reason": result.reason}


async def settle(request: SettleRequest) -> dict[str, Any]:
    """Answer each placed selection and the ticket's return from the markets' current state.

    Raises ``OwnerUnavailable`` when an owner is not known or does not answer."""
    wanted = {(p.event_id, p.market_id, p.specifiers) for p in request.selections}
    keys = list(wanted)
    markets = dict(zip(keys, await asyncio.gather(*(_market(*key) for key in keys)),
                       strict=True))
    ticket = settle_ticket([(p.selection, markets[(p.event_id, p.market_id, p.specifiers)])
                            for p in request.selections], request.stake)
    return {
        "status": "open" if ticket.open else "settled",
        "provisional": ticket.provisional,
        "stake": float(request.stake),
        "factor": _number(ticket.factor),
        "returns": _number(ticket.returns),
        "selections": [{"event_id": p.event_id, "market_id": p.market_id,
                        "specifiers": p.specifiers, "outcome_id": p.selection.outcome_id,
                        **_leg_json(leg)}
                       for p, leg in zip(request.selections, ticket.legs, strict=True)],
    }


# -- the views ------------------------------------------------------------------------------

def _json(body: dict[str, Any]) -> Response:
    return json_answer(orjson.dumps(body))


def _unavailable(view: View, exc: OwnerUnavailable) -> Response:
    return error(view, 503, "not_ready", str(exc))


async def _answer(view: View, request: Request, read: Callable[[bytes], Ticket],
                  answer: Callable[[Ticket], Awaitable[dict[str, Any]]]) -> Response:
    """Read a bounded body, answer it; 413 and 400 for a body that cannot be read, 503 when
    an owner is away."""
    try:
        ticket = read(await read_bounded(request, MAX_BODY_BYTES))
    except TooLarge as exc:
        return too_large(str(exc))
    except params.BadRequest as exc:
        return error(view, 400, "bad_request", str(exc))
    try:
        return _json(await answer(ticket))
    except OwnerUnavailable as exc:
        return _unavailable(view, exc)


blueprint = Blueprint("bets")


@blueprint.route("/bets/check")
class BetCheck(View):
    """May this ticket be taken at these prices now."""

    async def post(self, request: Request, **kwargs: Any) -> Response:
        """Answer the ticket, a 400 for a malformed body, or a 503 when an owner is away."""
        return await _answer(self, request, bet_bodies.check_request, check_ticket)


@blueprint.route("/bets/check/events/{event_id}")
class EventBetCheck(View):
    """The selections of one event, answered by its owner (sent by the worker that took the
    ticket)."""

    async def post(self, request: Request, **kwargs: Any) -> Response:
        """Answer them here, or 503 when this worker does not own the event (any more)."""
        event_id = request.match_info["event_id"]
        try:
            params.event_id(event_id)
            raw = orjson.loads(await read_bounded(request, MAX_BODY_BYTES))
            selections = [bet_bodies.asked(s, f"selections[{i}]")
                          for i, s in enumerate(raw["selections"])]
            policy = bet_bodies.policy(raw["price_policy"])
            ticket = raw["fingerprint"]
            if not isinstance(ticket, str):
                raise TypeError("fingerprint must be a string")
            ticket_id = bet_bodies.ticket_id(raw["ticket_id"])
            new_ticket_id = bet_bodies.ticket_id(raw["new_ticket_id"])
            hold = raw["hold"] is True
        except (params.BadRequest, TooLarge, orjson.JSONDecodeError, KeyError, TypeError) \
                as exc:
            return error(self, 400, "bad_request", f"malformed owner check: {exc}")
        if any(s.event_id != event_id for s in selections):
            return error(self, 400, "bad_request", "every selection must be of the event")
        try:
            if owner_url(event_id) is not None:
                return error(self, 503, "not_owner", "this worker does not own the event")
        except OwnerUnavailable as exc:
            return _unavailable(self, exc)
        return _json(check_owned(event_id, selections, policy, ticket, ticket_id, new_ticket_id,
                                 hold).json())


@blueprint.route("/bets/settle")
class BetSettle(View):
    """What a placed ticket returns now that its markets settled (or not yet)."""

    async def post(self, request: Request, **kwargs: Any) -> Response:
        """Answer each leg and the ticket, a 400 for a malformed body, or a 503."""
        return await _answer(self, request, bet_bodies.settle_request, settle)
