"""Typed records: what msgspec Structs would save the worker, measured on the bench workload.

The performance-by-design issue's move 3 proposes msgspec Structs for the feed messages and
the market and event snapshots. This probe measures, in process and before any refactor, what
that would change on the workload of ``bench.planning`` (``bench.workload``, 2,000 events,
seed 1; the first ``--messages - --measure`` messages warm the state, the last ``--measure``
are measured):

a. decoding and validating a feed record: ``models.feed.decode`` (orjson, then
   ``models.fastcheck`` or the JSON Schema, then canonical specifiers) against one
   ``msgspec.json.Decoder`` of a tagged union of Structs that mirrors ``models/schemas/*.json``
   (``FeedMessage`` below, every type and constraint; ids checked and specifiers
   canonicalised in ``__post_init__``), with the cost of checking ids by ``Meta(pattern)``
   instead as a reference row;
b. encoding the market and event values the planner writes: ``orjson.dumps`` of today's dicts
   against ``msgspec.json.encode`` of Structs built beforehand (a full migration), of Structs
   converted from the dicts (a partial one) and of the dicts themselves;
c. decoding stored values (table reads that miss the decoded cache): ``orjson.loads`` against
   a typed ``msgspec.json.Decoder``;
d. what the planner itself costs per message in the same run (as ``bench.planning``), and how
   many stored values it reads, for the shares;
e. building a market snapshot the way the common ``odds_change`` path does (dict literals and
   a spread copy) against Struct constructors and ``msgspec.structs.replace`` (a mimic of the
   rule, not the rule).

Before timing, it checks that the Structs are faithful: both decoders accept every workload
message and give the same content, byte for byte once encoded with sorted keys; both accept
one valid message of every other type; both reject a list of invalid messages; and over
mutated workload messages the verdicts agree except where listed as a known difference. The
snapshot Structs must encode the workload's snapshots to the same bytes as orjson.

Each timing is a whole pass over the values (``time.perf_counter``), repeated, the median
reported, with the worker's GC thresholds and the setup frozen out of the collector. The two
ways take turns on slices of 1,000 values, so that a busy machine slows both alike; the ratio
column is the median of the passes' ratios.

    python -m bench.typed_records_probe [--messages 300000] [--measure 100000] [--repeat 5]
                                        [--profile 20000]

msgspec is not a dependency of the platform (docs/decisions/0006): ``.venv/bin/pip install
msgspec`` first.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import orjson
from msgspec import UNSET, Meta, Struct, UnsetType

from bench import planning
from bench.workload import Workload
from models.engine import plan_batch
from models.feed import MAX_MESSAGE_BYTES, MAX_SPECIFIERS, FeedError, canonical_specifiers, decode
from models.market import Snapshot
from models.memory import MemoryState

T = TypeVar("T")

# -- the feed messages, mirroring models/schemas/*.json --------------------------------------


def _pattern(body: str) -> str:
    """An anchored pattern for ``Meta``. msgspec matches with ``re.search``, whose ``$`` also
    matches before a final newline; the JSON Schema's does not (fastjsonschema rewrites it to
    ``\\Z``). The lookahead closes that gap and is a no-op in ECMA-262, so a schema generated
    from these Structs keeps a valid pattern."""
    return f"^{body}$(?!\\n)"


Producer = Annotated[int, Meta(ge=0, le=1000)]
Millis = Annotated[int, Meta(ge=0, le=9_999_999_999_999)]
Count = Annotated[int, Meta(ge=0)]
EventId = Annotated[str, Meta(min_length=3, max_length=100,
                              pattern=_pattern("[a-z0-9_]+:[a-z0-9_]+:[A-Za-z0-9_.-]+"))]
# Ids: the pattern is only documented here (``extra_json_schema``, so a generated schema
# keeps it) and checked with str methods in the market's ``__post_init__``, as
# ``models.fastcheck`` does: a ``Meta(pattern=...)`` is one Python ``re.search`` per string,
# ~11 per workload message (row "a. ids" of the report).
MarketId = Annotated[str, Meta(min_length=1, max_length=64,
                               extra_json_schema={"pattern": "^[!-.0-~]+$"})]
OutcomeId = Annotated[str, Meta(min_length=1, max_length=128,
                                extra_json_schema={"pattern": "^[!-~]+$"})]
#: An outcome id checked by msgspec's pattern (the reference row only).
PatternId = Annotated[str, Meta(min_length=1, max_length=128, pattern=_pattern("[!-~]+"))]
# Group names: a bet stop names a few; one pattern each is cheap enough.
GroupName = Annotated[str, Meta(min_length=1, max_length=64, pattern=_pattern("[!-~]+"))]
Specifiers = Annotated[str, Meta(max_length=MAX_SPECIFIERS)]
Text32 = Annotated[str, Meta(max_length=32)]
Text100 = Annotated[str, Meta(max_length=100)]
Text200 = Annotated[str, Meta(max_length=200)]
# A JSON Schema "number" keeps its JSON type (2 stays an int), as orjson's dicts do today.
Odds = Annotated[int, Meta(gt=1, le=10_000)] | Annotated[float, Meta(gt=1.0, le=10_000)]
Unit = Annotated[int, Meta(ge=0, le=1)] | Annotated[float, Meta(ge=0, le=1)]
Amount = Annotated[int, Meta(ge=0)] | Annotated[float, Meta(ge=0)]
Score = Annotated[int, Meta(ge=0, le=100_000)] | Annotated[float, Meta(ge=0, le=100_000)]
Percent = Annotated[int, Meta(ge=0, le=100)] | Annotated[float, Meta(ge=0, le=100)]
HalfToOne = Annotated[int, Meta(ge=1, le=1)] | Annotated[float, Meta(ge=0.5, le=1)]
Level = tuple[Amount, Amount]
VoidReason = int | Annotated[str, Meta(max_length=64)]
MarketStatusName = Literal["active", "suspended", "deactivated", "handed_over", "settled",
                           "cancelled"]
EventStatusName = Literal["not_started", "live", "suspended", "ended", "closed", "cancelled",
                          "delayed", "interrupted", "postponed", "abandoned"]


class FeedOutcome(Struct, kw_only=True):
    """An outcome of an ``odds_change`` market."""

    id: OutcomeId
    odds: Odds | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    probability: Unit | UnsetType = UNSET
    back: Annotated[list[Level], Meta(max_length=3)] | UnsetType = UNSET
    lay: Annotated[list[Level], Meta(max_length=3)] | UnsetType = UNSET
    last_traded: Odds | UnsetType = UNSET
    traded_volume: Amount | UnsetType = UNSET


class KeyedMarket(Struct, kw_only=True):
    """A market named by id and specifiers (canonicalised here, as ``decode`` does)."""

    id: MarketId
    specifiers: Specifiers = ""

    def __post_init__(self) -> None:
        # Raised here, a ValueError (FeedError is one) becomes a ValidationError at this market.
        if not _printable(self.id) or "/" in self.id:
            raise ValueError("id must be printable ASCII other than '/'")
        self.specifiers = canonical_specifiers(self.specifiers)
        if len(self.specifiers) > MAX_SPECIFIERS:
            raise FeedError(f"specifiers exceed {MAX_SPECIFIERS} chars")


def _printable(value: str) -> bool:
    """``[!-~]+``: printable ASCII without spaces (the length is checked by ``Meta``)."""
    return value.isascii() and value.isprintable() and " " not in value


def _check_outcome_ids(outcomes: Iterable[FeedOutcome | SettledOutcome]) -> None:
    for outcome in outcomes:
        if not _printable(outcome.id):
            raise ValueError(f"outcome id {outcome.id!r} must be printable ASCII")


class OddsMarket(KeyedMarket, kw_only=True):
    outcomes: Annotated[list[FeedOutcome], Meta(max_length=500)]
    status: MarketStatusName | UnsetType = UNSET
    in_play: bool | UnsetType = UNSET
    bet_delay: Count | UnsetType = UNSET
    number_of_winners: Annotated[int, Meta(ge=1)] | UnsetType = UNSET
    cashout_status: Literal["available", "unavailable", "closed"] | UnsetType = UNSET

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_outcome_ids(self.outcomes)


class PeriodScore(Struct, kw_only=True):
    number: Annotated[int, Meta(ge=0, le=1000)]
    home_score: Score
    away_score: Score
    type: Text32 | UnsetType = UNSET
    match_status: int | UnsetType = UNSET


class FeedEventStatus(Struct, kw_only=True):
    status: EventStatusName
    match_status: int | UnsetType = UNSET
    home_score: Score | UnsetType = UNSET
    away_score: Score | UnsetType = UNSET
    clock: Annotated[str, Meta(max_length=20)] | UnsetType = UNSET
    period_scores: Annotated[list[PeriodScore], Meta(max_length=50)] | UnsetType = UNSET


class SettledOutcome(Struct, kw_only=True):
    id: OutcomeId
    result: Literal["won", "lost", "undecided", "void"]
    void_factor: HalfToOne | UnsetType = UNSET
    dead_heat_factor: (Annotated[int, Meta(gt=0, le=1)] | Annotated[float, Meta(gt=0, le=1)]
                       | UnsetType) = UNSET
    removal_ts: Millis | UnsetType = UNSET
    reduction_factor: Percent | UnsetType = UNSET

    def __post_init__(self) -> None:
        # The schema's enum [0.5, 1]: a float enum has no msgspec type of its own.
        if self.void_factor is not UNSET and self.void_factor not in (0.5, 1):
            raise ValueError("void_factor must be 0.5 or 1")


class SettlementMarket(KeyedMarket, kw_only=True):
    outcomes: Annotated[list[SettledOutcome], Meta(max_length=500)]
    void_reason: VoidReason | UnsetType = UNSET
    reduction_factor: Percent | UnsetType = UNSET

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_outcome_ids(self.outcomes)


class CancelMarket(KeyedMarket, kw_only=True):
    void_reason: VoidReason | UnsetType = UNSET


class Message(Struct, tag_field="type", kw_only=True):
    """What every ``feed.v1`` message has; the subclass's tag is its ``type``."""

    producer: Producer
    ts: Millis
    request_id: Count | UnsetType = UNSET


