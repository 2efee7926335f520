"""Football pricing for the simulator: a Poisson model of the goals still to come (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence

#: (market id, specifiers, outcome ids) of the markets every simulated match offers; the
#: next-goal market ``8`` is added per goal number (``goalnr=N``) as the match goes on.
MATCH_RESULT = "1"
TOTAL = "18"
BOTH_SCORE = "29"
NEXT_GOAL = "8"
HANDICAP = "16"
TOTAL_LINES = ("0.5", "1.5", "2.5", "3.5", "4.5")
HANDICAP_LINES = ("-1.5", "-0.5", "0.5", "1.5")
FIXED_MARKETS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (MATCH_RESULT, "", ("1", "2", "3")),
    *((TOTAL, f"total={line}", ("12", "13")) for line in TOTAL_LINES),
    (BOTH_SCORE, "", ("74", "76")),
    *((HANDICAP, f"hcp={line}", ("1714", "1715")) for line in HANDICAP_LINES),
)
#: UOF outcome ids of market 8 ("{!goalnr} goal"): competitor 1 (home), none, competitor 2.
NEXT_GOAL_HOME, NEXT_GOAL_NONE, NEXT_GOAL_AWAY = "6", "7", "8"
NEXT_GOAL_OUTCOMES = (NEXT_GOAL_HOME, NEXT_GOAL_NONE, NEXT_GOAL_AWAY)

MIN_ODDS = 1.01
MAX_ODDS = 1000.0
#: Goals beyond this many more per team are too unlikely to matter.
MAX_MORE_GOALS = 12

MarketKey = tuple[str, str]
Probabilities = dict[str, float]


def next_goal_specifiers(goal_number: int) -> str:
    """Return the specifiers of the next-goal market for goal ``goal_number``."""
    return f"goalnr={goal_number}"


def _line(specifiers: str) -> float:
    return float(specifiers.partition("=")[2])


def poisson_pmf(mean: float, top: int = MAX_MORE_GOALS) -> list[float]:
    """Return P(0..n) of a Poisson variable, cut where the tail stops mattering, summing to 1."""
    if mean <= 0:
        return [1.0]
    pmf = [math.exp(-mean)]
    for k in range(1, top + 1):
        pmf.append(pmf[-1] * mean / k)
        if k > mean and pmf[-1] < 1e-9:
            break
    total = sum(pmf)
    return [p / total for p in pmf]


def probabilities(home: int, away: int, home_more: float,
                  away_more: float) -> dict[MarketKey, Probabilities]:
    """Price every open market from the score and the goals each side is expected to add.

    The sides score independently, so the total of the goals to come is Poisson too; only
    the goal difference needs both distributions. A market already decided by the score
    (a total line already passed, both teams already scored, an earlier goal's next-goal
    market) is left out: it is no longer priced, only settled at the end.
    """
    home_pmf, away_pmf = poisson_pmf(home_more), poisson_pmf(away_more)
    by_diff: dict[int, float] = {}
    for more_home, p_home in enumerate(home_pmf):
        for more_away, p_away in enumerate(away_pmf):
            diff = home + more_home - away - more_away
            by_diff[diff] = by_diff.get(diff, 0.0) + p_home * p_away
    home_wins = sum(p for d, p in by_diff.items() if d > 0)
    draw = by_diff.get(0, 0.0)
    found: dict[MarketKey, Probabilities] = {
        (MATCH_RESULT, ""): {"1": home_wins, "2": draw, "3": max(0.0, 1.0 - home_wins - draw)},
    }
    goals = home + away
    total_pmf = poisson_pmf(home_more + away_more)
    for line in TOTAL_LINES:
        if goals > float(line):
            continue
        under = sum(total_pmf[:max(0, math.floor(float(line)) - goals + 1)])
        found[(TOTAL, f"total={line}")] = {"12": max(0.0, 1.0 - under), "13": under}
    if not (home > 0 and away > 0):
        both = (1.0 if home else 1.0 - home_pmf[0]) * (1.0 if away else 1.0 - away_pmf[0])
        found[(BOTH_SCORE, "")] = {"74": both, "76": 1.0 - both}
    for line in HANDICAP_LINES:
        covers = sum(p for d, p in by_diff.items() if d + float(line) > 0)
        found[(HANDICAP, f"hcp={line}")] = {"1714": covers, "1715": max(0.0, 1.0 - covers)}
    none = math.exp(-(home_more + away_more))
    share = home_more / (home_more + away_more) if home_more + away_more > 0 else 0.5
    found[(NEXT_GOAL, next_goal_specifiers(goals + 1))] = {
        NEXT_GOAL_HOME: (1.0 - none) * share, NEXT_GOAL_NONE: none,
        NEXT_GOAL_AWAY: (1.0 - none) * (1.0 - share)}
    return found


def price(chances: Probabilities, margin: float) -> tuple[dict[str, float], bool]:
    """Turn fair probabilities into decimal odds carrying ``margin``, 2 decimals.

    The margin is spread by the power method (implied ``p ** k`` summing to ``1 + margin``),
    which, like a bookmaker, loads longshots more than favourites. Returns the odds and
    whether the market is bettable: when the favourite's price would fall below
    ``MIN_ODDS`` the outcome is all but decided, so the odds are clamped and the market
    must be offered suspended.
    """
    exponent = _power(list(chances.values()), 1.0 + margin)
    odds: dict[str, float] = {}
    bettable = exponent is not None
    for outcome_id, chance in chances.items():
        loaded = chance ** (exponent or 1.0) if chance > 0 else 0.0
        raw = 1.0 / loaded if loaded > 0 else MAX_ODDS
        if raw < MIN_ODDS:
            bettable = False
        odds[outcome_id] = min(MAX_ODDS, max(MIN_ODDS, round(raw, 2)))
    return odds, bettable


def _power(chances: list[float], target: float) -> float | None:
    """Solve ``sum(p ** k) == target`` for ``k`` in (0, 1] by Newton's method; None if none.

    The sum is convex and decreasing in ``k``: from ``k = 1`` one step lands left of the
    root, and from there the iterates climb to it without overshooting.
    """
    if max(chances) > 0.999:
        return None
    logs = [math.log(p) for p in chances if 0 < p < 1]
    k = 1.0
    for _ in range(8):
        excess, slope = -target, 0.0
        for log in logs:
            power = math.exp(k * log)
            excess += power
            slope += power * log
        if -1e-6 < excess < 1e-6 or slope == 0.0:
            break
        k = max(1e-3, k - excess / slope)
    return k


def results(market_id: str, specifiers: str, home: int, away: int,
            scorers: Sequence[str]) -> dict[str, str]:
    """Return ``won``/``lost`` per outcome of a market from the final score.

    ``scorers`` lists the side of each goal in order (``"home"`` or ``"away"``).
    """
    def pick(winners: set[str], outcomes: Sequence[str]) -> dict[str, str]:
        return {o: "won" if o in winners else "lost" for o in outcomes}

    if market_id == MATCH_RESULT:
        winner = "1" if home > away else "3" if away > home else "2"
        return pick({winner}, ("1", "2", "3"))
    if market_id == TOTAL:
        return pick({"12" if home + away > _line(specifiers) else "13"}, ("12", "13"))
    if market_id == BOTH_SCORE:
        return pick({"74" if home > 0 and away > 0 else "76"}, ("74", "76"))
    if market_id == HANDICAP:
        return pick({"1714" if home + _line(specifiers) > away else "1715"}, ("1714", "1715"))
    if market_id == NEXT_GOAL:
        number = int(_line(specifiers))
        if number > len(scorers):
            return pick({NEXT_GOAL_NONE}, NEXT_GOAL_OUTCOMES)
        side = NEXT_GOAL_HOME if scorers[number - 1] == "home" else NEXT_GOAL_AWAY
        return pick({side}, NEXT_GOAL_OUTCOMES)
    raise ValueError(f"no results rule for market {market_id}")
