"""The market state machine: pure rules that turn one message into a new market snapshot."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Any, NamedTuple

from models.odds import american, direction, fractional, implied_probability, margin
from models.producer import PREMATCH_PRODUCERS as PREMATCH

Snapshot = dict[str, Any]


class MarketStatus(StrEnum):
    """Market statuses of the canonical feed (UOF 1, -1, 0, -2, -3, -4)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DEACTIVATED = "deactivated"
    HANDED_OVER = "handed_over"
    SETTLED = "settled"
    CANCELLED = "cancelled"


#: Statuses a market leaves only through a rollback.
TERMINAL = frozenset({MarketStatus.SETTLED, MarketStatus.CANCELLED})
# Plain strings for the hot path (an enum member's ``.value`` is a descriptor call).
ACTIVE, SUSPENDED = MarketStatus.ACTIVE.value, MarketStatus.SUSPENDED.value
DEACTIVATED, HANDED_OVER = MarketStatus.DEACTIVATED.value, MarketStatus.HANDED_OVER.value
SETTLED, CANCELLED = MarketStatus.SETTLED.value, MarketStatus.CANCELLED.value


#: Statuses an ``odds_change`` or ``bet_stop`` may move a market to that stop betting.
SUSPENDING = frozenset({MarketStatus.SUSPENDED, MarketStatus.DEACTIVATED,
                        MarketStatus.HANDED_OVER})


class Verdict(StrEnum):
    """What applying one message did to one market."""

    APPLIED = "applied"
    STALE = "stale"
    DUPLICATE = "duplicate"
    UNCHANGED = "unchanged"
    IGNORED = "ignored"
    #: A prematch producer's message for a market a live producer has taken over.
    SUPERSEDED = "superseded"


class MarketNames(NamedTuple):
    """A market's rendered name and its outcomes' (``models.catalog``)."""

    market: str | None
    outcomes: dict[str, str | None]


#: One published change: ``(kind, outcome_id, old, new)``, kind ``price`` or ``status``
#: (a plain tuple: the hot path makes several per message).
Change = tuple[str, str | None, Any, Any]


class Applied(NamedTuple):
    """The result of a rule: verdict, the snapshot to store (None: nothing) and its changes."""

    # A named tuple, not a frozen dataclass: one is made for every market a message touches,
    # and a named tuple is the cheaper to construct (docs/decisions/0012).
    verdict: Verdict
    snapshot: Snapshot | None = None
    published: bool = False
    changes: tuple[Change, ...] = ()


STALE = Applied(Verdict.STALE)
DUPLICATE = Applied(Verdict.DUPLICATE)
IGNORED = Applied(Verdict.IGNORED)
SUPERSEDED = Applied(Verdict.SUPERSEDED)


def marks_of(current: Snapshot) -> dict[str, int]:
    """Return the market's stale marks: per producer, the newest ``ts`` applied."""
    marks: dict[str, int] | None = current.get("marks")
    if marks is None:  # stored by a release with one mark per market
        return {str(current["producer"]): current["ts"]}
    return marks


def mark_of(current: Snapshot, producer: int) -> int:
    """Return the newest ``ts`` applied to the market from ``producer`` (0: none)."""
    return marks_of(current).get(str(producer), 0)


def is_live(current: Snapshot) -> bool:
    """Return whether a live producer has priced the market (prematch prices give way)."""
    live = current.get("live")
    return bool(live) if live is not None else current["producer"] not in PREMATCH


def admit(current: Snapshot | None, producer: int, ts: int) -> Applied | None:
    """Reject a message older than the last one ``producer`` had applied to this market."""
    if current is not None and ts < mark_of(current, producer):
        return STALE
    return None


# What a change is made of. Every other field is derived or bookkeeping (a unit test
# checks that each snapshot field is in exactly one of these groups).
CONTENT_MARKET = ("event_id", "market_id", "specifiers", "name", "status", "feed_status",
                  "producer", "producer_down", "live", "settlement", "cancels",
                  "pre_settlement", "in_play", "bet_delay", "number_of_winners",
                  "cashout_status")
