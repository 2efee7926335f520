"""What a placed bet returns: void and dead-heat factors, cancel windows, certainty, rollbacks
and multiples (models/payout.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.payout import (
    LegOutcome,
    Selection,
    settle_selection,
    settle_ticket,
)

PLACED = 1_700_000_000_000
odds_st = st.decimals(min_value=Decimal("1.01"), max_value=Decimal("1000"), places=2)
stakes = st.decimals(min_value=Decimal("0.10"), max_value=Decimal("100000"), places=2)


def market(result: str | None = None, *, certainty: int = 2, void_factor: float | None = None,
           dead_heat_factor: float | None = None, cancels: list[dict[str, Any]] | None = None,
           outcome_id: str = "1") -> dict[str, Any]:
    """A market snapshot as the platform publishes it, settled when ``result`` is given."""
    outcomes = [{"id": outcome_id, "odds": 2.0, "result": result, "void_factor": void_factor,
                 "dead_heat_factor": dead_heat_factor},
                {"id": "other", "odds": 3.0, "result": None, "void_factor": None,
                 "dead_heat_factor": None}]
    settlement = None if result is None else {"certainty": certainty, "void_reason": None}
    return {"market_id": "1", "status": "settled" if result else "active", "outcomes": outcomes,
            "settlement": settlement, "cancels": cancels or []}


def bet(odds: str | Decimal = "2.50", placed_at: int = PLACED) -> Selection:
    return Selection("1", Decimal(odds), placed_at)


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


@pytest.mark.parametrize(("snapshot", "outcome", "factor"), [
    (market("won"), LegOutcome.WON, Decimal("2.50")),
    (market("lost"), LegOutcome.LOST, Decimal(0)),
    (market("void"), LegOutcome.VOID, Decimal(1)),
    (market("won", void_factor=1.0), LegOutcome.VOID, Decimal(1)),
    (market("won", void_factor=0.5), LegOutcome.HALF_WON, Decimal("1.75")),
    (market("lost", void_factor=0.5), LegOutcome.HALF_LOST, Decimal("0.5")),
    (market("won", dead_heat_factor=0.5), LegOutcome.DEAD_HEAT, Decimal("1.25")),
    (market("won", dead_heat_factor=1.0), LegOutcome.WON, Decimal("2.50")),
    (market("undecided"), LegOutcome.OPEN, None),
    (market(), LegOutcome.OPEN, None),
])
def test_a_single_selection(snapshot: dict[str, Any], outcome: LegOutcome,
                            factor: Decimal | None) -> None:
    result = settle_selection(bet(), snapshot)
    assert (result.outcome, result.factor) == (outcome, factor)


def test_certainty_one_is_provisional() -> None:
    assert settle_selection(bet(), market("won", certainty=1)).provisional
    assert not settle_selection(bet(), market("won", certainty=2)).provisional


def test_a_rolled_back_settlement_is_open_again() -> None:
    rolled_back = {**market("won"), "settlement": None}
    rolled_back["outcomes"] = [{**o, "result": None} for o in rolled_back["outcomes"]]
    assert settle_selection(bet(), rolled_back).outcome is LegOutcome.OPEN


@pytest.mark.parametrize(("window", "placed_at", "voided"), [
    ({"start_time": PLACED - 10, "end_time": PLACED + 10}, PLACED, True),
    ({"start_time": PLACED, "end_time": PLACED + 10}, PLACED, True),
    ({"start_time": PLACED - 10, "end_time": PLACED}, PLACED, False),
    ({"start_time": PLACED + 1, "end_time": None}, PLACED, False),
    ({"start_time": None, "end_time": PLACED + 1}, PLACED, True),
    ({"start_time": PLACED - 1, "end_time": None}, PLACED, True),
])
def test_a_cancel_window_voids_the_bets_placed_in_it_whatever_the_result(
        window: dict[str, Any], placed_at: int, voided: bool) -> None:
    result = settle_selection(bet(placed_at=placed_at), market("won", cancels=[window]))
    assert (result.outcome is LegOutcome.VOID) is voided
    if voided:
        assert result.factor == 1 and result.reason == "cancel_window"


def test_a_cancelled_market_voids_every_selection() -> None:
    whole = {"start_time": None, "end_time": None}
    for snapshot in (market("lost", cancels=[whole]), market(cancels=[whole])):
        result = settle_selection(bet(), snapshot)
        assert (result.outcome, result.factor, result.reason) == (
            LegOutcome.VOID, 1, "market_cancelled")


def test_missing_market_or_outcome_is_open() -> None:
    assert settle_selection(bet(), None).reason == "market_not_found"
    other = Selection("nope", Decimal(2), PLACED)
    assert settle_selection(other, market("won")).reason == "outcome_not_settled"


def test_a_multiple_is_open_while_a_leg_is() -> None:
    ticket = settle_ticket([(bet("2.00"), market("won")), (bet("3.00"), market())],
                           Decimal(10))
    assert ticket.open and ticket.returns is None
    assert [leg.outcome for leg in ticket.legs] == [LegOutcome.WON, LegOutcome.OPEN]


def test_a_multiple_counts_a_void_leg_as_odds_one() -> None:
    ticket = settle_ticket([(bet("2.00"), market("won")), (bet("3.00"), market("void")),
                            (bet("1.50"), market("won", certainty=1))], Decimal(10))
    assert not ticket.open and ticket.factor == Decimal("3.0000")
    assert ticket.returns == Decimal("30.00") and ticket.provisional


def test_returns_round_half_even_to_cents() -> None:
    assert settle_ticket([(bet("1.5"), market("won"))], Decimal("0.05")).returns == \
        Decimal("0.08")  # 0.075 -> 0.08 (8 is even)
    assert settle_ticket([(bet("1.3"), market("won"))], Decimal("0.05")).returns == \
        Decimal("0.06")  # 0.065 -> 0.06


def test_a_ticket_needs_a_selection() -> None:
    with pytest.raises(ValueError, match="at least one"):
        settle_ticket([], Decimal(1))


@given(odds=odds_st, stake=stakes)
def test_a_fully_void_selection_returns_the_stake(odds: Decimal, stake: Decimal) -> None:
    for snapshot in (market("void"), market("won", void_factor=1.0),
                     market("lost", void_factor=1.0)):
        assert settle_ticket([(bet(odds), snapshot)], stake).returns == stake


@given(odds=odds_st, stake=stakes, n=st.integers(min_value=2, max_value=8))
def test_a_dead_heat_of_n_pays_odds_over_n(odds: Decimal, stake: Decimal, n: int) -> None:
    snapshot = market("won", dead_heat_factor=1 / n)
    returns = settle_ticket([(bet(odds), snapshot)], stake).returns
    assert returns is not None
    assert abs(returns - stake * odds / n) <= Decimal("0.01")


@given(odds=odds_st, stake=stakes)
def test_half_void_then_won_or_lost(odds: Decimal, stake: Decimal) -> None:
    won = settle_ticket([(bet(odds), market("won", void_factor=0.5))], stake).returns
    lost = settle_ticket([(bet(odds), market("lost", void_factor=0.5))], stake).returns
    assert won == cents(stake / 2 + stake / 2 * odds)
    assert lost == cents(stake / 2)


legs_st = st.lists(st.tuples(odds_st, st.sampled_from([
    ("won", None, None), ("lost", None, None), ("void", None, None), ("won", 0.5, None),
    ("lost", 0.5, None), ("won", None, 0.5), ("won", None, 0.25)])), min_size=1, max_size=6)


@given(legs=legs_st, stake=stakes)
def test_a_multiple_returns_the_product_of_its_legs(
        legs: list[tuple[Decimal, tuple[str, float | None, float | None]]],
        stake: Decimal) -> None:
    placed = [(bet(odds), market(result, void_factor=void, dead_heat_factor=dead_heat))
              for odds, (result, void, dead_heat) in legs]
    ticket = settle_ticket(placed, stake)
    product = Decimal(1)
    for selection, snapshot in placed:
        leg = settle_selection(selection, snapshot)
        assert leg.factor is not None
        product *= leg.factor
    assert ticket.returns == cents(stake * product)
