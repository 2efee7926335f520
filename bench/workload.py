"""A deterministic canonical feed of the shape of a busy football day, as Kafka records.

``Workload(events, seed).generate(count)`` returns a ``Feed``: ``count`` ``(key, value)``
records, keys being event ids and values the JSON bytes of ``feed.v1`` messages. The first
records of a fresh workload are one ``fixture_change`` per event; then each record is an
``odds_change`` touching 1-5 of the event's 40 markets (random-walk prices with a ~5% margin),
with ``bet_stop``s and market status changes (suspended, deactivated) mixed in at ~2% each and a
live score update on some ``odds_change``s. Same arguments, same bytes. A second ``generate``
continues the same random walk (later prices, no fixtures again).

Every value starts with ``{"ts":`` and a 13-digit timestamp, so ``stamp`` can replace it at
send time without re-encoding (latency runs); throughput runs keep the sequential ``ts``.

``Workload.book()`` sends every market of every event once (and some twice): the input for
the state and recovery measurement (25,000 events x 40 markets = 1,000,000 markets).

No ``alive`` messages: producer health depends on the worker's wall clock (a producer goes
silent 20 s after its last ``alive`` is processed), which would make the final state differ
from the pure reference depending on timing.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

#: 2023-11-14T22:13:20Z: sequential timestamps stay below any wall-clock stamp of a later run.
BASE_TS = 1_700_000_000_000
MARGIN = 0.05
MIN_ODDS, MAX_ODDS = 1.01, 1000.0
TS_PREFIX = b'{"ts":'
TS_END = len(TS_PREFIX) + 13

# (market id, specifier strings, outcome ids): 40 markets per event.
_CS = "sr:correct_score:max:2"
MARKET_TEMPLATES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("1", ("",), ("1", "2", "3")),                                     # 1X2
    ("10", ("",), ("9", "10", "11")),                                  # double chance
    ("11", ("",), ("4", "5")),                                         # draw no bet
    ("18", tuple(f"total={t}.5" for t in range(7)), ("12", "13")),     # totals 0.5..6.5
    ("16", tuple(f"hcp={h}" for h in ("-2.5", "-1.5", "-1", "-0.5", "0.5", "1", "1.5",
                                      "2.5")), ("1714", "1715")),      # handicap
    ("29", ("",), ("74", "76")),                                       # both teams score
    ("8", tuple(f"goalnr={n}" for n in range(1, 6)), ("6", "7", "8")),  # next goal
    ("14", tuple(f"hcp={h}" for h in ("0:1", "0:2", "1:0", "2:0")),
     ("1711", "1712", "1713")),                                        # European handicap
    ("19", tuple(f"total={t}.5" for t in range(3)), ("12", "13")),     # home total
    ("20", tuple(f"total={t}.5" for t in range(3)), ("12", "13")),     # away total
    ("60", ("",), ("1", "2", "3")),                                    # 1st half 1X2
    ("68", tuple(f"total={t}.5" for t in range(3)), ("12", "13")),     # 1st half totals
    ("26", ("",), ("70", "72")),                                       # odd/even
    # Correct-score-like; two specifiers sent unsorted (the worker canonicalizes them).
    ("41", (f"variant={_CS}|score=0:0",), (f"{_CS}:1", f"{_CS}:2", f"{_CS}:3")),
)


@dataclass(frozen=True, slots=True)
class MarketTemplate:
    """One market of an event: its id, specifiers and outcome ids."""

    market_id: str
    specifiers: str
    outcomes: tuple[str, ...]
    #: A line to shape the first prices (totals, handicaps), None otherwise.
    line: float | None


def _line(specifiers: str) -> float | None:
    for pair in specifiers.split("|"):
        name, _, value = pair.partition("=")
        if name in ("total", "hcp") and ":" not in value:
            return float(value)
    return None


MARKETS: tuple[MarketTemplate, ...] = tuple(
    MarketTemplate(market_id, specifiers, outcomes, _line(specifiers))
    for market_id, all_specifiers, outcomes in MARKET_TEMPLATES
    for specifiers in all_specifiers
)


def stamp(value: bytes, ts: int) -> bytes:
    """Return ``value`` with its leading ``ts`` replaced by ``ts`` (13 digits)."""
    digits = b"%d" % ts
    if len(digits) != 13 or value[:6] != TS_PREFIX:
        raise ValueError("stamp needs a 13-digit ts and a value made by this module")
    return TS_PREFIX + digits + value[TS_END:]


@dataclass
class Feed:
    """Generated records (parallel lists) and what they hold."""

    keys: list[bytes] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    #: ``type:<t>`` per message type, ``outcomes`` / ``markets`` inside ``odds_change``s,
    #: ``status_changes`` (markets sent as suspended or deactivated), ``bytes``.
    stats: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.values)

    def records(self) -> Iterator[tuple[bytes, bytes]]:
        return zip(self.keys, self.values, strict=True)

    def head(self, count: int) -> Feed:
        """Return the first ``count`` records (stats are recounted only for types)."""
        head = Feed(self.keys[:count], self.values[:count])
        head.stats["messages"] = len(head.values)
        return head


class _Market:
    """Hidden outcome probabilities of one market, moved by a random walk."""

    __slots__ = ("odds", "prefix", "status", "template", "weights")

    def __init__(self, template: MarketTemplate, rng: random.Random, goals: float,
                 superiority: float) -> None:
        self.template = template
        self.status = "active"
        n = len(template.outcomes)
        line = template.line
        if line is not None and n == 2:
            # Over/under and handicaps: the favourite depends on the line.
            if template.market_id == "16":
                x = 1.5 * (superiority + line)
            else:
                x = 1.3 * ((goals if template.market_id == "18" else goals / 2) - line)
            p = 1.0 / (1.0 + math.exp(-x))
            self.weights = [max(p, 0.002), max(1.0 - p, 0.002)]
        else:
            self.weights = [rng.uniform(0.4, 1.6) for _ in range(n)]
        self.prefix = (f'{{"id":"{template.market_id}","specifiers":"{template.specifiers}",'
                       f'"status":"')
        self.odds = ""
        self.reprice(rng, 0.0)

    def reprice(self, rng: random.Random, step: float) -> None:
        rnd = rng.random
        weights = [max(w * (1.0 + step * (rnd() - 0.5)), 1e-4) for w in self.weights]
        total = sum(weights)
        self.weights = weights
        parts = []
        for outcome_id, weight in zip(self.template.outcomes, weights, strict=True):
            odds = total / (weight * (1.0 + MARGIN))
            odds = MIN_ODDS if odds < MIN_ODDS else MAX_ODDS if odds > MAX_ODDS else odds
            parts.append(f'{{"id":"{outcome_id}","odds":{odds:.2f},"active":true}}')
        self.odds = ",".join(parts)

    def json(self, status: str) -> str:
        return f'{self.prefix}{status}","outcomes":[{self.odds}]}}'


class _Event:
    __slots__ = ("away", "event_id", "home", "key", "markets", "minute", "start_time")

    def __init__(self, event_id: str, rng: random.Random, start_time: int,
                 markets: tuple[MarketTemplate, ...]) -> None:
        self.event_id = event_id
        self.key = event_id.encode()
        goals, superiority = rng.uniform(1.8, 3.4), rng.uniform(-1.2, 1.2)
        self.markets = [_Market(t, rng, goals, superiority) for t in markets]
        self.home = 0
        self.away = 0
        self.minute = 0
        self.start_time = start_time


class Workload:
    """A seeded feed generator over ``events`` events of 40 markets each."""

    def __init__(self, events: int = 2000, seed: int = 1, *, producer: int = 1,
                 first_event: int = 1_000_000, bet_stop_rate: float = 0.02,
                 status_change_rate: float = 0.02, score_rate: float = 0.03,
                 max_markets: int = 5, step: float = 0.12) -> None:
        self.rng = random.Random(seed)
        self.producer = producer
        self.bet_stop_rate = bet_stop_rate
        self.status_change_rate = status_change_rate
        self.score_rate = score_rate
        self.max_markets = max_markets
        self.step = step
        self.events = [
            _Event(f"sr:match:{first_event + i}", self.rng, BASE_TS + 3_600_000 * (1 + i % 48),
                   MARKETS)
            for i in range(events)
        ]
        self._fixtures_sent = False

    @property
    def event_ids(self) -> list[str]:
        return [e.event_id for e in self.events]

    def _head(self, message_type: str, ts: int, event: _Event) -> str:
        return (f'{{"ts":{ts},"type":"{message_type}","producer":{self.producer},'
                f'"event_id":"{event.event_id}"')

    def _fixture(self, event: _Event, ts: int) -> str:
        number = event.event_id.rsplit(":", 1)[1]
        return (f'{self._head("fixture_change", ts, event)},"change_type":"new",'
                f'"start_time":{event.start_time},"sport":"soccer",'
                f'"competition":"Bench League","home":"Home {number}",'
                f'"away":"Away {number}"}}')

    def _odds_change(self, event: _Event, ts: int, markets: list[_Market],
                     stats: Counter[str]) -> str:
        rng = self.rng
        changed_status = -1
        if rng.random() < self.status_change_rate:
            changed_status = int(rng.random() * len(markets))
        parts = []
        outcomes = 0
        for index, market in enumerate(markets):
            if index == changed_status:
                status = "suspended" if rng.random() < 0.5 else "deactivated"
                stats["status_changes"] += 1
            else:
                market.reprice(rng, self.step)
                status = "active"
            market.status = status
            parts.append(market.json(status))
            outcomes += len(market.template.outcomes)
        stats["outcomes"] += outcomes
        stats["markets"] += len(markets)
        text = f'{self._head("odds_change", ts, event)},"markets":[{",".join(parts)}]'
        if rng.random() < self.score_rate:
            event.minute = min(event.minute + 1 + int(rng.random() * 3), 90)
            if rng.random() < 0.1:
                if rng.random() < 0.5:
                    event.home += 1
                else:
                    event.away += 1
            text += (f',"sport_event_status":{{"status":"live","match_status":'
                     f'{6 if event.minute <= 45 else 7},"home_score":{event.home},'
                     f'"away_score":{event.away},"clock":"{event.minute:02d}:00"}}')
        return text + "}"

    def _bet_stop(self, event: _Event, ts: int) -> str:
        rng = self.rng
        head = self._head("bet_stop", ts, event)
        if rng.random() < 0.5:
            groups = '"all"'
        else:
            ids = sorted({event.markets[int(rng.random() * len(event.markets))]
                          .template.market_id for _ in range(1 + int(rng.random() * 3))})
            groups = "[" + ",".join(f'"{i}"' for i in ids) + "]"
        status = ',"market_status":"deactivated"' if rng.random() < 0.2 else ""
        return f'{head},"groups":{groups}{status}}}'

    def generate(self, count: int, start_ts: int = BASE_TS, step_ms: int = 1) -> Feed:
        """Return the next ``count`` records; the i-th has ``ts = start_ts + i * step_ms``."""
        feed = Feed()
        keys, values, stats = feed.keys, feed.values, feed.stats
        rng = self.rng
        rnd = rng.random
        events = self.events
        n_events = len(events)
        i = 0
        if not self._fixtures_sent:
            self._fixtures_sent = True
            for event in events[:count]:
                keys.append(event.key)
                values.append(self._fixture(event, start_ts + i * step_ms).encode())
                stats["type:fixture_change"] += 1
                i += 1
        max_markets = self.max_markets
        while i < count:
            ts = start_ts + i * step_ms
            event = events[int(rnd() * n_events)]
            if rnd() < self.bet_stop_rate:
                text = self._bet_stop(event, ts)
                stats["type:bet_stop"] += 1
            else:
                chosen = rng.sample(event.markets, 1 + int(rnd() * max_markets))
                text = self._odds_change(event, ts, chosen, stats)
                stats["type:odds_change"] += 1
            keys.append(event.key)
            values.append(text.encode())
            i += 1
        stats["messages"] = len(values)
        stats["bytes"] = sum(len(v) for v in values)
        return feed

    def book(self, per_message: int = 5, repeat_fraction: float = 0.25,
             start_ts: int = BASE_TS, step_ms: int = 1) -> Feed:
        """Send every market of every event (fixture first), then again for some events.

        Events are interleaved (round robin), as a feed covering many matches would be.
        """
        feed = Feed()
        stats = feed.stats
        rng = self.rng
        rounds: list[list[tuple[_Event, list[_Market] | None]]] = [
            [(e, None) for e in self.events]]
        groups = [
            (e, e.markets[s:s + per_message])
            for s in range(0, len(self.events[0].markets), per_message)
            for e in self.events
        ]
        rounds.append(groups)
        repeats = [g for g in groups if rng.random() < repeat_fraction]
        rounds.append(repeats)
        i = 0
        for items in rounds:
            for event, markets in items:
                ts = start_ts + i * step_ms
                if markets is None:
                    text = self._fixture(event, ts)
                    stats["type:fixture_change"] += 1
                else:
                    text = self._odds_change(event, ts, markets, stats)
                    stats["type:odds_change"] += 1
                feed.keys.append(event.key)
                feed.values.append(text.encode())
                i += 1
        self._fixtures_sent = True
        stats["messages"] = len(feed.values)
        stats["bytes"] = sum(len(v) for v in feed.values)
        return feed
