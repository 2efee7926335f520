"""What a placed bet returns, from the market's snapshot: pure functions, no I/O.

A selection is settled by its market's published state (``markets.v1`` or the worker's
table): the outcome's ``result``, ``void_factor`` and ``dead_heat_factor``, the market's
``settlement`` (certainty 1 is provisional, 2 final) and its ``cancels``. The return factor is
what one unit of stake returns: the voided share refunded, the rest paid at the odds taken
(scaled by a dead heat) if it won. Money is ``Decimal``; a ticket's return is rounded half-even
to cents.

Cancel windows void the bets placed in them: ``start_time <= placed_at < end_time``, a missing
bound open on its side; a cancel with neither bound voids every bet (the market is cancelled).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

CENT = Decimal("0.01")
ONE = Decimal(1)
ZERO = Decimal(0)
FINAL_CERTAINTY = 2


class LegOutcome(enum.StrEnum):
    """How one selection stands."""

    WON = "won"
    LOST = "lost"
    VOID = "void"
    HALF_WON = "half_won"
    HALF_LOST = "half_lost"
    DEAD_HEAT = "dead_heat"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class Selection:
    """One leg as placed: the outcome, the odds taken and when it was placed (ms)."""

    outcome_id: str
    odds: Decimal
    placed_at: int


@dataclass(frozen=True, slots=True)
class LegResult:
    """A selection's standing: its outcome, what a unit stake returns (None while open),
    and whether a later settlement may still change it (certainty 1, not final)."""

    outcome: LegOutcome
    factor: Decimal | None
    provisional: bool = False
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TicketResult:
    """A ticket's legs, and its return when every leg is settled (``open`` otherwise)."""

    legs: tuple[LegResult, ...]
    open: bool
    factor: Decimal | None
    returns: Decimal | None
    provisional: bool


def decimal_of(value: Any) -> Decimal | None:
    """A JSON number as the ``Decimal`` it reads as (``2.1`` is 2.1, not its binary float);
    None stays None."""
    return None if value is None else Decimal(str(value))


def to_cents(amount: Decimal) -> Decimal:
    """Round money to cents, half-even."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _in_window(cancel: Mapping[str, Any], placed_at: int) -> bool:
    start, end = cancel.get("start_time"), cancel.get("end_time")
    return (start is None or start <= placed_at) and (end is None or placed_at < end)


def _voided_by_cancel(market: Mapping[str, Any], placed_at: int) -> str | None:
    """The reason a cancel voids a bet placed at ``placed_at``, or None."""
    for cancel in market.get("cancels") or ():
        if _in_window(cancel, placed_at):
            whole = cancel.get("start_time") is None and cancel.get("end_time") is None
            return "market_cancelled" if whole else "cancel_window"
    return None


def settle_selection(selection: Selection, market: Mapping[str, Any] | None) -> LegResult:
    """Return how ``selection`` stands against its market's current snapshot."""
    if market is None:
        return LegResult(LegOutcome.OPEN, None, reason="market_not_found")
    cancelled = _voided_by_cancel(market, selection.placed_at)
    if cancelled is not None:
        return LegResult(LegOutcome.VOID, ONE, reason=cancelled)
    settlement = market.get("settlement")
    if settlement is None:
        return LegResult(LegOutcome.OPEN, None)
    provisional = settlement.get("certainty", FINAL_CERTAINTY) < FINAL_CERTAINTY
    outcome = next((o for o in market.get("outcomes") or ()
                    if o.get("id") == selection.outcome_id), None)
    if outcome is None:
        return LegResult(LegOutcome.OPEN, None, reason="outcome_not_settled")
    result = outcome.get("result")
    if result not in ("won", "lost", "void"):
        return LegResult(LegOutcome.OPEN, None, reason="undecided")
    if result == "void":
        return LegResult(LegOutcome.VOID, ONE, provisional)
    voided = decimal_of(outcome.get("void_factor")) or ZERO
    dead_heat = decimal_of(outcome.get("dead_heat_factor"))
    paid = selection.odds * (dead_heat or ONE) if result == "won" else ZERO
    factor = voided + (ONE - voided) * paid
    return LegResult(_leg_outcome(result, voided, dead_heat), factor, provisional)


def _leg_outcome(result: str, voided: Decimal, dead_heat: Decimal | None) -> LegOutcome:
    if voided >= ONE:
        return LegOutcome.VOID
    if voided > ZERO:
        return LegOutcome.HALF_WON if result == "won" else LegOutcome.HALF_LOST
    if result == "won":
        return LegOutcome.DEAD_HEAT if dead_heat is not None and dead_heat < ONE \
            else LegOutcome.WON
    return LegOutcome.LOST


def settle_ticket(legs: Iterable[tuple[Selection, Mapping[str, Any] | None]],
                  stake: Decimal) -> TicketResult:
    """Return a single's or a multiple's standing: the product of its legs' factors times
    the stake, rounded half-even to cents, once no leg is open."""
    results = tuple(settle_selection(selection, market) for selection, market in legs)
    if not results:
        raise ValueError("a ticket has at least one selection")
    provisional = any(r.provisional for r in results)
    factor = ONE
    for result in results:
        if result.factor is None:
            return TicketResult(results, True, None, None, provisional)
        factor *= result.factor
    returns = to_cents(stake * factor)
    return TicketResult(results, False, factor, returns, provisional)
