"""The replicated index of public events behind ``GET /events`` (pure; fed from events.v1)."""

from __future__ import annotations

from typing import Any

from models.market import Snapshot
from web.params import LIVE_STATUSES, EventQuery


def _order(event: Snapshot) -> tuple[bool, int, str]:
    start = event.get("start_time")
    # Events without a start time go last; ties are broken by event id.
    return (start is None, start if isinstance(start, int) else 0, event["event_id"])


def matches(event: Snapshot, query: EventQuery) -> bool:
    """Return whether an ``events.v1`` value passes the filters of ``query``."""
    status = event.get("status")
    if query.status is not None and status != query.status:
        return False
    if query.live is not None and (status in LIVE_STATUSES) != query.live:
        return False
    if query.sport is not None:
        sport = event.get("sport")
        if not isinstance(sport, str) or sport.casefold() != query.sport.casefold():
            return False
    return True


class EventIndex:
    """Latest ``events.v1`` value per event id, listed by start time then event id."""

    def __init__(self) -> None:
        self._events: dict[str, Snapshot] = {}
        self._sorted: list[str] | None = None

    def __len__(self) -> int:
        return len(self._events)

    def put(self, event_id: str, value: Snapshot | None) -> None:
        """Store an event; a tombstone (``None``) removes it."""
        held = self._events.get(event_id)
        if value is None:
            if held is not None:
                del self._events[event_id]
                self._sorted = None
            return
        if held is None or _order(held) != _order(value):
            self._sorted = None
        self._events[event_id] = value

    def get(self, event_id: str) -> Snapshot | None:
        """Return the latest value of one event, if held."""
        return self._events.get(event_id)

    def query(self, query: EventQuery) -> tuple[int, list[Snapshot]]:
        """Return how many events pass the filters, and the requested page of them."""
        if self._sorted is None:
            self._sorted = sorted(self._events, key=lambda e: _order(self._events[e]))
        found: list[Any] = [e for e in (self._events[k] for k in self._sorted)
                            if matches(e, query)]
        return len(found), found[query.offset:query.offset + query.limit]