CONTENT_OUTCOME = ("id", "name", "odds", "active", "probability", "result", "void_factor",
                   "dead_heat_factor", "removal_ts", "reduction_factor", "back", "lay",
                   "last_traded", "traded_volume")
DERIVED_MARKET = frozenset({"version", "updated_ts", "ts", "marks", "margin", "outcomes"})
#: What a message may move without a new version: a record of the same version as the last
#: differs from it in these alone.
UNVERSIONED_MARKET = frozenset({"ts", "marks"})
DERIVED_OUTCOME = frozenset({"implied_probability", "american", "fractional", "direction"})


def is_open_ended(cancel: Snapshot) -> bool:
    """Return whether a cancel voids every bet (no window): it cancels the market."""
    return cancel["start_time"] is None and cancel["end_time"] is None


def effective_status(snapshot: Snapshot) -> str:
    """Return the status a consumer sees: cancel, then settlement, then producer health."""
    cancels = snapshot.get("cancels")
    if cancels and any(is_open_ended(c) for c in cancels):
        return CANCELLED
    if snapshot.get("settlement") is not None:
        return SETTLED
    feed_status: str = snapshot["feed_status"]
    if snapshot.get("producer_down") and feed_status == ACTIVE:
        return SUSPENDED
    return feed_status


def _content(snapshot: Snapshot) -> tuple[Any, ...]:
    get = snapshot.get
    return (tuple([get(k) for k in CONTENT_MARKET]),
            tuple([tuple([o.get(k) for k in CONTENT_OUTCOME]) for o in snapshot["outcomes"]]))


def _same_prices(feed_outcomes: list[dict[str, Any]], held: list[Snapshot]) -> bool | None:
    """Compare plain feed outcomes with the ones held; None when that cannot tell."""
    if len(feed_outcomes) != len(held):
        return None if any(len(new) > 4 for new in feed_outcomes) else False
    same = True
    for new, old in zip(feed_outcomes, held, strict=True):
        if len(new) > 4 or "back" in old:
            return None  # exchange fields: leave it to the full comparison
        odds = new.get("odds")
        if same and (new["id"] != old["id"] or odds != old["odds"]
                     or new.get("probability") != old["probability"]
                     or (bool(new.get("active", True)) and odds is not None) != old["active"]):
            same = False
    return same


@lru_cache(maxsize=16384)
def _derived(odds: float) -> tuple[float, int, str]:
    """Implied probability, American and fractional odds of one price (prices repeat)."""
    return implied_probability(odds), american(odds), fractional(odds)


def _price_fields(outcome: Snapshot, previous_odds: float | None) -> Snapshot:
    """Add the derived price fields to a new outcome dict (in place: no copy per outcome)."""
    odds = outcome.get("odds")
    if odds is None:
        outcome.update(NO_PRICE)
        outcome["odds"] = None
        return outcome
    implied, american_odds, fraction = _derived(odds)
    outcome["implied_probability"] = implied
    outcome["american"] = american_odds
    outcome["fractional"] = fraction
    outcome["direction"] = direction(previous_odds, odds)
    return outcome


def _price_moves(old: Snapshot | None, new: Snapshot) -> list[Change]:
    """The outcomes of ``new`` whose odds differ from ``old``'s, in ``new``'s order."""
    old_odds = {o["id"]: o["odds"] for o in old["outcomes"]} if old is not None else {}
    found: list[Change] = []
    for outcome in new["outcomes"]:
        before = old_odds.get(outcome["id"])
        if before != outcome["odds"]:
            found.append(("price", outcome["id"], before, outcome["odds"]))
    return found


def _changes(old: Snapshot | None, new: Snapshot,
             moves: list[Change] | None) -> tuple[Change, ...]:
    old_status = old["status"] if old is not None else None
    if moves is None:
        moves = _price_moves(old, new)
    if old_status != new["status"]:
        return (("status", None, old_status, new["status"]), *moves)
    return tuple(moves)