class OddsChange(Message, tag="odds_change", kw_only=True):
    event_id: EventId
    markets: Annotated[list[OddsMarket], Meta(max_length=2000)]
    betting_status: Text100 | UnsetType = UNSET
    betstop_reason: Text100 | UnsetType = UNSET
    sport_event_status: FeedEventStatus | UnsetType = UNSET


class BetStop(Message, tag="bet_stop", kw_only=True):
    event_id: EventId
    groups: Literal["all"] | Annotated[list[GroupName], Meta(min_length=1, max_length=2000)]
    market_status: MarketStatusName | UnsetType = UNSET


class FixtureChange(Message, tag="fixture_change", kw_only=True):
    event_id: EventId
    change_type: Literal["new", "datetime", "cancelled", "format", "coverage"] | UnsetType = (
        UNSET)
    start_time: Millis | UnsetType = UNSET
    sport: Text100 | UnsetType = UNSET
    competition: Text200 | UnsetType = UNSET
    home: Text200 | UnsetType = UNSET
    away: Text200 | UnsetType = UNSET


class BetSettlement(Message, tag="bet_settlement", kw_only=True):
    event_id: EventId
    certainty: Literal[1, 2]
    markets: Annotated[list[SettlementMarket], Meta(max_length=2000)]


class RollbackBetSettlement(Message, tag="rollback_bet_settlement", kw_only=True):
    event_id: EventId
    markets: Annotated[list[KeyedMarket], Meta(max_length=2000)]


