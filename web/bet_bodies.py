"""Read the bodies of ``POST /bets/check`` and ``POST /bets/settle`` (pure; raise
``BadRequest`` naming the field)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from models.acceptance import Asked, Policy
from models.payout import Selection
from web import params
from web.params import BadRequest

MAX_SELECTIONS = 20
MAX_STAKE = Decimal(1_000_000_000)
#: Odds as decimal prices: above 1, below the feed contract's ceiling.
MIN_ODDS, MAX_ODDS = Decimal("1.0"), Decimal(100_000)
OUTCOME_ID = re.compile(r"[!-~]{1,64}")
TICKET_ID = re.compile(r"[0-9a-f]{32}")
CHECK_FIELDS = frozenset({"selections", "stake", "price_policy", "allow_same_event",
                          "ticket_id"})
SETTLE_FIELDS = frozenset({"selections", "stake"})
CHECKED_SELECTION = frozenset({"event_id", "market_id", "specifiers", "outcome_id", "odds",
                               "version"})
PLACED_SELECTION = frozenset({"event_id", "market_id", "specifiers", "outcome_id", "odds",
                              "placed_at"})


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """A ticket to check: its selections, stake and price policy, and the ticket id of a
    pending answer it follows up."""

    selections: tuple[Asked, ...]
    stake: Decimal
    policy: Policy
    allow_same_event: bool = False
    ticket_id: str | None = None


@dataclass(frozen=True, slots=True)
class Placed:
    """One placed selection to settle: where it is, and the odds and time it was taken."""

    event_id: str
    market_id: str
    specifiers: str
    selection: Selection


@dataclass(frozen=True, slots=True)
class SettleRequest:
    """A placed ticket to settle."""

    selections: tuple[Placed, ...]
    stake: Decimal


def _object(raw: Any, what: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise BadRequest(f"{what} must be a JSON object")
    unknown = set(raw) - allowed
    if unknown:
        raise BadRequest(f"{what} has unknown field {sorted(unknown)[0][:40]!r}")
    return raw


def _string(raw: Mapping[str, Any], name: str, what: str, default: str | None = None) -> str:
    value = raw.get(name, default)
    if not isinstance(value, str):
        raise BadRequest(f"{what}.{name} must be a string")
    return value


def _number(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRequest(f"{what} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRequest(f"{what} must be a finite number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BadRequest(f"{what} must be a number") from None
    if not number.is_finite():
        raise BadRequest(f"{what} must be a finite number")
    return number


def _integer(value: Any, what: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise BadRequest(f"{what} must be an integer from 0 to {high}")
    return value


def _where(raw: Mapping[str, Any], what: str) -> tuple[str, str, str, str, Decimal]:
    try:
        event_id = params.event_id(_string(raw, "event_id", what))
        market_id = params.market_id(_string(raw, "market_id", what))
        specifiers = params.specifiers(_string(raw, "specifiers", what, ""))
    except BadRequest as exc:
        raise BadRequest(f"{what}: {exc}") from None
    outcome_id = _string(raw, "outcome_id", what)
    if not OUTCOME_ID.fullmatch(outcome_id):
        raise BadRequest(f"{what}.outcome_id must be 1 to 64 printable ASCII characters")
    odds = _number(raw.get("odds"), f"{what}.odds")
    if not MIN_ODDS < odds < MAX_ODDS:
        raise BadRequest(f"{what}.odds must be a decimal price above {MIN_ODDS} and below "
                         f"{MAX_ODDS}")
    return event_id, market_id, specifiers, outcome_id, odds


def _stake(raw: Mapping[str, Any]) -> Decimal:
    stake = _number(raw.get("stake"), "stake")
    if not 0 < stake <= MAX_STAKE or stake != stake.quantize(Decimal("0.01")):
        raise BadRequest(f"stake must be above 0 and at most {MAX_STAKE}, in cents at most")
    return stake


def _selections(raw: Mapping[str, Any]) -> list[Any]:
    selections = raw.get("selections")
    if not isinstance(selections, list) or not 1 <= len(selections) <= MAX_SELECTIONS:
        raise BadRequest(f"selections must be a list of 1 to {MAX_SELECTIONS} selections")
    return selections


def _decode(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("body must be JSON") from None


def asked(raw: Any, what: str) -> Asked:
    """Read one selection to check."""
    fields = _object(raw, what, CHECKED_SELECTION)
    event_id, market_id, specifiers, outcome_id, odds = _where(fields, what)
    version = fields.get("version")
    return Asked(event_id, market_id, specifiers, outcome_id, odds,
                 None if version is None else _integer(version, f"{what}.version", 2**53))


def policy(raw: Any) -> Policy:
    """Read a price policy."""
    try:
        return Policy(raw)
    except ValueError:
        raise BadRequest(f"price_policy must be one of {', '.join(Policy)}") from None


def ticket_id(raw: Any) -> str | None:
    """Read the ticket id of a pending answer (None: a new ticket)."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not TICKET_ID.fullmatch(raw):
        raise BadRequest("ticket_id must be the ticket_id of a pending answer")
    return raw


def check_request(body: bytes) -> CheckRequest:
    """Read the body of ``POST /bets/check``."""
    return check_fields(_decode(body))


def check_fields(decoded: Any) -> CheckRequest:
    """Read a ticket to check from its JSON fields (the REST body, GraphQL's input)."""
    raw = _object(decoded, "body", CHECK_FIELDS)
    allow = raw.get("allow_same_event", False)
    if not isinstance(allow, bool):
        raise BadRequest("allow_same_event must be true or false")
    return CheckRequest(
        selections=tuple(asked(s, f"selections[{i}]")
                         for i, s in enumerate(_selections(raw))),
        stake=_stake(raw), policy=policy(raw.get("price_policy", Policy.EXACT.value)),
        allow_same_event=allow, ticket_id=ticket_id(raw.get("ticket_id")))


def settle_request(body: bytes) -> SettleRequest:
    """Read the body of ``POST /bets/settle``."""
    raw = _object(_decode(body), "body", SETTLE_FIELDS)
    placed = []
    for i, item in enumerate(_selections(raw)):
        what = f"selections[{i}]"
        fields = _object(item, what, PLACED_SELECTION)
        event_id, market_id, specifiers, outcome_id, odds = _where(fields, what)
        placed_at = _integer(fields.get("placed_at"), f"{what}.placed_at", 2**53)
        placed.append(Placed(event_id, market_id, specifiers,
                             Selection(outcome_id, odds, placed_at)))
    return SettleRequest(tuple(placed), _stake(raw))
