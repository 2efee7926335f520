"""Price arithmetic: implied probability, margin, American and fractional odds."""

from __future__ import annotations

from bisect import bisect_left
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


# The standard UK ladder below 5/1 and its half steps above; every whole number from 5/1 up
# is on the ladder too and is found by rounding.
_LADDER: tuple[tuple[int, int], ...] = (
    (1, 100), (1, 66), (1, 50), (1, 40), (1, 33), (1, 25), (1, 20), (1, 16), (1, 14), (1, 12),
    (1, 10), (1, 9), (1, 8), (1, 7), (2, 13), (1, 6), (2, 11), (1, 5), (2, 9), (1, 4), (2, 7),
    (3, 10), (1, 3), (4, 11), (2, 5), (4, 9), (40, 85), (1, 2), (8, 15), (4, 7), (8, 13), (4, 6),
    (8, 11), (4, 5), (5, 6), (10, 11), (20, 21), (1, 1), (21, 20), (11, 10), (6, 5), (5, 4),
    (11, 8), (6, 4), (13, 8), (7, 4), (15, 8), (2, 1), (85, 40), (9, 4), (12, 5), (5, 2), (13, 5),
    (11, 4), (14, 5), (3, 1), (16, 5), (10, 3), (7, 2), (18, 5), (4, 1), (9, 2), (5, 1), (11, 2),
    (13, 2), (15, 2), (17, 2),
)
_LADDER_VALUES = tuple(n / d for n, d in _LADDER)
_WHOLE_FROM = 5
LADDER_TOLERANCE = 0.02
FRACTION_TOLERANCE = 0.0025


def _nearest_step(profit: float) -> tuple[int, int]:
    """Return the ladder price nearest to ``profit`` (the fractional odds, odds - 1)."""
    at = bisect_left(_LADDER_VALUES, profit)
    candidates = [_LADDER[i] for i in (at - 1, at) if 0 <= i < len(_LADDER)]
    if profit > _WHOLE_FROM:
        candidates.append((round(profit), 1))
    return min(candidates, key=lambda step: abs(step[0] / step[1] - profit))


def _simplest(profit: float) -> tuple[int, int]:
    """Return the fraction with the smallest denominator within 0.25% of ``profit``."""
    for denominator in range(1, 101):
        numerator = round(profit * denominator)
        if numerator > 0 and abs(numerator / denominator - profit) <= FRACTION_TOLERANCE * profit:
            return numerator, denominator
    frac = Fraction(profit).limit_denominator(100)
    if frac.numerator == 0 and profit > 0:
        # A price below 1/100 would read as 0/1, which is no price at all.
        return 1, round(1.0 / profit)
    return frac.numerator, frac.denominator


@lru_cache(maxsize=8192)
def fractional(odds: float) -> str:
    """Convert decimal odds to ``n/d``: the nearest UK ladder price within 2%, else the simplest."""
    profit = odds - 1.0
    numerator, denominator = _nearest_step(profit)
    if abs(numerator / denominator - profit) > LADDER_TOLERANCE * profit:
        numerator, denominator = _simplest(profit)
    return f"{numerator}/{denominator}"


def direction(old: float | None, new: float | None) -> str:
    """Compare a price with the previous one: ``up``, ``down`` or ``same``."""
    if old is None or new is None or old == new:
        return "same"
    return "up" if new > old else "down"
