"""The replicated event index behind GET /events (pure)."""

from __future__ import annotations

from typing import Any

from web.catalog import EventIndex
from web.params import EventQuery


def event(event_id: str, start: int | None, status: str = "not_started",
          sport: str | None = "soccer") -> dict[str, Any]:
    return {"event_id": event_id, "start_time": start, "status": status, "sport": sport}


def listed(index: EventIndex, **query: Any) -> tuple[int, list[str]]:
    total, page = index.query(EventQuery(**query))
    return total, [e["event_id"] for e in page]


def test_sorted_by_start_time_then_id_without_start_last() -> None:
    index = EventIndex()
    for value in (event("sr:match:3", 20), event("sr:match:2", 10), event("sr:match:1", 20),
                  event("sr:match:0", None)):
        index.put(value["event_id"], value)
    assert listed(index) == (4, ["sr:match:2", "sr:match:1", "sr:match:3", "sr:match:0"])
    # A new start time reorders; an update that keeps it does not need to.
    index.put("sr:match:3", event("sr:match:3", 5))
    index.put("sr:match:2", event("sr:match:2", 10, "live"))
    assert listed(index) == (4, ["sr:match:3", "sr:match:2", "sr:match:1", "sr:match:0"])
    assert index.get("sr:match:2") == event("sr:match:2", 10, "live")


def test_tombstone_removes() -> None:
    index = EventIndex()
    index.put("sr:match:1", event("sr:match:1", 1))
    index.put("sr:match:1", None)
    index.put("sr:match:9", None)
    assert len(index) == 0 and listed(index) == (0, [])


def test_filters_and_pages() -> None:
    index = EventIndex()
    rows = [event("sr:match:1", 1, "live"), event("sr:match:2", 2, "interrupted", "Tennis"),
            event("sr:match:3", 3, "ended"), event("sr:match:4", 4, "not_started", None)]
    for row in rows:
        index.put(row["event_id"], row)
    assert listed(index, status="live") == (1, ["sr:match:1"])
    assert listed(index, live=True) == (2, ["sr:match:1", "sr:match:2"])
    assert listed(index, live=False) == (2, ["sr:match:3", "sr:match:4"])
    assert listed(index, sport="tennis") == (1, ["sr:match:2"])
    assert listed(index, sport="SOCCER", live=False) == (1, ["sr:match:3"])
    assert listed(index, limit=2, offset=1) == (4, ["sr:match:2", "sr:match:3"])
    assert listed(index, offset=10) == (4, [])
