"""Seeded live football matches as canonical ``feed.v1`` messages, for demos and load (pure).

``MatchSimulator(events, seed, start_ms).messages(duration_s)`` gives ``(due_ms, message)``
in time order, ``due_ms`` being simulated milliseconds since ``start_ms`` and every
message's ``ts`` being ``start_ms + due_ms``. The feed is a function of the constructor's
arguments and of ``duration_s`` and ``step_s``: same seed, same feed.

Each of the ``events`` slots plays matches back to back: a fixture, prematch odds, kick-off,
two halves with a clock, goals (each a ``bet_stop`` then a repricing ``odds_change``), ticks,
the end, then settlement with certainty 1 and 2. A finite run starts only matches that are
settled before it ends. One producer sends an ``alive`` every 10 simulated seconds.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from feeds import sim_model as sm

Message = dict[str, Any]
MarketKey = sm.MarketKey

ALIVE_EVERY_MS = 10_000
MARGIN = 0.05
# The match plan in match minutes from the fixture: prematch, halves, the break, settlement.
PREMATCH_MIN = 5.0
HALF_MIN = 45.0
BREAK_MIN = 15.0
KICK_OFF_MIN = PREMATCH_MIN
SECOND_HALF_MIN = KICK_OFF_MIN + HALF_MIN + BREAK_MIN
END_MIN = SECOND_HALF_MIN + HALF_MIN
SETTLE_1_MIN = END_MIN + 1.0
SETTLE_2_MIN = END_MIN + 2.0
CYCLE_MIN = SETTLE_2_MIN + 1.0
#: A goal reopens betting this long after its bet_stop.
REPRICE_DELAY_MIN = 0.5
# Match status codes of the feed (UOF): not started, 1st half, halftime, 2nd half, ended.
NOT_STARTED, FIRST_HALF, HALFTIME, SECOND_HALF, ENDED = 0, 6, 31, 7, 100

#: Per-match chances of the rarer feed messages.
CANCEL_CHANCE = 0.08
VOID_CHANCE = 0.08
VOID_REASON = 12  # as in the UOF samples

TEAMS = (
    "Northbridge United", "Harbour City", "Redmoor Athletic", "Kingsford Rovers",
    "Ashdale Town", "Westport Albion", "Greyhill Wanderers", "Eastmere FC",
    "Silverlake City", "Oakham Borough", "Stonegate Rangers", "Millbrook Villa",
    "Fairhaven Town", "Ironbridge Athletic", "Highcliff United", "Lowfield Rovers",
)
COMPETITIONS = ("Simulated Premier League", "Simulated Championship", "Simulated Cup")

# Moments at the same time run in this order.
_ORDER = {"fixture": 0, "prematch": 1, "tick": 2, "kick_off": 3, "halftime": 3,
          "second_half": 3, "end": 3, "goal": 4, "reprice": 5, "cancel": 6, "rollback": 6,
          "settle_1": 7, "settle_2": 8}


def cycle_seconds(match_seconds: float) -> float:
    """Return the simulated seconds one match occupies its slot, fixture to next fixture."""
    return CYCLE_MIN * match_seconds / 90.0


def _clock(minute: float) -> str:
    seconds = round(minute * 60)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


@dataclass(slots=True)
class _Sent:
    """What the feed last said about one market: its status and odds."""

    status: str
    odds: dict[str, float] | None


@dataclass(slots=True)
class _Match:
    """One match: a fixed script of goals and rare messages, played out lazily."""

    event_id: str
    rng: random.Random
    start_ms: int  # of the fixture, in simulated ms since the run started
    minute_ms: float
    tick_ms: float
    producer: int
    origin_ms: int  # the run's start_ms: ts = origin_ms + due time
    home_xg: float = 0.0
    away_xg: float = 0.0
    home_form: float = 0.0
    away_form: float = 0.0
    home: int = 0
    away: int = 0
    scorers: list[str] = field(default_factory=list)
    sent: dict[MarketKey, _Sent] = field(default_factory=dict)
    last_ms: int = -1
    suspended_until: float = -1.0
    status: dict[str, Any] = field(default_factory=dict)
    void: MarketKey | None = None
    cancel_window: tuple[int, int] = (0, 0)

    def due(self, minute: float) -> int:
        """Return the due time of a match minute (from the fixture), strictly increasing."""
        due_ms = max(self.start_ms + round(minute * self.minute_ms), self.last_ms + 1)
        self.last_ms = due_ms
        return due_ms

    def message(self, due_ms: int, kind: str, **fields: Any) -> tuple[int, Message]:
        return due_ms, {"type": kind, "event_id": self.event_id, "producer": self.producer,
                        "ts": self.origin_ms + due_ms, **fields}

    # -- the script ------------------------------------------------------------------------

    def script(self) -> list[tuple[float, int, int, str, Any]]:
        """Draw the match: expected goals, goal minutes, ticks and the rare messages."""
        rng = self.rng
        self.home_xg, self.away_xg = rng.uniform(0.9, 2.1), rng.uniform(0.6, 1.7)
        moments: list[tuple[float, str, Any]] = [
            (0.0, "fixture", None), (0.0, "prematch", None), (KICK_OFF_MIN, "kick_off", None),
            (KICK_OFF_MIN + HALF_MIN, "halftime", None), (SECOND_HALF_MIN, "second_half", None),
            (END_MIN, "end", None), (SETTLE_1_MIN, "settle_1", None),
            (SETTLE_2_MIN, "settle_2", None)]
        goals = [(rng.uniform(0.0, 90.0), "home") for _ in range(_poisson(rng, self.home_xg))]
        goals += [(rng.uniform(0.0, 90.0), "away") for _ in range(_poisson(rng, self.away_xg))]
        last = -math.inf
        for minute, side in sorted(goals):
            # Keep clear of the whistles and of the previous goal's bet stop.
            minute = max(minute, last + 1.0, 45.5 if minute >= 45.0 else 0.5)
            if minute > (44.0 if minute < 45.0 else 89.0):
                continue
            last = minute
            offset = KICK_OFF_MIN if minute < 45.0 else SECOND_HALF_MIN - 45.0
            moments.append((offset + minute, "goal", side))
            moments.append((offset + minute + REPRICE_DELAY_MIN, "reprice", None))
        tick_min = self.tick_ms / self.minute_ms
        for start, end in ((0.0, KICK_OFF_MIN), (KICK_OFF_MIN, KICK_OFF_MIN + HALF_MIN),
                           (SECOND_HALF_MIN, END_MIN)):
            moments.extend((start + k * tick_min, "tick", None)
                           for k in range(1, math.ceil((end - start) / tick_min)))
        if rng.random() < CANCEL_CHANCE:
            market = _pick_market(rng)
            at = KICK_OFF_MIN + rng.uniform(5.0, 30.0)
            moments.append((at, "cancel", market))
            moments.append((at + rng.uniform(5.0, 10.0), "rollback", market))
        self.void = _pick_market(rng) if rng.random() < VOID_CHANCE else None
        return sorted((minute, _ORDER[kind], n, kind, data)
                      for n, (minute, kind, data) in enumerate(moments))

    def play(self) -> Iterator[tuple[int, Message]]:
        """Yield the match's messages in time order."""
        script = self.script()
        heapq.heapify(script)
        while script:
            minute, order, n, kind, data = heapq.heappop(script)
            if kind == "tick" and minute <= self.suspended_until:
                continue  # the goal's repricing comes instead
            if kind in ("cancel", "rollback") and minute < self.suspended_until:
                # A rare message waits until the goal's repricing is out.
                heapq.heappush(script, (self.suspended_until, order, n, kind, data))
                continue
            yield from getattr(self, f"_{kind}")(minute, data)

    # -- moments ---------------------------------------------------------------------------

    def _fixture(self, minute: float, _data: Any) -> Iterator[tuple[int, Message]]:
        home, away = self.rng.sample(TEAMS, 2)
        kick_off = self.origin_ms + self.start_ms + round(KICK_OFF_MIN * self.minute_ms)
        yield self.message(self.due(minute), "fixture_change", change_type="new",
                           start_time=kick_off, sport="soccer",
                           competition=self.rng.choice(COMPETITIONS), home=home, away=away)

    def _prematch(self, minute: float, _data: Any) -> Iterator[tuple[int, Message]]:
        self.status = {"status": "not_started", "match_status": NOT_STARTED}
        yield self._odds(minute, full=True, status=True)

    def _tick(self, minute: float, _data: Any) -> Iterator[tuple[int, Message]]:
        live = minute >= KICK_OFF_MIN
        if live:
            self.status["clock"] = _clock(self._match_minute(minute))
        message = self._odds(minute, status=live)
        if live or message[1]["markets"]:
            yield message

    def _kick_off(self, minute: float, _data: Any) -> Iterator[tuple[int, Message]]:
        self.status = {"status": "live", "match_status": FIRST_HALF, "home_score": 0,
                       "away_score": 0, "clock": "00:00"}
        yield self._odds(minute, full=True, status=True)

    def _halftime(self, minute: float, _data: Any) -> Iterator[tuple[int, Message]]:
        self.status = {**self.status, "match_status": HALFTIME, "clock": "45:00"}
        yield self._odds(minute, status=True)

    def _second_half(self, minute: float, _data: Any) -> Iterator[tuple[int, Message]]:
        self.status = {**self.status, "match_status": SECOND_HALF, "clock": "45:00"}
        yield self._odds(minute, status=True)

    def _goal(self, minute: float, side: str) -> Iterator[tuple[int, Message]]:
        self.suspended_until = minute + REPRICE_DELAY_MIN
        for sent in self.sent.values():
            if sent.status == "active":
                sent.status = "suspended"
        self.scorers.append(side)
        if side == "home":
            self.home += 1
        else:
            self.away += 1
        yield self.message(self.due(minute), "bet_stop", groups="all")

    def _reprice(self, minute: float, _data: Any) -> Iterator[tuple[int, Message]]:
        self.status = {**self.status, "home_score": self.home, "away_score": self.away,
                       "clock": _clock(self._match_minute(minute))}
        yield self._odds(minute, full=True, status=True)

    def _end(self, minute: float, _data: Any) -> Iterator[tuple[int, Message]]:
        self.status = {**self.status, "status": "ended", "match_status": ENDED,
                       "clock": "90:00"}
        markets = []
        for (market_id, specifiers), sent in self.sent.items():
            if sent.status == "deactivated":
                continue
            sent.status = "suspended"
            markets.append(_market(market_id, specifiers, "suspended", sent.odds))
        yield self.message(self.due(minute), "odds_change", markets=markets,
                           sport_event_status=dict(self.status))

    def _cancel(self, minute: float, market: MarketKey) -> Iterator[tuple[int, Message]]:
        # Bets on the market in the last five minutes are void: a wrong price, say.
        due_ms = self.due(minute)
        ts = self.origin_ms + due_ms
        self.cancel_window = (max(0, ts - int(5 * self.minute_ms)), ts)
        start, end = self.cancel_window
        yield self.message(due_ms, "bet_cancel", start_time=start, end_time=end, markets=[
            {"id": market[0], "specifiers": market[1], "void_reason": VOID_REASON}])

    def _rollback(self, minute: float, market: MarketKey) -> Iterator[tuple[int, Message]]:
        start, end = self.cancel_window
        yield self.message(self.due(minute), "rollback_bet_cancel", start_time=start,
                           end_time=end,
                           markets=[{"id": market[0], "specifiers": market[1]}])

    def _settle_1(self, minute: float, _data: Any) -> Iterator[tuple[int, Message]]:
        yield self.message(self.due(minute), "bet_settlement", certainty=1,
                           markets=self._settlements())

    def _settle_2(self, minute: float, _data: Any) -> Iterator[tuple[int, Message]]:
        yield self.message(self.due(minute), "bet_settlement", certainty=2,
                           markets=self._settlements())

    # -- pricing and settlement ------------------------------------------------------------

    def _match_minute(self, minute: float) -> float:
        if minute >= SECOND_HALF_MIN:
            return min(90.0, minute - SECOND_HALF_MIN + 45.0)
        return min(45.0, max(0.0, minute - KICK_OFF_MIN))

    def _odds(self, minute: float, full: bool = False,
              status: bool = False) -> tuple[int, Message]:
        """Reprice every market; send those that changed (all of them when ``full``)."""
        left = (90.0 - self._match_minute(minute)) / 90.0
        # The traders' view of each side drifts a little around the truth between ticks.
        self.home_form = 0.85 * self.home_form + self.rng.gauss(0.0, 0.02)
        self.away_form = 0.85 * self.away_form + self.rng.gauss(0.0, 0.02)
        home_more = self.home_xg * left * math.exp(self.home_form)
        away_more = self.away_xg * left * math.exp(self.away_form)
        priced = sm.probabilities(self.home, self.away, home_more, away_more)
        markets = []
        for key, chances in priced.items():
            odds, bettable = sm.price(chances, MARGIN)
            now = _Sent("active" if bettable else "suspended", odds)
            if full or self.sent.get(key) != now:
                markets.append(_market(*key, now.status, odds))
            self.sent[key] = now
        for key, sent in self.sent.items():
            if key not in priced and sent.status != "deactivated":
                # Decided by the score: no longer offered, settled at the end.
                self.sent[key] = _Sent("deactivated", None)
                markets.append(_market(*key, "deactivated", None))
        extra = {"sport_event_status": dict(self.status)} if status else {}
        return self.message(self.due(minute), "odds_change", markets=markets, **extra)

    def _settlements(self) -> list[dict[str, Any]]:
        settled = []
        for market_id, specifiers in self.sent:
            results = sm.results(market_id, specifiers, self.home, self.away, self.scorers)
            outcomes: list[dict[str, Any]] = [{"id": o, "result": r} for o, r in results.items()]
            market: dict[str, Any] = {"id": market_id, "specifiers": specifiers,
                                      "outcomes": outcomes}
            if (market_id, specifiers) == self.void:
                market["void_reason"] = VOID_REASON
                for outcome in outcomes:
                    outcome.update(result="lost", void_factor=1.0)
            settled.append(market)
        return settled