def finish(current: Snapshot | None, candidate: Snapshot, producer: int | None, ts: int,
           known_changed: bool = False, moves: list[Change] | None = None) -> Applied:
    """Derive status, margin and version for ``candidate``; decide what it changed.

    ``producer``: whose stale mark ``ts`` moves (None: not a feed message, no mark moves).
    ``moves``: the candidate's price changes, when the rule has found them already.
    """
    candidate["status"] = effective_status(candidate)
    marks = marks_of(current) if current is not None else {}
    if producer is not None and ts > marks.get(key := str(producer), 0):
        marks = {**marks, key: ts}
    newest = ts if current is None else max(ts, current["ts"])
    if current is not None and not known_changed and _content(candidate) == _content(current):
        if marks is current.get("marks"):
            return IGNORED
        # Same content, newer message: keep its marks for stale checks, publish nothing.
        return Applied(Verdict.UNCHANGED, {**current, "ts": newest, "marks": marks})
    winners = candidate.get("number_of_winners") or 1
    prices = [o["odds"] for o in candidate["outcomes"] if o["active"] and o["odds"] is not None]
    total = margin(prices)
    candidate["margin"] = None if total is None else round((total + 1) / winners - 1, 6)
    candidate["version"] = 1 if current is None else current["version"] + 1
    # Never backwards: a message of another producer, or a late suspension, can be older.
    candidate["updated_ts"] = ts if current is None else max(ts, current["updated_ts"])
    candidate["ts"] = newest
    candidate["marks"] = marks
    return Applied(Verdict.APPLIED, candidate, True, _changes(current, candidate, moves))


def new_market(event_id: str, market_id: str, specifiers: str, producer: int,
               names: MarketNames | None = None) -> Snapshot:
    """Return the empty state a market has before its first message."""
    return {
        "event_id": event_id, "market_id": market_id, "specifiers": specifiers,
        "name": names.market if names is not None else None,
        # Not bettable until an odds_change opens it.
        "producer": producer, "feed_status": DEACTIVATED, "status": DEACTIVATED,
        "producer_down": False,
        "live": producer not in PREMATCH, "outcomes": [], "settlement": None, "cancels": [],
        "pre_settlement": None, "ts": 0, "marks": {},
    }


class UnmigratedState(RuntimeError):
    """A table value is the public record of a release before the output topics were the
    tables' changelogs: ``faust -A app migrate-tables`` was not run."""


def upgrade(stored: Snapshot) -> Snapshot:
    """Return a market stored by an earlier release in today's shape (one ``cancel``, no
    names)."""
    if "cancels" in stored and "ts" in stored:
        return stored
    if "ts" not in stored:
        raise UnmigratedState(
            f"market {stored.get('event_id')}/{stored.get('market_id')} has no stale marks: "
            "markets.v1 holds records of an earlier release; stop the workers and run "
            "`faust -A app migrate-tables` (docs/operations.md)")
    market = {k: v for k, v in stored.items() if k != "cancel"}
    market.setdefault("name", None)
    market["outcomes"] = [o if "name" in o else {"id": o["id"], "name": None, **o}
                          for o in stored["outcomes"]]
    market["cancels"] = legacy_cancels(stored.get("cancel"), stored["ts"])
    return market


def legacy_cancels(cancel: Snapshot | None, ts: int) -> list[Snapshot]:
    """Return the ``cancels`` of a market an earlier release gave one ``cancel``."""
    if cancel is None:
        return []
    return [{"start_time": cancel.get("start_time"), "end_time": cancel.get("end_time"),
             "void_reason": cancel.get("void_reason"),
             "superceded_by": cancel.get("superceded_by"), "ts": ts}]


NO_OUTCOME: Snapshot = {}
_MISSING = object()
NO_NAMES = MarketNames(None, {})
NO_PRICE: Snapshot = {"implied_probability": None, "american": None, "fractional": None,
                      "direction": "same"}
OUTCOME_FEED_FIELDS = ("odds", "active", "probability", "back", "lay", "last_traded",
                       "traded_volume")
MARKET_FEED_FIELDS = ("in_play", "bet_delay", "number_of_winners", "cashout_status")
#: Settlement fields an outcome carries only when the feed gave them (exchange removals).
RESULT_EXTRAS = ("removal_ts", "reduction_factor")


