"""Apply a batch of feed records in order and coalesce what changed (pure; no I/O)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from models import digests as digest_rules
from models import event as event_rules
from models import market as market_rules
from models import producer as producer_rules
from models.catalog import Catalog
from models.feed import INTERNAL_TYPES, PRODUCER_TYPES, FeedError, decode
from models.keys import market_key, partition_for, partition_producer_key, producer_key
from models.market import Applied, MarketNames, Snapshot

Source = TypeVar("Source")
ReaderSource = TypeVar("ReaderSource", contravariant=True)


class StateReader(Protocol[ReaderSource]):
    """Where the planner reads stored state; ``source`` names the record's partition."""

    def market(self, source: ReaderSource, key: str) -> Snapshot | None: ...

    def event(self, source: ReaderSource, event_id: str) -> Snapshot | None: ...

    def producer(self, source: ReaderSource, key: str) -> Snapshot | None: ...

    def digests(self, source: ReaderSource, key: str) -> Snapshot | None: ...

    def partition(self, source: ReaderSource) -> int: ...

    def partition_markets(self, source: ReaderSource) -> Iterable[tuple[str, Snapshot]]: ...


@dataclass(frozen=True, slots=True)
class Rules:
    """What the planner's rules depend on besides the feed and the stored state.

    ``boot`` names this worker's start: a producer's first ``alive`` after it asks for a
    recovery. ``catalog``: market descriptions (names, market groups). ``partitions``: the
    partition count of ``feed.v1``, to check that each record is in its key's partition (None:
    not checked). ``max_future_ms``: how far ahead of the clock a record's ``ts`` may be (None:
    not checked).
    """

    silence_timeout_ms: int = 20_000
    recovery_retry_ms: int = 60_000
    boot: str | None = None
    catalog: Catalog = field(default_factory=Catalog)
    partitions: int | None = None
    max_future_ms: int | None = None


@dataclass(slots=True)
class Pending(Generic[Source]):
    """The latest state of one key after a batch, its record's source, and whether to publish."""

    source: Source
    state: Snapshot
    publish: bool


@dataclass(slots=True)
class Record(Generic[Source]):
    """An outbound record: key and value, and the feed record that caused it."""

    source: Source
    key: str
    value: dict[str, Any]


@dataclass(slots=True)
class BatchPlan(Generic[Source]):
    """Everything a batch changed, coalesced per key, and what it must publish."""

    markets: dict[str, Pending[Source]] = field(default_factory=dict)
    events: dict[str, Pending[Source]] = field(default_factory=dict)
    producers: dict[str, Pending[Source]] = field(default_factory=dict)
    #: Scope (event id or producer key) -> ``{"recent": digests}`` (``models.digests``).
    digests: dict[str, Pending[Source]] = field(default_factory=dict)
    odds_changes: list[Record[Source]] = field(default_factory=list)
    settlements: list[Record[Source]] = field(default_factory=list)
    recovery_requests: list[Record[Source]] = field(default_factory=list)
    producer_status: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[tuple[Source, str]] = field(default_factory=list)
    verdicts: Counter[str] = field(default_factory=Counter)
    messages: Counter[tuple[str, int]] = field(default_factory=Counter)
    #: Bet-stop group names that no description or group map knows (they stop nothing).
    unknown_groups: Counter[str] = field(default_factory=Counter)
    #: Market ids published without a description (no names).
    unnamed: set[str] = field(default_factory=set)

    def table_writes(self) -> tuple[tuple[str, dict[str, Pending[Source]]], ...]:
        """Each table's changed keys, by table name (digests are the reader's business:
        the worker keeps them in memory)."""
        return (("markets", self.markets), ("events", self.events),
                ("producers", self.producers))


SETTLEMENT_TYPES = frozenset({"bet_settlement", "rollback_bet_settlement", "bet_cancel",
                              "rollback_bet_cancel"})


