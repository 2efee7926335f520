"""The price history's pure parts: its query parameters, and versions from ``market_history``
rows, folded where the sink never saw a version's state.

A row holds a version's state (status, outcomes with their prices, ``updated_ts``) when the
sink saw its ``markets.v1`` snapshot, and its ``changes`` when it changed a price or the
status. ``markets.v1`` carries one snapshot per market per worker batch (and is compacted), so
a version can have changes and no state. Such a version is folded: the previous state with
its changes applied, or, before any state, the market's first publication (whose changes list
its status and every price) and the changes since. Every price or status change has its row,
so a folded version's prices and status are exact; what changes do not carry (``active``, an
outcome gone) is the previous state's. A version with neither before it shows its changes
alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from web import params

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
#: Milliseconds since the epoch accepted in ``from``, ``to`` and ``ts`` (MySQL's BIGINT
#: holds more; no feed timestamp comes near).
MAX_MS = 2**53
HISTORY_PARAMS = frozenset({"specifiers", "from", "to", "limit", "after"})
AT_PARAMS = frozenset({"specifiers", "ts"})
#: Columns read from ``market_history``, in the order ``Row`` takes them.
COLUMNS = ("version", "producer", "ts", "changes", "status", "outcomes", "updated_ts")

#: How a version's state was found: its own snapshot, folded from an earlier one, or none.
SNAPSHOT = "snapshot"
FOLDED = "folded"
CHANGES = "changes"


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """``GET .../history``: versions with ``updated_ts`` in [``start``, ``end``] and a version
    above ``after``, at most ``limit`` of them."""

    specifiers: str = ""
    start: int = 0
    end: int = MAX_MS
    limit: int = DEFAULT_LIMIT
    after: int = 0


@dataclass(frozen=True, slots=True)
class Row:
    """One ``market_history`` row, its JSON columns as text (decoded when needed)."""

    version: int
    producer: int | None
    ts: int
    changes: str | None
    status: str | None
    outcomes: str | None
    updated_ts: int


def _given(pairs: Iterable[tuple[str, str]], allowed: frozenset[str]) -> dict[str, str]:
    given: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            raise params.BadRequest(f"unknown parameter {name[:40]!r}; allowed: "
                                    f"{', '.join(sorted(allowed))}")
        if name in given:
            raise params.BadRequest(f"parameter {name!r} given more than once")
        given[name] = value
    return given


def _integer(name: str, raw: str, low: int, high: int) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 16 or not low <= int(raw) <= high:
        raise params.BadRequest(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def checked(start: int | None, end: int | None, limit: int | None,
            specifiers: str | None = None, after: int | None = None) -> HistoryQuery:
    """A window given as numbers (GraphQL), checked as the query string is."""
    query = HistoryQuery(params.specifiers(specifiers), 0 if start is None else start,
                         MAX_MS if end is None else end,
                         DEFAULT_LIMIT if limit is None else limit, after or 0)
    for name, value, low, high in (("from", query.start, 0, MAX_MS), ("to", query.end, 0, MAX_MS),
                                   ("limit", query.limit, 1, MAX_LIMIT),
                                   ("after", query.after, 0, MAX_MS)):
        if not low <= value <= high:
            raise params.BadRequest(f"{name} must be an integer from {low} to {high}")
    if query.start > query.end:
        raise params.BadRequest("from must not be after to")
    return query


def history_query(pairs: Iterable[tuple[str, str]]) -> HistoryQuery:
    """Parse the query string of ``GET .../history``; unknown or repeated names are errors."""
    given = _given(pairs, HISTORY_PARAMS)
    return checked(
        _integer("from", given["from"], 0, MAX_MS) if "from" in given else None,
        _integer("to", given["to"], 0, MAX_MS) if "to" in given else None,
        _integer("limit", given["limit"], 1, MAX_LIMIT) if "limit" in given else None,
        given.get("specifiers"),
        _integer("after", given["after"], 0, MAX_MS) if "after" in given else None)


def at_query(pairs: Iterable[tuple[str, str]]) -> tuple[str, int]:
    """Parse the query string of ``GET .../history/at``: the specifiers and ``ts``."""
    given = _given(pairs, AT_PARAMS)
    if "ts" not in given:
        raise params.BadRequest("parameter 'ts' is required (milliseconds since the epoch)")
    return params.specifiers(given.get("specifiers")), _integer("ts", given["ts"], 0, MAX_MS)


def row(values: Sequence[Any]) -> Row:
    """A ``Row`` from the values of ``COLUMNS`` as MySQL returns them."""
    version, producer, ts, changes, status, outcomes, updated_ts = values
    return Row(int(version), producer, int(ts), changes, status, outcomes, int(updated_ts))


def _changes(found: Row) -> list[dict[str, Any]]:
    return [] if found.changes is None else list(orjson.loads(found.changes))


@dataclass(frozen=True, slots=True)
class State:
    """A market's status, prices and ``updated_ts`` as of one version; the outcomes as the
    row's text until they are needed."""

    status: str | None
    outcomes: list[dict[str, Any]] | str
    updated_ts: int