def result_fields(source: Snapshot) -> Snapshot:
    """An outcome's settlement fields in ``source``: result and factors, and the exchange's
    removal fields when it has them."""
    fields = {"result": source.get("result"), "void_factor": source.get("void_factor"),
              "dead_heat_factor": source.get("dead_heat_factor")}
    for extra in RESULT_EXTRAS:
        if extra in source:
            fields[extra] = source[extra]
    return fields


def _outcome(feed_outcome: dict[str, Any], held: Snapshot, odds: float | None,
             name: str | None) -> Snapshot:
    """A new outcome from the feed's fields and the results ``held`` (no price fields yet)."""
    outcome: Snapshot = {"id": feed_outcome["id"], "name": name, **result_fields(held)}
    for field in OUTCOME_FEED_FIELDS:
        if field in feed_outcome:
            outcome[field] = feed_outcome[field]
    outcome["odds"] = odds
    outcome["active"] = bool(feed_outcome.get("active", True)) and odds is not None
    outcome.setdefault("probability", None)
    return outcome


def _touch(current: Snapshot, producer: int, ts: int) -> Applied:
    """Nothing a consumer sees changes: move ``producer``'s stale mark to ``ts`` if newer."""
    marks = marks_of(current)
    if ts <= marks.get(str(producer), 0):
        return IGNORED
    return Applied(Verdict.UNCHANGED, {**current, "ts": max(ts, current["ts"]),
                                       "marks": {**marks, str(producer): ts}})


def _suspend(current: Snapshot, producer: int, ts: int, status: str) -> Applied:
    """Apply a suspension to an active market whatever its ``ts``: a late suspension is still
    a reason to stop betting, while its prices are older than those already shown."""
    status = DEACTIVATED if status == DEACTIVATED else SUSPENDED
    if current["feed_status"] != ACTIVE:
        if effective_status(current) == current["status"]:
            # Nothing a consumer sees changes (what ``finish`` would find, without comparing
            # every field: a bet stop covers all of an event's markets, most of them idle).
            return _touch(current, producer, ts)
        return finish(current, {**current}, producer, ts)
    return finish(current, {**current, "feed_status": status}, producer, ts)


def apply_odds_change(
    current: Snapshot | None,
    event_id: str,
    producer: int,
    ts: int,
    feed_market: dict[str, Any],
    producer_down: bool = False,
    names: MarketNames | None = None,
) -> Applied:
    """Apply one market of an ``odds_change``: prices always, status unless terminal.

    A prematch producer's message for a market a live producer has priced is superseded; a
    ``handed_over`` shows as suspended until the taking producer's odds arrive.
    """
    feed_status = feed_market.get("status", ACTIVE)
    changed = False
    if current is not None:
        if producer in PREMATCH and is_live(current):
            return SUPERSEDED
        mark = mark_of(current, producer)
        if ts < mark:
            if feed_status in SUSPENDING:
                return _suspend(current, producer, ts, feed_status)
            return STALE
        given = len(feed_market)
        # {id, specifiers, status, outcomes}, and the cash-out status when it is unchanged.
        if ((given <= 4 or (given == 5 and feed_market.get("cashout_status", _MISSING)
                           == current.get("cashout_status")))
                and "in_play" not in current and feed_status != HANDED_OVER):
            same = _same_prices(feed_market["outcomes"], current["outcomes"])
            if same is not None:
                same = (same and producer == current["producer"]
                        and feed_status == current["feed_status"]
                        and producer_down == current["producer_down"])
                if same:
                    # The common no-op: nothing a consumer sees changed (checked without
                    # copying).
                    return _touch(current, producer, ts)
                changed = True
    if names is None:
        names = NO_NAMES
    base = current or new_market(event_id, feed_market["id"], feed_market["specifiers"],
                                 producer, names)
    previous = {o["id"]: o for o in base["outcomes"]}
    named = names.outcomes
    outcomes = []
    moves: list[Change] = []
    for feed_outcome in feed_market["outcomes"]:
        outcome_id = feed_outcome["id"]
        held = previous.get(outcome_id) or NO_OUTCOME
        odds = feed_outcome.get("odds")
        before = held.get("odds")
        size = len(feed_outcome)
        if (odds is not None and (size == 2 or (size == 3 and "active" in feed_outcome))
                and "removal_ts" not in held and "reduction_factor" not in held):
            # The common shapes, {id, odds} and {id, odds, active}: one literal, its keys in
            # the order the general path below gives them.
            implied, american_odds, fraction = _derived(odds)
            outcomes.append({
                "id": outcome_id, "name": named.get(outcome_id), "result": held.get("result"),
                "void_factor": held.get("void_factor"),
                "dead_heat_factor": held.get("dead_heat_factor"), "odds": odds,
                "active": bool(feed_outcome.get("active", True)),
                "probability": None, "implied_probability": implied, "american": american_odds,
                "fractional": fraction, "direction": direction(before, odds)})
        else:
            outcomes.append(_price_fields(
                _outcome(feed_outcome, held, odds, named.get(outcome_id)), before))
        if before != odds:
            moves.append(("price", outcome_id, before, odds))
    live = base.get("live", False) or producer not in PREMATCH
    if feed_status == HANDED_OVER:
        # Never shown: the market waits, suspended, for the taking producer's odds.
        feed_status, live = SUSPENDED, True
    candidate = {**base, "name": names.market, "producer": producer, "outcomes": outcomes,
                 "feed_status": feed_status, "producer_down": producer_down, "live": live}
    for field in MARKET_FEED_FIELDS:
        if field in feed_market:
            candidate[field] = feed_market[field]
    return finish(current, candidate, producer, ts, known_changed=changed, moves=moves)