class Planner(Generic[Source]):
    """Applies records one by one on top of stored state plus this batch's pending state."""

    def __init__(self, reader: StateReader[Source], now_ms: Callable[[], int],
                 rules: Rules) -> None:
        self.reader = reader
        self.now_ms = now_ms
        self.rules = rules
        # One clock reading per batch: a batch spans milliseconds, the bound minutes.
        self.latest_ts = None if rules.max_future_ms is None else now_ms() + rules.max_future_ms
        self.plan: BatchPlan[Source] = BatchPlan()
        self._stored_producers: dict[str, Snapshot | None] = {}
        self.digest = ""

    # -- reading through the batch ---------------------------------------------------------

    def _market(self, source: Source, key: str) -> Snapshot | None:
        pending = self.plan.markets.get(key)
        if pending is not None:
            return pending.state
        stored = self.reader.market(source, key)
        return None if stored is None else market_rules.upgrade(stored)

    def _names(self, event: Snapshot, market_id: str, specifiers: str) -> MarketNames | None:
        home, away = event_rules.competitors(event)
        names = self.rules.catalog.names(market_id, specifiers, home, away)
        if names is None:
            self.plan.unnamed.add(market_id)
        return names

    def _event(self, source: Source, event_id: str) -> Snapshot:
        pending = self.plan.events.get(event_id)
        if pending is not None:
            return pending.state
        stored = self.reader.event(source, event_id)
        return event_rules.new_event(event_id) if stored is None else event_rules.upgrade(stored)

    def _producer(self, source: Source, key: str) -> Snapshot | None:
        pending = self.plan.producers.get(key)
        if pending is not None:
            return pending.state
        # Read once per batch: every odds_change asks for its producer's partition view.
        if key not in self._stored_producers:
            self._stored_producers[key] = self.reader.producer(source, key)
        return self._stored_producers[key]

    def _producer_down(self, source: Source, producer: int) -> bool:
        key = partition_producer_key(producer, self.reader.partition(source))
        state = self._producer(source, key)
        return bool(state and state["down"])

    # -- writing into the batch ------------------------------------------------------------

    def _put_event(self, source: Source, state: Snapshot, changed: bool) -> None:
        event_id = state["event_id"]
        held = self.plan.events.get(event_id)
        publish = changed or (held is not None and held.publish)
        self.plan.events[event_id] = Pending(source, self._shed_legacy(source, event_id, state),
                                             publish)

    def _apply_market(self, source: Source, key: str, message: dict[str, Any],
                      applied: Applied) -> None:
        self.plan.verdicts[applied.verdict.value] += 1
        snapshot = applied.snapshot
        if snapshot is None:
            return
        held = self.plan.markets.get(key)
        publish = applied.published or (held is not None and held.publish)
        self.plan.markets[key] = Pending(source, snapshot, publish)
        if not applied.published:
            return
        event_id, market_id, specifiers = (snapshot["event_id"], snapshot["market_id"],
                                           snapshot["specifiers"])
        producer, version, ts = snapshot["producer"], snapshot["version"], message["ts"]
        if applied.changes:
            # One record per published version, its changes in the order the rule found them
            # (a version that changed no price or status, e.g. only results, has none).
            self.plan.odds_changes.append(Record(source, key, {
                "event_id": event_id, "market_id": market_id, "specifiers": specifiers,
                "producer": producer, "version": version, "ts": ts,
                "changes": [{"kind": kind, "outcome_id": outcome_id, "old": old, "new": new}
                            for kind, outcome_id, old, new in applied.changes]}))
        if message["type"] in SETTLEMENT_TYPES:
            base = {"event_id": event_id, "market_id": market_id, "specifiers": specifiers,
                    "producer": producer, "version": version, "ts": ts}
            self.plan.settlements.append(Record(source, key, _settlement_record(
                message, snapshot, base)))
        event = self._event(source, snapshot["event_id"])
        tracked, changed = event_rules.track_market(event, key, snapshot["status"],
                                                    snapshot["updated_ts"])
        if changed:
            self._put_event(source, tracked, True)

    # -- the batch -------------------------------------------------------------------------

    def apply(self, source: Source, key: bytes | None, value: bytes | None) -> None:
        """Apply one feed record; a bad one becomes a dead letter and changes nothing."""
        try:
            message = decode(value)
            self._check_placement(source, message, _check_key(message, key))
        except FeedError as exc:
            self.plan.dead_letters.append((source, exc.reason))
            self.plan.verdicts["dead_lettered"] += 1
            return
        self.plan.messages[(message["type"], message["producer"])] += 1
        # Identifies an exact repeat of a message applied before at the same ts.
        self.digest = digest_rules.digest(value or b"")
        if message["type"] in INTERNAL_TYPES:
            HANDLERS[message["type"]](self, source, message)
            return
        # Exact repeats are remembered per event (per producer for producer messages): a
        # repeat must change nothing, even in markets created after the original was applied.
        of_producer = message["type"] in PRODUCER_TYPES
        scope = (producer_key(message["producer"]) if of_producer
                 else message["event_id"])
        recent = self._recent(source, scope, of_producer)
        if digest_rules.seen(recent, self.digest):
            self.plan.verdicts[market_rules.Verdict.DUPLICATE.value] += 1
            return
        HANDLERS[message["type"]](self, source, message)
        self.plan.digests[scope] = Pending(
            source, {"recent": digest_rules.remember(recent, self.digest)}, False)

    def _check_placement(self, source: Source, message: dict[str, Any], key: bytes) -> None:
        """A record must be in its key's partition (per-event order rests on it) and not
        stamped in the future (it would make every later message of its market stale)."""
        if self.latest_ts is not None and message["ts"] > self.latest_ts:
            # The reason names the bound, not the distance: a redelivery gives the same one.
            raise FeedError(f"ts {message['ts']} is more than MAX_FUTURE_SKEW "
                            f"({(self.rules.max_future_ms or 0) / 1000:g} s) ahead of the "
                            "worker's clock")
        partitions = self.rules.partitions
        if partitions is None or message["type"] in FANNED_OUT_TYPES:
            return
        partition = self.reader.partition(source)
        expected = partition_for(key, partitions)
        if partition != expected:
            raise FeedError(f"record in partition {partition}, but its key "
                            f"{key.decode('utf-8', 'replace')[:100]!r} belongs to {expected}")

    def _recent(self, source: Source, scope: str, of_producer: bool) -> str:
        if scope in self.plan.digests:
            return self._held_recent(source, scope)
        recent = self._held_recent(source, scope)
        held = self._producer(source, scope) if of_producer else self._event(source, scope)
        return digest_rules.merge(recent, held["recent"]) if held and held.get("recent") else recent

    def _held_recent(self, source: Source, scope: str) -> str:
        """The scope's digests in this batch, else the reader's."""
        pending = self.plan.digests.get(scope)
        stored = pending.state if pending is not None else self.reader.digests(source, scope)
        return digest_rules.EMPTY if stored is None else str(stored["recent"])

    def _shed_legacy(self, source: Source, scope: str, state: Snapshot) -> Snapshot:
        """Move digests an older release kept in ``state`` to the reader's digests."""
        if not state.get("recent"):
            return state
        recent = digest_rules.merge(self._held_recent(source, scope), state["recent"])
        self.plan.digests[scope] = Pending(source, {"recent": recent}, False)
        return {**state, "recent": []}

    def _odds_change(self, source: Source, message: dict[str, Any]) -> None:
        event_id, ts, producer = message["event_id"], message["ts"], message["producer"]
        down = self._producer_down(source, producer)
        event = self._event(source, event_id)
        for feed_market in message["markets"]:
            market_id, specifiers = feed_market["id"], feed_market["specifiers"]
            key = market_key(event_id, market_id, specifiers)
            applied = market_rules.apply_odds_change(
                self._market(source, key), event_id, producer, ts, feed_market, down,
                self._names(event, market_id, specifiers))
            self._apply_market(source, key, message, applied)
        if event_rules.says_something(event, message):
            event = self._event(source, event_id)  # the markets may have recounted it
            if self._admitted(event, ts):
                self._put_event(source, *event_rules.apply_odds_status(event, message))

    def _admitted(self, state: Snapshot, ts: int) -> bool:
        if event_rules.is_stale(state, ts):
            self.plan.verdicts[market_rules.Verdict.STALE.value] += 1
            return False
        return True

    def _stopped_markets(self, groups: str | list[str]) -> frozenset[str] | None:
        """The market ids a bet stop's groups name (None: every market)."""
        if groups == "all":
            return None
        wanted: set[str] = set()
        for group in groups:
            if group == "all":
                return None
            if group.isdigit():
                wanted.add(group)
                continue
            members = self.rules.catalog.group_members(group)
            if members is None:
                self.plan.unknown_groups[group] += 1
            else:
                wanted |= members
        return frozenset(wanted)

    def _bet_stop(self, source: Source, message: dict[str, Any]) -> None:
        event = self._event(source, message["event_id"])
        wanted = self._stopped_markets(message["groups"])
        status = message.get("market_status", market_rules.MarketStatus.SUSPENDED.value)
        for key in event["market_status"]:
            current = self._market(source, key)
            if current is None or (wanted is not None and current["market_id"] not in wanted):
                continue
            self._apply_market(source, key, message, market_rules.apply_bet_stop(
                current, message["producer"], message["ts"], status))

    def _each_market(self, source: Source, message: dict[str, Any],
                     rule: Callable[[Snapshot | None, dict[str, Any]], Applied]) -> None:
        for feed_market in message["markets"]:
            key = market_key(message["event_id"], feed_market["id"], feed_market["specifiers"])
            self._apply_market(source, key, message, rule(self._market(source, key),
                                                          feed_market))

    def _new_names(self, source: Source, message: dict[str, Any],
                   current: Snapshot | None, feed_market: dict[str, Any]) -> MarketNames | None:
        """Names for a market a settlement or cancel creates (None when it exists)."""
        if current is not None:
            return None
        event = self._event(source, message["event_id"])
        return self._names(event, feed_market["id"], feed_market["specifiers"])

    def _settlement(self, source: Source, message: dict[str, Any]) -> None:
        self._each_market(source, message, lambda current, fm: market_rules.apply_settlement(
            current, message["event_id"], message["producer"], message["ts"], fm,
            message["certainty"], self._new_names(source, message, current, fm)))

    def _rollback_settlement(self, source: Source, message: dict[str, Any]) -> None:
        self._each_market(source, message,
                          lambda current, _fm: market_rules.apply_rollback_settlement(
                              current, message["producer"], message["ts"]))

    def _cancel(self, source: Source, message: dict[str, Any]) -> None:
        window = {k: message.get(k) for k in ("start_time", "end_time", "superceded_by")}
        self._each_market(source, message, lambda current, fm: market_rules.apply_cancel(
            current, message["event_id"], message["producer"], message["ts"], fm, window,
            self._new_names(source, message, current, fm)))

    def _rollback_cancel(self, source: Source, message: dict[str, Any]) -> None:
        window = {k: message.get(k) for k in ("start_time", "end_time")}
        self._each_market(source, message, lambda current, _fm: market_rules.apply_rollback_cancel(
            current, message["producer"], message["ts"], window))

    def _fixture_change(self, source: Source, message: dict[str, Any]) -> None:
        event = self._event(source, message["event_id"])
        if event_rules.is_stale_fixture(event, message["ts"]):
            self.plan.verdicts[market_rules.Verdict.STALE.value] += 1
            return
        renamed, changed = event_rules.apply_fixture_change(event, message)
        self._put_event(source, renamed, changed)
        if event_rules.competitors(renamed) == event_rules.competitors(event):
            return
        # Outcome names such as "{$competitor1}" follow the fixture's competitors.
        for key in renamed["market_status"]:
            current = self._market(source, key)
            if current is not None:
                self._apply_market(source, key, message, market_rules.apply_names(
                    current, self._names(renamed, current["market_id"],
                                         current["specifiers"])))

    # -- producer health -------------------------------------------------------------------

    def _home(self, source: Source, producer: int) -> Snapshot:
        return (self._producer(source, producer_key(producer))
                or producer_rules.new_producer(producer))

    def _health(self, source: Source, health: producer_rules.Health, stamp: dict[str, Any]) -> None:
        key = producer_key(health.state["producer"])
        state = self._shed_legacy(source, key, {**health.state, **stamp})
        self.plan.producers[key] = Pending(source, state, False)
        if health.recovery_request is not None:
            self.plan.recovery_requests.append(Record(
                source, str(state["producer"]), health.recovery_request))
        if health.went_down or health.came_up:
            status = {"type": "producer_status", "producer": state["producer"],
                      "ts": self.now_ms(), "down": health.went_down,
                      "generation": state["generation"], "reason": state["reason"] or "recovered"}
            if health.request_ts is not None:
                status["request_ts"] = health.request_ts
            self.plan.producer_status.append(status)

    def _alive(self, source: Source, message: dict[str, Any]) -> None:
        home = self._home(source, message["producer"])
        if self._admitted(home, message["ts"]):
            self._health(source, producer_rules.on_alive(home, message["ts"], message["subscribed"],
                                             self.now_ms(), self.rules.boot),
                         {"ts": message["ts"]})

    def _snapshot_complete(self, source: Source, message: dict[str, Any]) -> None:
        home = self._home(source, message["producer"])
        if self._admitted(home, message["ts"]):
            self._health(source, producer_rules.on_snapshot_complete(home, message["request_id"]),
                         {"ts": message["ts"]})

    def _producer_silent(self, source: Source, message: dict[str, Any]) -> None:
        # Internal, wall-clock stamped: its own mark, so feed clocks never make it stale.
        home = self._home(source, message["producer"])
        if message["ts"] <= home["silence_ts"]:
            self.plan.verdicts[market_rules.Verdict.STALE.value] += 1
            return
        self._health(source, producer_rules.on_silence(home, self.now_ms(),
                                                       self.rules.silence_timeout_ms),
                     {"silence_ts": message["ts"]})

    def _recovery_retry(self, source: Source, message: dict[str, Any]) -> None:
        # Internal and idempotent: a retry that is no longer due changes nothing.
        home = self._home(source, message["producer"])
        self._health(source, producer_rules.on_retry(home, self.now_ms(),
                                                     self.rules.recovery_retry_ms), {})

    def _producer_status(self, source: Source, message: dict[str, Any]) -> None:
        producer, down = message["producer"], message["down"]
        key = partition_producer_key(producer, self.reader.partition(source))
        current = self._producer(source, key)
        # Ordered by the home's transition count, not by clocks that may step back.
        if current is not None and message["generation"] <= current["generation"]:
            self.plan.verdicts[market_rules.Verdict.DUPLICATE.value] += 1
            return
        view = {"producer": producer, "down": down, "generation": message["generation"]}
        self.plan.producers[key] = Pending(source, view, False)
        fresh_since = message.get("request_ts")
        for market_key_, snapshot in self._partition_markets(source):
            if snapshot["producer"] == producer:
                self._apply_market(source, market_key_, message,
                                   market_rules.apply_producer_health(snapshot, down, fresh_since))

    def _partition_markets(self, source: Source) -> list[tuple[str, Snapshot]]:
        partition = self.reader.partition(source)
        found = {}
        for key, snapshot in self.reader.partition_markets(source):
            found[key] = market_rules.upgrade(snapshot)
        for key, pending in self.plan.markets.items():
            if self.reader.partition(pending.source) == partition:
                found[key] = pending.state
        return sorted(found.items())