class BetCancel(Message, tag="bet_cancel", kw_only=True):
    event_id: EventId
    markets: Annotated[list[CancelMarket], Meta(max_length=2000)]
    start_time: Millis | UnsetType = UNSET
    end_time: Millis | UnsetType = UNSET
    superceded_by: Text100 | UnsetType = UNSET


class RollbackBetCancel(Message, tag="rollback_bet_cancel", kw_only=True):
    event_id: EventId
    markets: Annotated[list[KeyedMarket], Meta(max_length=2000)]
    start_time: Millis | UnsetType = UNSET
    end_time: Millis | UnsetType = UNSET


class Alive(Message, tag="alive", kw_only=True):
    subscribed: bool


class SnapshotComplete(Message, tag="snapshot_complete", kw_only=True):
    request_id: Count


class ProducerSilent(Message, tag="producer_silent", kw_only=True):
    pass


class ProducerStatus(Message, tag="producer_status", kw_only=True):
    down: bool
    generation: Annotated[int, Meta(ge=1)]
    reason: Text100 | UnsetType = UNSET
    request_ts: Millis | UnsetType = UNSET


class RecoveryRetry(Message, tag="recovery_retry", kw_only=True):
    pass


FeedMessage = (OddsChange | BetStop | FixtureChange | BetSettlement | RollbackBetSettlement
               | BetCancel | RollbackBetCancel | Alive | SnapshotComplete | ProducerSilent
               | ProducerStatus | RecoveryRetry)
FEED_DECODER = msgspec.json.Decoder(FeedMessage)


