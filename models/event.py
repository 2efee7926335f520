"""Event state: fixture data, live status and score, and each event's markets (pure rules)."""

from __future__ import annotations

from typing import Any

from models.market import Snapshot, UnmigratedState

FIXTURE_FIELDS = ("start_time", "sport", "competition", "home", "away")
#: What the event keeps of an ``odds_change`` besides its live status (absent: none).
BETTING_FIELDS = ("betting_status", "betstop_reason")
# ``recent``: empty; releases before ``models.digests`` kept the event's digests there.
_BOOKKEEPING = frozenset({"version", "updated_ts", "ts", "fixture_ts", "recent",
                          "market_status"})
#: What a message may move without a new version: a record of the same version as the last
#: differs from it in these alone.
UNVERSIONED_EVENT = frozenset({"ts", "fixture_ts"})


def new_event(event_id: str) -> Snapshot:
    """Return the state of an event before any message about it.

    ``recent`` stays, empty, so that the previous release can read the value (a rollback);
    the digests themselves are in their own table (``models.digests``).
    """
    return {"event_id": event_id, "fixture": {}, "sport_event_status": None,
            "betting_status": None, "betstop_reason": None,
            "market_status": {}, "market_counts": {}, "version": 0,
            "updated_ts": 0, "ts": 0, "fixture_ts": 0, "recent": []}


def upgrade(stored: Snapshot) -> Snapshot:
    """Return a stored event, or refuse the public record of an earlier release (it lacks the
    event's markets, without which a bet stop would stop nothing)."""
    if "market_status" not in stored:
        raise UnmigratedState(
            f"event {stored.get('event_id')} has no market list: events.v1 holds records of an "
            "earlier release; stop the workers and run `faust -A app migrate-tables` "
            "(docs/operations.md)")
    return stored


def _changed(old: Snapshot, new: Snapshot) -> bool:
    return any(old.get(k) != new.get(k) for k in new if k not in _BOOKKEEPING)


def _finish(current: Snapshot, candidate: Snapshot, ts: int) -> tuple[Snapshot, bool]:
    if not _changed(current, candidate):
        return candidate, False
    candidate["version"] = current["version"] + 1
    candidate["updated_ts"] = max(ts, current["updated_ts"])
    return candidate, True


def apply_fixture_change(
    current: Snapshot, message: dict[str, Any]
) -> tuple[Snapshot, bool]:
    """Merge fixture data from a ``fixture_change``."""
    fixture = dict(current["fixture"])
    fixture["change_type"] = message.get("change_type")
    for name in FIXTURE_FIELDS:
        if name in message:
            fixture[name] = message[name]
    ts = message["ts"]
    return _finish(current, {**current, "fixture": fixture,
                             "fixture_ts": max(ts, current.get("fixture_ts", 0))}, ts)


def apply_odds_status(current: Snapshot, message: dict[str, Any]) -> tuple[Snapshot, bool]:
    """Keep what an ``odds_change`` says of the event: its live status and score (when
    sent) and its betting status and bet-stop reason (absent: none)."""
    candidate = {**current, "ts": max(message["ts"], current["ts"])}
    status = message.get("sport_event_status")
    if status is not None:
        candidate["sport_event_status"] = dict(status)
    for name in BETTING_FIELDS:
        candidate[name] = message.get(name)
    return _finish(current, candidate, message["ts"])


def says_something(current: Snapshot, message: dict[str, Any]) -> bool:
    """Return whether an ``odds_change`` carries event data worth applying."""
    return ("sport_event_status" in message
            or any(current.get(name) != message.get(name) for name in BETTING_FIELDS))


def track_market(
    current: Snapshot, key: str, status: str, ts: int
) -> tuple[Snapshot, bool]:
    """Record a market's status so the event can count its markets by status."""
    held = current["market_status"]
    old = held.get(key)
    if old == status:
        return current, False
    if old is None:
        market_status = dict(sorted({**held, key: status}.items()))
    else:
        market_status = {**held, key: status}
    counts = dict(current["market_counts"])
    if old is not None:
        counts[old] -= 1
        if not counts[old]:
            del counts[old]
    counts[status] = counts.get(status, 0) + 1
    # A status moved: the event visibly changed (its counts), no need to compare fields.
    return {**current, "market_status": market_status,
            "market_counts": dict(sorted(counts.items())),
            "version": current["version"] + 1,
            "updated_ts": max(ts, current["updated_ts"])}, True


def is_stale(current: Snapshot, ts: int) -> bool:
    """Return whether an ``odds_change``'s event data is older than the last applied."""
    return bool(ts < current["ts"])


def is_stale_fixture(current: Snapshot, ts: int) -> bool:
    """Return whether a ``fixture_change`` is older than the last one applied (fixtures
    have their own mark: a live status says nothing of the fixture)."""
    return bool(ts < current.get("fixture_ts", 0))


def competitors(current: Snapshot) -> tuple[str | None, str | None]:
    """Return the fixture's home and away names (None: not known yet)."""
    fixture = current["fixture"]
    return fixture.get("home"), fixture.get("away")


def sport_status(state: Snapshot) -> str:
    """Return the event's sport event status (``not_started`` until the feed gives one)."""
    status: str = (state["sport_event_status"] or {}).get("status", "not_started")
    return status


def public_event(state: Snapshot) -> Snapshot:
    """Return the event as published on ``events.v1`` and shown by the API."""
    ses = state["sport_event_status"] or {}
    fixture = state["fixture"]
    return {
        "event_id": state["event_id"],
        "status": sport_status(state),
        "match_status": ses.get("match_status"),
        "score": {"home": ses.get("home_score"), "away": ses.get("away_score")},
        "period_scores": ses.get("period_scores", []),
        "clock": ses.get("clock"),
        "betting_status": state.get("betting_status"),
        "betstop_reason": state.get("betstop_reason"),
        "start_time": fixture.get("start_time"),
        "sport": fixture.get("sport"),
        "competition": fixture.get("competition"),
        "home": fixture.get("home"),
        "away": fixture.get("away"),
        "fixture_change": fixture.get("change_type"),
        "market_counts": state["market_counts"],
        "version": state["version"],
        "updated_ts": state["updated_ts"],
    }


def published_event(state: Snapshot) -> Snapshot:
    """Return the ``events.v1`` record of an event: its public fields, then the state the
    worker restores from them (``fixture``, ``sport_event_status``, ``market_status``,
    its marks)."""
    public = public_event(state)
    # A state read back from the topic holds the public fields of its last record: they are
    # recomputed, never carried over.
    return {**public, **{k: v for k, v in state.items() if k not in public}}