#: Message type -> the planner's rule. Plain functions, not bound methods kept on the planner:
#: those would make a reference cycle that keeps every batch's state alive until the garbage
#: collector runs, and those collections are long pauses (docs/decisions/0012).
HANDLERS: dict[str, Callable[[Planner[Any], Any, dict[str, Any]], None]] = {
    "odds_change": Planner._odds_change,
    "bet_stop": Planner._bet_stop,
    "bet_settlement": Planner._settlement,
    "rollback_bet_settlement": Planner._rollback_settlement,
    "bet_cancel": Planner._cancel,
    "rollback_bet_cancel": Planner._rollback_cancel,
    "fixture_change": Planner._fixture_change,
    "alive": Planner._alive,
    "snapshot_complete": Planner._snapshot_complete,
    "producer_silent": Planner._producer_silent,
    "producer_status": Planner._producer_status,
    "recovery_retry": Planner._recovery_retry,
}


#: Written by the platform to every partition (each applies it to its own markets).
FANNED_OUT_TYPES = frozenset({"producer_status"})


def _check_key(message: dict[str, Any], key: bytes | None) -> bytes:
    """Return the record's key if it is the message's own."""
    if key is None:
        raise FeedError("record has no key: the key (event id, or producer:{id}) decides "
                        "its partition")
    text = key.decode("utf-8", "replace")
    if message["type"] in PRODUCER_TYPES:
        expected = producer_key(message["producer"])
        if text != expected:
            raise FeedError(f"record key {text!r} of a producer message must be {expected!r}")
    elif text != message["event_id"]:
        raise FeedError(f"record key {text!r} does not match event_id {message['event_id']!r}")
    return key


def _settlement_record(message: dict[str, Any], snapshot: Snapshot,
                       base: dict[str, Any]) -> dict[str, Any]:
    outcomes = [{"id": o["id"], **market_rules.result_fields(o)} for o in snapshot["outcomes"]]
    return {**base, "type": message["type"], "status": snapshot["status"],
            "settlement": snapshot["settlement"], "cancels": snapshot["cancels"],
            "outcomes": outcomes}


DEFAULT_RULES = Rules()


def plan_batch(
    records: Iterable[tuple[Source, bytes | None, bytes | None]],
    reader: StateReader[Source],
    now_ms: Callable[[], int],
    rules: Rules = DEFAULT_RULES,
) -> BatchPlan[Source]:
    """Apply ``(source, key, value)`` records in order on top of ``reader``'s state."""
    planner = Planner(reader, now_ms, rules)
    for source, key, value in records:
        planner.apply(source, key, value)
    return planner.plan


__all__ = ["BatchPlan", "FeedError", "Pending", "Planner", "Record", "Rules", "StateReader",
           "plan_batch"]