def apply_bet_stop(current: Snapshot, producer: int, ts: int, market_status: str) -> Applied:
    """Move an active market to ``market_status`` (suspended unless deactivated), whatever
    the message's ``ts``; other markets stay as they are."""
    if producer in PREMATCH and is_live(current):
        return SUPERSEDED
    return _suspend(current, producer, ts, market_status)


def _settled_outcome(outcome: Snapshot, result: dict[str, Any]) -> Snapshot:
    settled = {k: v for k, v in outcome.items() if k not in RESULT_EXTRAS}
    settled.update(result_fields(result))
    return settled


def apply_settlement(
    current: Snapshot | None,
    event_id: str,
    producer: int,
    ts: int,
    feed_market: dict[str, Any],
    certainty: int,
    names: MarketNames | None = None,
) -> Applied:
    """Settle a market with each outcome's result; certainty 2 supersedes 1.

    A cancelled market keeps its settlement: it shows once the cancel is rolled back.
    """
    if (rejected := admit(current, producer, ts)) is not None:
        return rejected
    names = names or NO_NAMES
    base = current or new_market(event_id, feed_market["id"], feed_market["specifiers"],
                                 producer, names)
    held = base["settlement"]
    if held is not None and certainty < held["certainty"]:
        return IGNORED
    results = {o["id"]: o for o in feed_market["outcomes"]}
    outcomes = []
    for outcome in base["outcomes"]:
        result = results.pop(outcome["id"], None)
        outcomes.append(outcome if result is None else _settled_outcome(outcome, result))
    for outcome_id, result in results.items():
        bare = {"id": outcome_id, "name": names.outcomes.get(outcome_id), "odds": None,
                "active": False, "probability": None}
        outcomes.append(_price_fields(_settled_outcome(bare, result), None))
    settlement = {"certainty": certainty, "void_reason": feed_market.get("void_reason")}
    if "reduction_factor" in feed_market:
        settlement["reduction_factor"] = feed_market["reduction_factor"]
    candidate = {**base, "outcomes": outcomes, "settlement": settlement,
                 "pre_settlement": base["pre_settlement"] if held is not None else {
                     "outcomes": base["outcomes"]}}
    return finish(current, candidate, producer, ts)


