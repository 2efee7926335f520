"""Price arithmetic: implied probability, margin, American and fractional odds."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from functools import lru_cache


def implied_probability(odds: float) -> float:
    """Return 1/odds rounded to 6 places."""
    return round(1.0 / odds, 6)


def margin(prices: Iterable[float]) -> float | None:
    """Return the overround (sum of implied probabilities minus 1) or None without prices."""
    total = 0.0
    seen = False
    for odds in prices:
        total += 1.0 / odds
        seen = True
    return round(total - 1.0, 6) if seen else None


@lru_cache(maxsize=8192)
def american(odds: float) -> int:
    """Convert decimal odds to American (moneyline) odds."""
    if odds >= 2.0:
        return round((odds - 1.0) * 100)
    return -round(100 / (odds - 1.0))


@lru_cache(maxsize=8192)
def fractional(odds: float) -> str:
    """Convert decimal odds to the simplest fraction within 0.25% (10/11 for 1.91)."""
    profit = odds - 1.0
    for denominator in range(1, 101):
        numerator = round(profit * denominator)
        if numerator > 0 and abs(numerator / denominator - profit) <= 0.0025 * profit:
            return f"{numerator}/{denominator}"
    frac = Fraction(profit).limit_denominator(100)
    return f"{frac.numerator}/{frac.denominator}"


def direction(old: float | None, new: float | None) -> str:
    """Compare a price with the previous one: ``up``, ``down`` or ``same``."""
    if old is None or new is None or old == new:
        return "same"
    return "up" if new > old else "down"