def decode_typed(raw: bytes | None) -> FeedMessage:
    """``models.feed.decode`` with Structs: the same checks, the same ``FeedError``."""
    if raw is None:
        raise FeedError("empty record")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise FeedError(f"record of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        return FEED_DECODER.decode(raw)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise FeedError(str(exc)) from None


# -- the stored snapshots (models.market, models.event), fields in today's key order ---------


class Outcome(Struct, kw_only=True):
    id: str
    name: str | None
    result: str | None
    void_factor: float | None
    dead_heat_factor: float | None
    odds: float | None
    active: bool
    probability: float | None
    implied_probability: float | None
    american: int | None
    fractional: str | None
    direction: str
    back: list[list[float]] | UnsetType = UNSET
    lay: list[list[float]] | UnsetType = UNSET
    last_traded: float | UnsetType | None = UNSET
    traded_volume: float | UnsetType = UNSET
    removal_ts: int | UnsetType = UNSET
    reduction_factor: float | UnsetType = UNSET


class Settlement(Struct, kw_only=True):
    certainty: int
    void_reason: int | str | None
    reduction_factor: float | UnsetType = UNSET


class Cancel(Struct, kw_only=True):
    start_time: int | None
    end_time: int | None
    void_reason: int | str | None
    superceded_by: str | None
    ts: int


class PreSettlement(Struct, kw_only=True):
    outcomes: list[Outcome]


class MarketSnapshot(Struct, kw_only=True):
    event_id: str
    market_id: str
    specifiers: str
    name: str | None
    producer: int
    feed_status: str
    status: str
    producer_down: bool
    live: bool
    outcomes: list[Outcome]
    settlement: Settlement | None
    cancels: list[Cancel]
    pre_settlement: PreSettlement | None
    ts: int
    marks: dict[str, int]
    in_play: bool | UnsetType = UNSET
    bet_delay: int | UnsetType = UNSET
    number_of_winners: int | UnsetType = UNSET
    cashout_status: str | UnsetType = UNSET
    margin: float | None
    version: int
    updated_ts: int


class Fixture(Struct, kw_only=True):
    change_type: str | UnsetType | None = UNSET
    start_time: int | UnsetType = UNSET
    sport: str | UnsetType = UNSET
    competition: str | UnsetType = UNSET
    home: str | UnsetType = UNSET
    away: str | UnsetType = UNSET


class EventStatus(Struct, kw_only=True):
    status: str
    match_status: int | UnsetType = UNSET
    home_score: int | float | UnsetType = UNSET
    away_score: int | float | UnsetType = UNSET
    clock: str | UnsetType = UNSET
    period_scores: list[dict[str, Any]] | UnsetType = UNSET


class EventSnapshot(Struct, kw_only=True):
    event_id: str
    fixture: Fixture
    sport_event_status: EventStatus | None
    betting_status: str | None
    betstop_reason: str | None
    market_status: dict[str, str]
    market_counts: dict[str, int]
    version: int
    updated_ts: int
    ts: int
    fixture_ts: int
    recent: list[str]


MARKET_DECODER = msgspec.json.Decoder(MarketSnapshot)
EVENT_DECODER = msgspec.json.Decoder(EventSnapshot)
ENCODER = msgspec.json.Encoder()

# -- checks: the Structs give today's verdicts and content -----------------------------------


def today_verdict(raw: bytes) -> dict[str, Any] | None:
    """Today's decoded message, or None when it is refused."""
    try:
        return decode(raw)
    except FeedError:
        return None


def typed_verdict(raw: bytes) -> dict[str, Any] | None:
    """The Struct path's message as builtins (UNSET fields left out), or None when refused."""
    try:
        builtins: dict[str, Any] = msgspec.to_builtins(decode_typed(raw))
    except FeedError:
        return None
    return builtins


def same_content(left: Any, right: Any) -> bool:
    """Equal as JSON with sorted keys: 2 and 2.0 differ, key order does not."""
    return bool(orjson.dumps(left, option=orjson.OPT_SORT_KEYS)
                == orjson.dumps(right, option=orjson.OPT_SORT_KEYS))


_HEAD = {"producer": 1, "ts": 1_700_000_000_000}
_EVENT = {**_HEAD, "event_id": "sr:match:1"}
_OUTCOME = {"id": "1", "odds": 2.5, "active": True}
_ODDS = {**_EVENT, "type": "odds_change", "markets": [
    {"id": "1", "specifiers": "", "status": "active", "outcomes": [_OUTCOME]}]}

#: Valid messages of the types the measured workload has none of (or none of this shape).
VALID: dict[str, dict[str, Any]] = {
    "odds_change, exchange fields": {**_ODDS, "request_id": 3, "betting_status": "x",
        "markets": [{"id": "1", "specifiers": "total=2.5", "in_play": True, "bet_delay": 5,
                     "number_of_winners": 1, "cashout_status": "available", "outcomes": [
                         {"id": "1", "odds": 2, "back": [[2.5, 10.0], [2, 3]], "lay": [],
                          "last_traded": 2.52, "traded_volume": 1000, "probability": 0.4}]}],
        "sport_event_status": {"status": "live", "match_status": 6, "home_score": 1,
                               "away_score": 0.0, "clock": "12:00", "period_scores": [
                                   {"number": 1, "type": "regular_period", "match_status": 6,
                                    "home_score": 1, "away_score": 0}]}},
    "bet_settlement": {**_EVENT, "type": "bet_settlement", "certainty": 2, "markets": [
        {"id": "1", "void_reason": 3, "reduction_factor": 12.5, "outcomes": [
            {"id": "1", "result": "won"}, {"id": "2", "result": "void", "void_factor": 0.5,
                                           "dead_heat_factor": 0.5, "removal_ts": 5}]}]},
    "rollback_bet_settlement": {**_EVENT, "type": "rollback_bet_settlement",
                                "markets": [{"id": "1"}]},
    "bet_cancel": {**_EVENT, "type": "bet_cancel", "start_time": 1, "end_time": 2,
                   "superceded_by": "sr:match:2",
                   "markets": [{"id": "1", "specifiers": "b=2|a=1", "void_reason": "no_result"}]},
    "rollback_bet_cancel": {**_EVENT, "type": "rollback_bet_cancel", "markets": [{"id": "1"}]},
    "fixture_change": {**_EVENT, "type": "fixture_change", "change_type": "datetime",
                       "start_time": 1_700_003_600_000, "sport": "soccer", "home": "A",
                       "away": "B", "competition": "C"},
    "alive": {**_HEAD, "type": "alive", "subscribed": False},
    "snapshot_complete": {**_HEAD, "type": "snapshot_complete", "request_id": 7},
    "producer_silent": {**_HEAD, "type": "producer_silent"},
    "producer_status": {**_HEAD, "type": "producer_status", "down": True, "generation": 2,
                        "reason": "silent", "request_ts": 5},
    "recovery_retry": {**_HEAD, "type": "recovery_retry"},
}


def _odds(**outcome: Any) -> dict[str, Any]:
    return {**_ODDS, "markets": [{"id": "1", "outcomes": [{**_OUTCOME, **outcome}]}]}


def _market(**market: Any) -> dict[str, Any]:
    return {**_ODDS, "markets": [{"id": "1", "outcomes": [_OUTCOME], **market}]}


def _without(message: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != name}


#: Messages both must refuse (JSON objects; raw bytes are below).
INVALID: dict[str, dict[str, Any]] = {
    "odds 1.0 (must be > 1)": _odds(odds=1.0),
    "odds 10000.5": _odds(odds=10000.5),
    "odds as a string": _odds(odds="2.5"),
    "active not a boolean": _odds(active="yes"),
    "probability 1.5": _odds(probability=1.5),
    "back level of three numbers": _odds(back=[[1, 2, 3]]),
    "lay price below 0": _odds(lay=[[-1, 2]]),
    "outcome id empty": _odds(id=""),
    "outcome id with a space": _odds(id="a b"),
    "outcome id not ASCII": _odds(id="\u00e9"),
    "outcome id with DEL": _odds(id="a\x7f"),
    "outcome id of 129 chars": _odds(id="x" * 129),
    "settled outcome id with a space": {**VALID["bet_settlement"], "markets": [
        {"id": "1", "outcomes": [{"id": "a b", "result": "won"}]}]},
    "market id with '/'": _market(id="1/2"),
    "market status 'open'": _market(status="open"),
    "specifiers of 256 chars": _market(specifiers="a=" + "x" * 254),
    "specifiers not name=value": _market(specifiers="abc"),
    "501 outcomes": _market(outcomes=[_OUTCOME] * 501),
    "bet_delay -1": _market(bet_delay=-1),
    "number_of_winners 0": _market(number_of_winners=0),
    "no markets": _without(_ODDS, "markets"),
    "no event_id": _without(_ODDS, "event_id"),
    "no ts": _without(_ODDS, "ts"),
    "no type": _without(_ODDS, "type"),
    "unknown type": {**_ODDS, "type": "odds_changed"},
    "event_id not a URN": {**_ODDS, "event_id": "match1"},
    "event_id with a final newline": {**_ODDS, "event_id": "sr:match:1\n"},
    "producer 1001": {**_ODDS, "producer": 1001},
    "producer true": {**_ODDS, "producer": True},
    "producer 1.5": {**_ODDS, "producer": 1.5},
    "ts -1": {**_ODDS, "ts": -1},
    "request_id null": {**_ODDS, "request_id": None},
    "home_score -1": {**_ODDS, "sport_event_status": {"status": "live", "home_score": -1}},
    "event status 'running'": {**_ODDS, "sport_event_status": {"status": "running"}},
    "bet_stop groups []": {**_EVENT, "type": "bet_stop", "groups": []},
    "bet_stop groups 'some'": {**_EVENT, "type": "bet_stop", "groups": "some"},
    "fixture home of 201 chars": {**_EVENT, "type": "fixture_change", "home": "x" * 201},
    "certainty 3": {**VALID["bet_settlement"], "certainty": 3},
    "void_factor 0.7": {**VALID["bet_settlement"], "markets": [
        {"id": "1", "outcomes": [{"id": "1", "result": "void", "void_factor": 0.7}]}]},
    "alive without subscribed": {**_HEAD, "type": "alive"},
    "producer_status generation 0": {**VALID["producer_status"], "generation": 0},
}
INVALID_RAW = {"not JSON": b"{\"ts\":", "a JSON array": b"[]", "a JSON string": b'"x"',
               "too large": b" " * (MAX_MESSAGE_BYTES + 1)}

#: Where the Structs knowingly differ: JSON Schema counts an integral float as an integer
#: (``decode`` then makes it an int); msgspec's ``int`` refuses it.
KNOWN_DIFFERENCES: dict[str, dict[str, Any]] = {
    "producer 1.0": {**_ODDS, "producer": 1.0},
    "ts 1.7e12": {**_ODDS, "ts": 1.7e12},
    "certainty 2.0": {**VALID["bet_settlement"], "certainty": 2.0},
}

#: Values a mutation puts in place of one value of a workload message.
WEIRD: tuple[Any, ...] = (None, True, False, -1, 0, 1, 1.0, 1.5, 10_001, "", "x", "a b",
                          "1/2", "x" * 300, [], [1], {}, {"id": 1})


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterable[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


_DELETED = object()


def _mutated(message: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], Any]:
    """A copy of ``message`` with one value replaced by a weird one, or one key deleted;
    and the value put in (``_DELETED``: none)."""
    copy: dict[str, Any] = orjson.loads(orjson.dumps(message))
    path = rng.choice([p for p in _paths(copy) if p and p != ("type",)])
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict) and rng.random() < 0.25:
        del parent[path[-1]]
        return copy, _DELETED
    value = rng.choice(WEIRD)
    parent[path[-1]] = value
    return copy, value