def _market(market_id: str, specifiers: str, status: str,
            odds: dict[str, float] | None) -> dict[str, Any]:
    if odds is None:
        outcomes = [{"id": o, "active": False} for o in _outcome_ids(market_id)]
    else:
        outcomes = [{"id": o, "odds": price, "active": True} for o, price in odds.items()]
    return {"id": market_id, "specifiers": specifiers, "status": status, "outcomes": outcomes}


def _outcome_ids(market_id: str) -> tuple[str, ...]:
    if market_id == sm.NEXT_GOAL:
        return sm.NEXT_GOAL_OUTCOMES
    return next(ids for mid, _spec, ids in sm.FIXED_MARKETS if mid == market_id)


def _pick_market(rng: random.Random) -> MarketKey:
    market_id, specifiers, _outcomes = rng.choice(sm.FIXED_MARKETS)
    return market_id, specifiers


def _poisson(rng: random.Random, mean: float) -> int:
    """Draw a Poisson count (Knuth's method; means here are small)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class MatchSimulator:
    """Live football for ``events`` concurrent match slots; same arguments, same feed."""

    def __init__(self, events: int, seed: int, start_ms: int, producer: int = 1,
                 match_seconds: float = 90.0, id_prefix: str = "sr:match:",
                 first_id: int = 1) -> None:
        if events < 1:
            raise ValueError("events must be at least 1")
        if match_seconds <= 0:
            raise ValueError("match_seconds must be positive")
        if not 0 <= producer <= 1000 or first_id < 0:
            raise ValueError("producer must be within 0..1000 and first_id not negative")
        self.events = events
        self.seed = seed
        self.start_ms = start_ms
        self.producer = producer
        self.match_seconds = match_seconds
        self.id_prefix = id_prefix
        self.first_id = first_id

    @property
    def cycle_s(self) -> float:
        """Simulated seconds from one fixture of a slot to its next."""
        return cycle_seconds(self.match_seconds)

    def event_id(self, number: int) -> str:
        """Return the id of the ``number``-th match (slot + round * events)."""
        return f"{self.id_prefix}{self.first_id + number}"

    def messages(self, duration_s: float = math.inf,
                 step_s: float = 1.0) -> Iterator[tuple[int, Message]]:
        """Return ``(due_ms, message)`` in time order for ``duration_s`` simulated seconds.

        ``step_s`` is how often a match reprices between goals. A finite run starts only
        matches that end settled within it; ``math.inf`` runs until the caller stops.
        Raises ``ValueError`` at once when the duration cannot hold a single match.
        """
        if step_s <= 0:
            raise ValueError("the repricing step must be positive")
        settled_s = SETTLE_2_MIN * self.match_seconds / 90.0
        if duration_s < settled_s:
            raise ValueError(
                f"a match needs {settled_s:.1f} simulated seconds from fixture to settlement "
                f"at match_seconds={self.match_seconds:g}: lengthen the duration or shorten "
                "the match")
        cycle_ms = self.cycle_s * 1000.0
        # Spread the first fixtures so the slots do not move in lockstep, but keep room for
        # every slot to play at least one match in a finite run.
        spread_ms = cycle_ms if math.isinf(duration_s) else min(
            cycle_ms, (duration_s - settled_s) * 1000.0)
        spread = random.Random(f"{self.seed}/spread")  # noqa: S311 - simulation
        offsets = [int(spread.uniform(0.0, spread_ms)) for _ in range(self.events)]
        limit_ms = duration_s * 1000.0
        streams = [self._alive(limit_ms)]
        streams += [self._slot(slot, offset, step_s, limit_ms)
                    for slot, offset in enumerate(offsets)]
        return heapq.merge(*streams, key=lambda item: item[0])

    def _alive(self, limit_ms: float) -> Iterator[tuple[int, Message]]:
        for due_ms in itertools.count(0, ALIVE_EVERY_MS):
            if due_ms > limit_ms:
                return
            yield due_ms, {"type": "alive", "producer": self.producer,
                           "ts": self.start_ms + due_ms, "subscribed": True}

    def _slot(self, slot: int, offset_ms: int, step_s: float,
              limit_ms: float) -> Iterator[tuple[int, Message]]:
        minute_ms = self.match_seconds * 1000.0 / 90.0
        settled_ms = SETTLE_2_MIN * minute_ms
        for round_ in itertools.count():
            start_ms = offset_ms + round(round_ * CYCLE_MIN * minute_ms)
            if start_ms + settled_ms > limit_ms:
                return
            number = round_ * self.events + slot
            match = _Match(
                event_id=self.event_id(number),
                rng=random.Random(f"{self.seed}/{number}"),  # noqa: S311 - simulation
                start_ms=start_ms, minute_ms=minute_ms, tick_ms=step_s * 1000.0,
                producer=self.producer, origin_ms=self.start_ms)
            yield from match.play()
