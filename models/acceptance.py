"""May this bet be taken at this price now: pure rules over an event's and a market's state.

A selection is checked against the state the platform holds for its market (``markets.v1``
values) and event (its public fields): the event must not have ended, the market must be
active and its producer up, the outcome active with a price, and the price must satisfy the
ticket's policy. An accepted selection is taken at the current price. A ticket is accepted only
when every selection is; a market with a bet delay makes the answer ``pending`` first.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from models.keys import market_key
from models.market import ACTIVE, is_live
from models.payout import ONE, decimal_of, to_cents

#: Sport event statuses after which nothing is accepted.
ENDED_EVENT = frozenset({"ended", "closed", "cancelled", "abandoned"})
#: How long a pending ticket may be sent again.
TICKET_TTL_MS = 30_000


class Policy(enum.StrEnum):
    """Which current price a customer accepts against the one asked."""

    EXACT = "exact"
    HIGHER = "higher"
    ANY = "any"


class Verdict(enum.StrEnum):
    """The answer to a selection or a ticket."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PENDING = "pending"


class Reason(enum.StrEnum):
    """Why a selection is rejected."""

    EVENT_NOT_FOUND = "event_not_found"
    MARKET_NOT_FOUND = "market_not_found"
    OUTCOME_NOT_FOUND = "outcome_not_found"
    MARKET_NOT_ACTIVE = "market_not_active"
    OUTCOME_INACTIVE = "outcome_inactive"
    PRODUCER_DOWN = "producer_down"
    PRICE_CHANGED = "price_changed"
    EVENT_ENDED = "event_ended"
    #: The market stopped (suspension, bet stop, producer down) during the bet delay.
    SUSPENDED_DURING_DELAY = "suspended_during_delay"


class TicketReason(enum.StrEnum):
    """Why a whole ticket is rejected, whatever its selections say."""

    CORRELATED = "correlated"
    TICKET_UNKNOWN = "ticket_unknown"
    TICKET_EXPIRED = "ticket_expired"
    TICKET_MISMATCH = "ticket_mismatch"


@dataclass(frozen=True, slots=True)
class Asked:
    """One selection as the customer asks for it."""

    event_id: str
    market_id: str
    specifiers: str
    outcome_id: str
    odds: Decimal
    version: int | None = None

    @property
    def market_key(self) -> str:
        """The key of the selection's market in the tables."""
        return market_key(self.event_id, self.market_id, self.specifiers)


@dataclass(frozen=True, slots=True)
class Answer:
    """How one selection stands: accepted at ``odds`` of ``version``, or why not."""

    verdict: Verdict
    reason: Reason | None = None
    odds: Decimal | None = None
    version: int | None = None
    market_status: str | None = None
    current_odds: Decimal | None = None
    current_version: int | None = None
    delay_ms: int = 0


@dataclass(frozen=True, slots=True)
class TicketAnswer:
    """A ticket's verdict, with the combined odds and potential return once not rejected."""

    verdict: Verdict
    reason: TicketReason | None
    combined_odds: Decimal | None
    potential_return: Decimal | None
    delay_ms: int


def delay_ms(market: dict[str, Any], live_delay_ms: int) -> int:
    """The bet delay of a market: the exchange's ``bet_delay`` (seconds) where the feed gives
    one, else ``live_delay_ms`` for a market a live producer prices."""
    exchange_delay = market.get("bet_delay")
    if exchange_delay is not None:
        return int(exchange_delay) * 1000
    return live_delay_ms if is_live(market) else 0


def price_accepted(policy: Policy, asked: Decimal, current: Decimal) -> bool:
    """Whether ``current`` satisfies the customer who asked for ``asked`` under ``policy``."""
    if policy is Policy.EXACT:
        return current == asked
    if policy is Policy.HIGHER:
        return current >= asked
    return True