@dataclass
class Checks:
    """What the fidelity checks found; ``failures`` must stay empty."""

    workload: int = 0
    valid_types: int = 0
    invalid: int = 0
    mutations: int = 0
    mutations_refused: int = 0
    #: Mutations that put 1.0 where the contract takes an integer: accepted today only.
    mutations_integral_float: int = 0
    known_differences: list[str] = field(default_factory=list)
    market_bytes_equal: int = 0
    event_bytes_equal: int = 0
    failures: list[str] = field(default_factory=list)


def check_feed(values: Sequence[bytes], checks: Checks, mutations: int) -> None:
    """Hold the Structs to today's verdicts and content."""
    for raw in values:
        today, typed = today_verdict(raw), typed_verdict(raw)
        if today is None or typed is None or not same_content(today, typed):
            checks.failures.append(f"workload message differs: {raw[:120]!r}")
        checks.workload += 1
    for label, message in VALID.items():
        raw = orjson.dumps(message)
        today, typed = today_verdict(raw), typed_verdict(raw)
        if today is None or typed is None or not same_content(today, typed):
            checks.failures.append(f"valid {label}: today {today}, typed {typed}")
        checks.valid_types += 1
    invalid = {label: orjson.dumps(m) for label, m in INVALID.items()} | INVALID_RAW
    for label, raw in invalid.items():
        if today_verdict(raw) is not None or typed_verdict(raw) is not None:
            checks.failures.append(f"invalid {label}: accepted by today "
                                   f"{today_verdict(raw) is not None}, by the Structs "
                                   f"{typed_verdict(raw) is not None}")
        checks.invalid += 1
    for label, message in KNOWN_DIFFERENCES.items():
        raw = orjson.dumps(message)
        checks.known_differences.append(
            f"{label}: today {'accepts' if today_verdict(raw) else 'refuses'}, "
            f"the Structs {'accept' if typed_verdict(raw) else 'refuse'}")
    rng = random.Random(25)
    sources = [orjson.loads(v) for v in rng.sample(list(values), min(mutations, len(values)))]
    sources += list(VALID.values()) * 20
    for message in sources:
        mutated, value = _mutated(message, rng)
        raw = orjson.dumps(mutated)
        today, typed = today_verdict(raw), typed_verdict(raw)
        checks.mutations += 1
        checks.mutations_refused += today is None
        if (today is None) != (typed is None):
            if today is not None and type(value) is float and value.is_integer():
                checks.mutations_integral_float += 1  # a known difference
            else:
                checks.failures.append(f"mutation verdicts differ (today accepts: "
                                       f"{today is not None}): {raw[:200]!r}")
        elif today is not None and typed is not None and not same_content(today, typed):
            checks.failures.append(f"mutation content differs: {raw[:200]!r}")