def _outcomes(state: State) -> list[dict[str, Any]]:
    held = state.outcomes
    return list(orjson.loads(held)) if isinstance(held, str) else held


def _applied(state: State, changed: Row) -> State:
    status = state.status
    outcomes = [dict(o) for o in _outcomes(state)]
    by_id = {o["id"]: o for o in outcomes}
    for change in _changes(changed):
        if change.get("kind") == "status":
            status = change.get("new")
        elif change.get("kind") == "price":
            held = by_id.get(change.get("outcome_id"))
            if held is None:  # an outcome first priced in this version
                held = by_id[change["outcome_id"]] = {"id": change["outcome_id"],
                                                      "odds": None, "active": None}
                outcomes.append(held)
            held["odds"] = change.get("new")
    return State(status, outcomes, max(state.updated_ts, changed.updated_ts))


#: Before a market's first publication: no status, no outcomes.
EMPTY = State(None, [], 0)


def _first_publication(found: Row) -> bool:
    return any(c.get("kind") == "status" and c.get("old") is None for c in _changes(found))


def _next(state: State | None, found: Row) -> tuple[State | None, str]:
    """The state after ``found`` and how it was found."""
    if found.outcomes is not None:
        return State(found.status, found.outcomes, found.updated_ts), SNAPSHOT
    if state is None and _first_publication(found):
        state = EMPTY
    if state is not None:
        return _applied(state, found), FOLDED
    return None, CHANGES


def base_state(before: Sequence[Row]) -> State | None:
    """The state in force after ``before`` (rows in version order, from the last one with a
    state or the first publication): None when it cannot be found from them."""
    state: State | None = None
    for found in before:
        state, _source = _next(state, found)
    return state


def _json(text: str | None, raw: bool) -> Any:
    if text is None:
        return None
    return orjson.Fragment(text) if raw else orjson.loads(text)


def versions(rows: Sequence[Row], base: State | None, raw: bool = False
             ) -> list[dict[str, Any]]:
    """The API's version objects for ``rows`` (in version order), each with its state: its
    own, or folded from ``base`` (the state before the first row) and the rows before it.
    ``raw``: JSON read from MySQL stays text (``orjson.Fragment``), for ``orjson.dumps``."""
    shaped = []
    state = base
    for found in rows:
        state, source = _next(state, found)
        if state is None:
            status = next((c.get("new") for c in _changes(found)
                           if c.get("kind") == "status"), None)
            outcomes, updated_ts = None, found.updated_ts
        else:
            status, updated_ts = state.status, state.updated_ts
            held = state.outcomes
            outcomes = _json(held, raw) if isinstance(held, str) else held
        shaped.append({"version": found.version, "status": status, "updated_ts": updated_ts,
                       "producer": found.producer, "ts": found.ts, "source": source,
                       "outcomes": outcomes, "changes": _json(found.changes, raw)})
    return shaped


def needs_base(rows: Sequence[Row]) -> bool:
    """Whether the first row's state depends on the rows before it."""
    return bool(rows) and rows[0].outcomes is None and not _first_publication(rows[0])