def apply_rollback_settlement(current: Snapshot | None, producer: int, ts: int) -> Applied:
    """Restore the market to what it was before its settlement."""
    if (rejected := admit(current, producer, ts)) is not None:
        return rejected
    if current is None or current["settlement"] is None:
        return IGNORED
    restored = current["pre_settlement"]["outcomes"]
    odds_now = {o["id"]: o for o in current["outcomes"]}
    outcomes = []
    for before in restored:
        outcome = {k: v for k, v in odds_now.get(before["id"], before).items()
                   if k not in RESULT_EXTRAS}
        outcome.update(result=before.get("result"), void_factor=before.get("void_factor"),
                       dead_heat_factor=before.get("dead_heat_factor"))
        outcomes.append(outcome)
    candidate = {**current, "outcomes": outcomes, "settlement": None, "pre_settlement": None}
    return finish(current, candidate, producer, ts)


def _same_window(cancel: Snapshot, window: Snapshot) -> bool:
    return bool(cancel["start_time"] == window.get("start_time")
                and cancel["end_time"] == window.get("end_time"))


def apply_cancel(
    current: Snapshot | None,
    event_id: str,
    producer: int,
    ts: int,
    feed_market: dict[str, Any],
    window: dict[str, Any],
    names: MarketNames | None = None,
) -> Applied:
    """Void bets on a market (settled or not): those placed in ``window``, which changes
    nothing else, or, with no window, all of them, which cancels the market."""
    if (rejected := admit(current, producer, ts)) is not None:
        return rejected
    base = current or new_market(event_id, feed_market["id"], feed_market["specifiers"],
                                 producer, names)
    cancel = {"start_time": window.get("start_time"), "end_time": window.get("end_time"),
              "void_reason": feed_market.get("void_reason"),
              "superceded_by": window.get("superceded_by"), "ts": ts}
    held = next((c for c in base["cancels"] if _same_window(c, cancel)), None)
    if held is not None and {**held, "ts": ts} == cancel:
        # A repeat (a provider re-sends a closed market's cancel with every change).
        return finish(current, {**base}, producer, ts)
    # The same window with another reason or successor replaces the entry.
    cancels = [c for c in base["cancels"] if c is not held]
    return finish(current, {**base, "cancels": [*cancels, cancel]}, producer, ts)


def apply_rollback_cancel(current: Snapshot | None, producer: int, ts: int,
                          window: dict[str, Any]) -> Applied:
    """Undo the cancel with the same window (no window: the open-ended one); the market
    shows again what it showed before that cancel."""
    if (rejected := admit(current, producer, ts)) is not None:
        return rejected
    if current is None:
        return IGNORED
    cancels = [c for c in current["cancels"] if not _same_window(c, window)]
    if len(cancels) == len(current["cancels"]):
        return IGNORED
    return finish(current, {**current, "cancels": cancels}, producer, ts)


def apply_names(current: Snapshot, names: MarketNames | None) -> Applied:
    """Rename a market and its outcomes (a fixture's competitors changed)."""
    names = names or NO_NAMES
    outcomes = [{**o, "name": names.outcomes.get(o["id"])} for o in current["outcomes"]]
    # Not a feed message: no stale mark moves.
    return finish(current, {**current, "name": names.market, "outcomes": outcomes}, None,
                  current["ts"])


def apply_producer_health(current: Snapshot, down: bool,
                          fresh_since: int | None = None) -> Applied:
    """Suspend (down) or restore (up) a market because of its producer's health.

    Coming up after a recovery requested at ``fresh_since``, a market re-opens only if its
    producer priced it since; the others stay suspended until their next odds arrive (an
    ``odds_change`` takes the producer's health afresh).
    """
    if bool(current.get("producer_down")) == down:
        return IGNORED
    if (not down and fresh_since is not None
            and mark_of(current, current["producer"]) < fresh_since):
        return IGNORED
    candidate = {**current, "producer_down": down}
    if effective_status(candidate) == current["status"]:
        # A settled or suspended market looks the same: store the flag, publish nothing.
        return Applied(Verdict.UNCHANGED, candidate)
    # Health is not a feed message: it must not move the market's stale marks.
    return finish(current, candidate, None, current["ts"])