def check_snapshots(markets: Sequence[Snapshot], events: Sequence[Snapshot],
                    checks: Checks) -> None:
    """The snapshot Structs encode the workload's snapshots to orjson's bytes."""
    for snapshot in markets:
        struct = msgspec.convert(snapshot, MarketSnapshot)
        checks.market_bytes_equal += ENCODER.encode(struct) == orjson.dumps(snapshot)
        if MARKET_DECODER.decode(orjson.dumps(snapshot)) != struct:
            checks.failures.append(f"market does not round-trip: {snapshot}")
    for snapshot in events:
        struct_event = msgspec.convert(snapshot, EventSnapshot)
        checks.event_bytes_equal += ENCODER.encode(struct_event) == orjson.dumps(snapshot)
    if checks.market_bytes_equal != len(markets) or checks.event_bytes_equal != len(events):
        checks.failures.append(
            f"snapshot bytes differ: markets {checks.market_bytes_equal}/{len(markets)}, "
            f"events {checks.event_bytes_equal}/{len(events)}")


# -- the workload and the planner's own cost --------------------------------------------------


class CountingState(MemoryState):
    """A ``MemoryState`` that counts the stored values the planner reads."""

    def __init__(self) -> None:
        super().__init__()
        self.market_reads = 0
        self.event_reads = 0

    def market(self, source: int, key: str) -> Snapshot | None:
        found = self.markets.get(key)
        self.market_reads += found is not None
        return found

    def event(self, source: int, event_id: str) -> Snapshot | None:
        found = self.events.get(event_id)
        self.event_reads += found is not None
        return found


@dataclass
class Run:
    """The measured part of a ``bench.planning`` run, and what its plans wrote."""

    values: list[bytes]
    markets: list[Snapshot]
    events: list[Snapshot]
    plan_us: float
    encode_us: float
    market_reads: float
    event_reads: float


def plan_workload(messages: int, measure: int) -> Run:
    """Plan the workload as ``bench.planning.run`` does; keep the measured part's writes."""
    records = list(Workload(2000, seed=1).generate(messages).records())
    warm = planning.batches(records[:messages - measure])
    timed = planning.batches(records[messages - measure:])
    state = CountingState()
    for batch in warm:
        state.commit(plan_batch(batch, state, lambda: 0))
    state.market_reads = state.event_reads = 0
    gc.collect()
    gc.freeze()
    markets: list[Snapshot] = []
    events: list[Snapshot] = []
    plan_seconds = encode_seconds = 0.0
    for batch in timed:
        started = time.perf_counter()
        plan = plan_batch(batch, state, lambda: 0)
        planned = time.perf_counter()
        planning.encode(plan)
        encode_seconds += time.perf_counter() - planned
        plan_seconds += planned - started
        markets.extend(p.state for p in plan.markets.values())
        events.extend(p.state for p in plan.events.values())
        state.commit(plan)
    return Run([value for _, value in records[messages - measure:]], markets, events,
               plan_seconds / measure * 1e6, encode_seconds / measure * 1e6,
               state.market_reads / measure, state.event_reads / measure)


# -- timing -------------------------------------------------------------------------------


def each(fn: Callable[[T], object], items: Sequence[T]) -> None:
    """Call ``fn`` on every item, dropping the results (as the worker does, one at a time)."""
    for item in items:
        fn(item)


def seconds(fn: Callable[[T], object], items: Sequence[T]) -> float:
    """How long one pass of ``fn`` over ``items`` takes."""
    started = time.perf_counter()
    each(fn, items)
    return time.perf_counter() - started


#: Values per turn: the two ways take turns on each slice of the values (the one going first
#: alternating), so that the machine's load and the CPU caches fall on both alike.
CHUNK = 1000


@dataclass
class Row:
    """One comparison: today's way and msgspec's, median seconds of a pass over the values."""

    what: str
    today: str
    typed: str
    values: int
    today_s: float
    typed_s: float
    #: The median over passes of msgspec's time over today's.
    ratio: float

    def us(self, per: int) -> tuple[float, float]:
        """Today's and msgspec's microseconds per ``per`` (values or feed messages)."""
        return self.today_s / per * 1e6, self.typed_s / per * 1e6

    def saved_per_value(self) -> float:
        today, typed = self.us(self.values)
        return today - typed

    def cells(self, messages: int) -> list[str]:
        value, message = self.us(self.values), self.us(messages)
        return [self.what, self.today, self.typed, f"{self.values:,}",
                f"{value[0]:.2f} / {value[1]:.2f}", f"{message[0]:.2f} / {message[1]:.2f}",
                f"{self.ratio:.2f}"]


def compare(what: str, today: tuple[str, Callable[[Any], object]],
            typed: tuple[str, Callable[[Any], object]], items: Sequence[Any], repeat: int,
            typed_items: Sequence[Any] | None = None) -> Row:
    """Time both ways over the same values (``typed_items``: msgspec's own form of them),
    ``repeat`` passes each, taking turns by ``CHUNK``; keep the medians."""
    own = items if typed_items is None else typed_items
    turns = [(items[i:i + CHUNK], own[i:i + CHUNK]) for i in range(0, len(items), CHUNK)]
    today_times, typed_times = [], []
    for _ in range(repeat):
        today_s = typed_s = 0.0
        for turn, (mine, theirs) in enumerate(turns):
            if turn % 2:
                typed_s += seconds(typed[1], theirs)
                today_s += seconds(today[1], mine)
            else:
                today_s += seconds(today[1], mine)
                typed_s += seconds(typed[1], theirs)
        today_times.append(today_s)
        typed_times.append(typed_s)
    return Row(what, today[0], typed[0], len(items), statistics.median(today_times),
               statistics.median(typed_times),
               statistics.median(t / d for d, t in zip(today_times, typed_times, strict=True)))