def check_selection(asked: Asked, event_status: str | None, market: dict[str, Any] | None,
                    policy: Policy, live_delay_ms: int = 0) -> Answer:
    """Check one selection against its event's status (None: unknown event) and its market's
    current snapshot (None: unknown market)."""
    if event_status is None:
        return Answer(Verdict.REJECTED, Reason.EVENT_NOT_FOUND)
    if market is None:
        return Answer(Verdict.REJECTED, Reason.MARKET_NOT_FOUND)
    version = market["version"]
    if event_status in ENDED_EVENT:
        return Answer(Verdict.REJECTED, Reason.EVENT_ENDED, current_version=version)
    status = market["status"]
    if market.get("producer_down") and status != ACTIVE:
        return Answer(Verdict.REJECTED, Reason.PRODUCER_DOWN, market_status=status,
                      current_version=version)
    if status != ACTIVE:
        return Answer(Verdict.REJECTED, Reason.MARKET_NOT_ACTIVE, market_status=status,
                      current_version=version)
    outcome = next((o for o in market["outcomes"] if o["id"] == asked.outcome_id), None)
    if outcome is None:
        return Answer(Verdict.REJECTED, Reason.OUTCOME_NOT_FOUND, current_version=version)
    current = decimal_of(outcome.get("odds"))
    if not outcome.get("active") or current is None:
        return Answer(Verdict.REJECTED, Reason.OUTCOME_INACTIVE, current_odds=current,
                      current_version=version)
    if not price_accepted(policy, asked.odds, current):
        return Answer(Verdict.REJECTED, Reason.PRICE_CHANGED, current_odds=current,
                      current_version=version)
    return Answer(Verdict.ACCEPTED, odds=current, version=version, current_odds=current,
                  current_version=version, delay_ms=delay_ms(market, live_delay_ms))


def fingerprint(selections: Iterable[Asked], stake: Decimal, policy: Policy) -> str:
    """A digest of what a ticket asks (every selection at its odds, the stake, the policy):
    a pending ticket sent again must ask exactly the same."""
    parts = sorted(f"{a.market_key}\x00{a.outcome_id}\x00{a.odds.normalize()}"
                   for a in selections)
    text = "\x01".join((*parts, str(stake.normalize()), policy.value))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def correlated(selections: Iterable[Asked]) -> bool:
    """Whether two selections of a ticket share an event."""
    seen: set[str] = set()
    for asked in selections:
        if asked.event_id in seen:
            return True
        seen.add(asked.event_id)
    return False


def potential_return(stake: Decimal, odds: Iterable[Decimal]) -> tuple[Decimal, Decimal]:
    """The combined odds (their product) and the stake's return at them, half-even to cents."""
    combined = ONE
    for price in odds:
        combined *= price
    return combined, to_cents(stake * combined)


def decide(answers: Sequence[Answer], stake: Decimal,
           reason: TicketReason | None = None) -> TicketAnswer:
    """The ticket's answer: rejected when any selection is (or for ``reason``), pending when
    one is pending or has a delay to wait, else accepted."""
    delay = max((a.delay_ms for a in answers), default=0)
    if reason is not None or any(a.verdict is Verdict.REJECTED for a in answers):
        return TicketAnswer(Verdict.REJECTED, reason, None, None, 0)
    combined, returns = potential_return(stake, [a.odds or ONE for a in answers])
    waiting = delay > 0 or any(a.verdict is Verdict.PENDING for a in answers)
    verdict = Verdict.PENDING if waiting else Verdict.ACCEPTED
    return TicketAnswer(verdict, None, combined, returns, delay)


def stopped_by(changes: Iterable[Mapping[str, Any]]) -> str | None:
    """The status a market version moved to, if it stopped betting (an ``odds-changes.v2``
    record's ``changes``: a status change, when there is one, comes first)."""
    first = next(iter(changes), None)
    if first is None or first["kind"] != "status":
        return None
    new: str = first["new"]
    return new if new != ACTIVE else None
