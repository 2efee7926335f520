"""Applying outbound records to a worker's replica (pure)."""

from __future__ import annotations

from typing import Any

import orjson

from web.replica import Replica

CHANGES, EVENTS = "p.odds-changes.v2", "p.events.v1"


def replica() -> Replica:
    found = Replica(capacity=10)
    found.setup(CHANGES, {0: 5, 1: 0}, EVENTS, {0: 3, 1: 0})
    return found


def change(kind: str = "price", event_id: str = "sr:match:1") -> bytes:
    """An odds-changes.v2 value: one market version with its changes."""
    changes = [{"kind": "status", "outcome_id": None, "old": "suspended", "new": "active"}]
    if kind == "price":
        changes = [{"kind": "price", "outcome_id": "1", "old": 2.0, "new": 2.1},
                   {"kind": "price", "outcome_id": "2", "old": 3.0, "new": 2.9}]
    value: dict[str, Any] = {"event_id": event_id, "market_id": "1", "specifiers": "",
                             "producer": 1, "version": 2, "ts": 5, "changes": changes}
    return orjson.dumps(value)


def test_slots_follow_the_topics_in_order() -> None:
    found = replica()
    assert found.changes.head() == (5, 0, 3, 0)
    assert found.positions() == {(CHANGES, 0): 5, (CHANGES, 1): 0, (EVENTS, 0): 3,
                                 (EVENTS, 1): 0}
    assert found.bootstrap_end == {0: 3, 1: 0}


def test_bootstrap_events_are_indexed_not_streamed() -> None:
    found = replica()
    event = orjson.dumps({"event_id": "sr:match:1", "status": "live"})
    found.apply(EVENTS, 0, 1, b"sr:match:1", event)
    assert found.events.get("sr:match:1") == {"event_id": "sr:match:1", "status": "live"}
    assert len(found.changes) == 0
    found.apply(EVENTS, 0, 3, b"sr:match:1", event)
    found.apply(EVENTS, 1, 0, b"sr:match:2", None)  # a tombstone
    assert [(c.kind, c.slot, c.offset) for c in found.changes.resume([5, 0, 3, 0]) or []] == [
        ("event", 2, 3), ("event", 3, 0)]
    assert orjson.loads((found.changes.after(1) or [])[0].data) == {
        "event_id": "sr:match:2", "deleted": True}


def test_each_market_version_is_streamed_whole() -> None:
    found = replica()
    found.apply(CHANGES, 0, 5, b"sr:match:1/1/", change("price"))
    found.apply(CHANGES, 1, 0, b"sr:match:2/1/", change("status", "sr:match:2"))
    found.apply(CHANGES, 0, 4, b"sr:match:1/1/", change())  # before the start
    held = found.changes.resume([5, 0, 3, 0]) or []
    assert [(c.kind, c.event_id, c.slot, c.offset) for c in held] == [
        ("changes", "sr:match:1", 0, 5), ("changes", "sr:match:2", 1, 0)]
    assert held[0].data == change("price") and held[1].data == change("status", "sr:match:2")


def test_unreadable_records_are_skipped() -> None:
    found = replica()
    found.apply(CHANGES, 0, 5, b"k", b"{broken")
    found.apply(CHANGES, 0, 6, b"k", orjson.dumps({"event_id": "sr:match:1", "kind": "price"}))
    found.apply(CHANGES, 0, 7, b"k", orjson.dumps({"event_id": "sr:match:1", "changes": []}))
    found.apply(CHANGES, 0, 8, b"k", orjson.dumps({"event_id": "sr:match:1", "changes": [
        {"kind": "price"}, {"kind": "odd"}]}))
    found.apply(CHANGES, 0, 9, b"k", orjson.dumps({"event_id": "sr:match:1", "changes": {}}))
    found.apply(EVENTS, 0, 3, None, b"{}")
    found.apply("p.other", 0, 0, b"k", b"{}")  # not followed
    assert found.skipped == 6 and len(found.changes) == 0


def test_values_with_newlines_are_made_one_line() -> None:
    found = replica()
    found.apply(CHANGES, 0, 5, b"k",
                b'{"event_id": "sr:match:1",\n "changes": [{"kind": "price"}]}')
    (held,) = found.changes.resume([5, 0, 3, 0]) or []
    assert b"\n" not in held.data and orjson.loads(held.data)["changes"] == [{"kind": "price"}]