def _to_builtins(raw: bytes) -> object:
    return msgspec.to_builtins(decode_typed(raw))


def _convert_market(snapshot: Snapshot) -> bytes:
    return ENCODER.encode(msgspec.convert(snapshot, MarketSnapshot))


def _convert_event(snapshot: Snapshot) -> bytes:
    return ENCODER.encode(msgspec.convert(snapshot, EventSnapshot))


_NAMES: dict[str, str | None] = {}


def build_dict(snapshot: Snapshot) -> Snapshot:
    """What the common ``odds_change`` path (``apply_odds_change``, ``finish``) builds, on
    dicts: an outcome literal each, a spread copy of the market, the derived fields set."""
    outcomes = [{
        "id": o["id"], "name": _NAMES.get(o["id"]), "result": o.get("result"),
        "void_factor": o.get("void_factor"), "dead_heat_factor": o.get("dead_heat_factor"),
        "odds": o["odds"], "active": bool(o.get("active", True)), "probability": None,
        "implied_probability": o["implied_probability"], "american": o["american"],
        "fractional": o["fractional"], "direction": o["direction"]}
        for o in snapshot["outcomes"]]
    candidate = {**snapshot, "name": None, "producer": snapshot["producer"],
                 "outcomes": outcomes, "feed_status": "active", "producer_down": False,
                 "live": True}
    candidate["status"] = candidate["feed_status"]
    candidate["margin"] = snapshot["margin"]
    candidate["version"] = snapshot["version"] + 1
    candidate["updated_ts"] = candidate["ts"] = snapshot["ts"]
    candidate["marks"] = {**snapshot["marks"], "1": snapshot["ts"]}
    return candidate


def build_struct(snapshot: MarketSnapshot) -> MarketSnapshot:
    """``build_dict`` with Structs: constructors and ``msgspec.structs.replace``."""
    outcomes = [Outcome(
        id=o.id, name=_NAMES.get(o.id), result=o.result, void_factor=o.void_factor,
        dead_heat_factor=o.dead_heat_factor, odds=o.odds, active=o.active, probability=None,
        implied_probability=o.implied_probability, american=o.american,
        fractional=o.fractional, direction=o.direction)
        for o in snapshot.outcomes]
    candidate = msgspec.structs.replace(snapshot, name=None, producer=snapshot.producer,
                                        outcomes=outcomes, feed_status="active",
                                        producer_down=False, live=True)
    candidate.status = candidate.feed_status
    candidate.margin = snapshot.margin
    candidate.version = snapshot.version + 1
    candidate.updated_ts = candidate.ts = snapshot.ts
    candidate.marks = {**snapshot.marks, "1": snapshot.ts}
    return candidate


def message_ids(raw: bytes) -> bytes:
    """The ids a message carries (event, markets, outcomes) as one JSON array."""
    message = orjson.loads(raw)
    ids = [message["event_id"]]
    for market in message.get("markets", ()):
        ids.append(market["id"])
        ids.extend(outcome["id"] for outcome in market["outcomes"])
    return orjson.dumps(ids)


def measure(run: Run, repeat: int) -> dict[str, Row]:
    """Every comparison, on the values of the measured part of the run."""
    market_structs = [msgspec.convert(s, MarketSnapshot) for s in run.markets]
    event_structs = [msgspec.convert(s, EventSnapshot) for s in run.events]
    market_raw = [orjson.dumps(s) for s in run.markets]
    event_raw = [orjson.dumps(s) for s in run.events]
    ids = [message_ids(raw) for raw in run.values]
    untyped = msgspec.json.Decoder()
    plain_ids = msgspec.json.Decoder(list[str])
    pattern_ids = msgspec.json.Decoder(list[PatternId])
    gc.collect()
    gc.freeze()
    dumps = ("orjson.dumps(dict)", orjson.dumps)
    native = ("encode(Struct) built natively", ENCODER.encode)
    return {
        "decode": compare("a. feed record: decode + validate", ("models.feed.decode", decode),
                          ("Decoder(FeedMessage)", decode_typed), run.values, repeat),
        "parse": compare("a. feed record: parse only (reference)",
                         ("orjson.loads", orjson.loads), ("msgspec untyped", untyped.decode),
                         run.values, repeat),
        "to_dicts": compare("a. feed record: decode to dicts", ("models.feed.decode", decode),
                            ("Decoder(FeedMessage) + to_builtins", _to_builtins), run.values,
                            repeat),
        "ids": compare("a. the message's ids (reference)", ("Decoder(list[str])",
                                                            plain_ids.decode),
                       ("Decoder(list[id with Meta(pattern)])", pattern_ids.decode), ids,
                       repeat),
        "market_encode": compare("b. market value: encode", dumps, native, run.markets,
                                 repeat, market_structs),
        "market_convert": compare("b. market value: encode", dumps,
                                  ("convert(dict -> Struct) + encode", _convert_market),
                                  run.markets, repeat),
        "market_dict": compare("b. market value: encode", dumps,
                               ("msgspec encode(dict)", ENCODER.encode), run.markets, repeat),
        "event_encode": compare("b. event value: encode", dumps, native, run.events, repeat,
                                event_structs),
        "event_convert": compare("b. event value: encode", dumps,
                                 ("convert(dict -> Struct) + encode", _convert_event),
                                 run.events, repeat),
        "market_decode": compare("c. market value: decode", ("orjson.loads", orjson.loads),
                                 ("Decoder(MarketSnapshot)", MARKET_DECODER.decode),
                                 market_raw, repeat),
        "event_decode": compare("c. event value: decode", ("orjson.loads", orjson.loads),
                                ("Decoder(EventSnapshot)", EVENT_DECODER.decode), event_raw,
                                repeat),
        "build": compare("e. build a market as odds_change does", ("dicts", build_dict),
                         ("Structs", build_struct), run.markets, repeat, market_structs),
    }


def memory_per_value(raw: Sequence[bytes], load: Callable[[bytes], object]) -> float:
    """Bytes allocated per decoded value kept alive (what the decoded-values cache holds)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [load(r) for r in raw]
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del kept
    return size / len(raw)


def decode_share(messages: int) -> float:
    """cProfile: the share of the planner's time spent in ``models.feed.decode``, over
    ``messages`` messages planned after as many warm ones (``bench.planning.run``)."""
    profiler = cProfile.Profile()
    planning.run(2 * messages, messages, profiler)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())
    inside = sum(entry[3] for (path, _, name), entry in stats.items()
                 if name == "decode" and path.endswith("models/feed.py"))
    return float(inside / total)


# -- the report -----------------------------------------------------------------------------


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(run: Run, rows: dict[str, Row], checks: Checks, memory: dict[str, float],
           share: float | None, messages: int, miss_rate: float) -> str:
    """The results as Markdown: the checks, the table, and the saving per feed message."""
    n = len(run.values)
    out = [f"msgspec {msgspec.__version__}, orjson {orjson.__version__}; {n:,} measured "
           f"messages after {messages - n:,}; {len(run.markets):,} market and "
           f"{len(run.events):,} event values written.",
           "",
           f"Checks: {checks.workload:,} workload messages and {checks.valid_types} valid "
           f"messages of other types decoded alike; {checks.invalid} invalid messages refused "
           f"by both; {checks.mutations:,} mutated messages ({checks.mutations_refused:,} "
           f"refused) with the same verdicts but {checks.mutations_integral_float} known "
           "differences (an integral float for an integer); snapshot bytes equal for "
           f"{checks.market_bytes_equal:,} markets and {checks.event_bytes_equal:,} events. "
           f"Failures: {len(checks.failures)}.",
           *[f"- known difference: {d}" for d in checks.known_differences],
           *[f"- FAILURE: {f}" for f in checks.failures[:20]],
           "",
           table(["what", "today", "msgspec", "values", "us per value (today / msgspec)",
                  "us per message (today / msgspec)", "ratio"],
                 [row.cells(n) for row in rows.values()]),
           "",
           f"Planner (as bench.planning, same run): {run.plan_us:.1f} us per message planning, "
           f"{run.encode_us:.1f} us encoding its table values; stored values read per message: "
           f"{run.market_reads:.2f} markets, {run.event_reads:.2f} events.",
           "Decoded value kept in memory: " + ", ".join(
               f"{name} {size:,.0f} B" for name, size in memory.items()) + "."]
    if share is not None:
        out.append(f"cProfile: models.feed.decode is {share:.1%} of the planner's time.")
    per_message = {name: row.saved_per_value() * row.values / n for name, row in rows.items()}
    saved = {
        "feed decode": per_message["decode"],
        "market and event encode (native Structs)": (per_message["market_encode"]
                                                     + per_message["event_encode"]),
        # Events always hit their cache on this workload (2,000 events, 4,096 entries).
        f"market reads at a {miss_rate:.0%} cache miss rate": (
            miss_rate * run.market_reads * rows["market_decode"].saved_per_value()),
    }
    total = sum(saved.values())
    out += ["", "Saving per feed message at best (us): " + ", ".join(
        f"{name} {us:.1f}" for name, us in saved.items())
        + f"; total {total:.1f}, {total / 420:.1%}-{total / 330:.1%} of the worker's "
        "330-420 us of CPU per message.",
        f"With the event values left as dicts: {total - per_message['event_encode']:.1f} us, "
        f"{(total - per_message['event_encode']) / 420:.1%}-"
        f"{(total - per_message['event_encode']) / 330:.1%}.",
        "Building the market snapshots as Structs instead (full migration, the mimic of "
        f"row e) would save {per_message['build']:.1f} us per message more."]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--measure", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mutations", type=int, default=5000,
                        help="mutated workload messages whose verdicts are compared")
    parser.add_argument("--miss-rate", type=float, default=0.18,
                        help="decoded-cache misses per market read (docs/performance.md: the "
                             "65,536-entry markets cache answers ~82%% of reads)")
    parser.add_argument("--profile", type=int, default=0, metavar="MESSAGES",
                        help="also profile the planner over this many messages (cProfile)")
    args = parser.parse_args()
    thresholds = gc.get_threshold()
    gc.set_threshold(*planning.GC_THRESHOLDS)
    try:
        run = plan_workload(args.messages, args.measure)
        checks = Checks()
        check_feed(run.values, checks, args.mutations)
        check_snapshots(run.markets, run.events, checks)
        rows = measure(run, args.repeat)
        sample = [orjson.dumps(s) for s in run.markets[:2000]]
        memory = {"market as dicts": memory_per_value(sample, orjson.loads),
                  "market as Structs": memory_per_value(sample, MARKET_DECODER.decode)}
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    share = decode_share(args.profile) if args.profile else None
    print(report(run, rows, checks, memory, share, args.messages, args.miss_rate))
    if checks.failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
