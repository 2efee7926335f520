"""Producer health: alive heartbeats, silence, recovery requests (pure rules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.market import Snapshot


def producer_key(producer: int) -> str:
    """Return the record key of producer-level messages (their home partition)."""
    return f"producer:{producer}"


def partition_producer_key(producer: int, partition: int) -> str:
    """Return the key of one partition's view of a producer's health."""
    return f"producer:{producer}@{partition}"


@dataclass(frozen=True, slots=True)
class Health:
    """A new home state, and what to tell every partition and the ingestion side."""

    state: Snapshot
    went_down: bool = False
    came_up: bool = False
    recovery_request: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default=())


def new_producer(producer: int) -> Snapshot:
    """Return the home state of a producer seen for the first time (``recent``: see
    ``models.event.new_event``)."""
    return {"producer": producer, "down": False, "reason": None, "last_alive_ts": None,
            "last_alive_seen": None, "request_id": 0, "alive_ok": False,
            "snapshot_ok": False, "generation": 0, "ts": 0, "recent": [], "silence_ts": 0}


def _go_down(state: Snapshot, reason: str, now_ms: int) -> Health:
    request_id = state["request_id"] + 1
    after_ts = state["last_alive_ts"]
    down = {**state, "down": True, "reason": reason, "request_id": request_id,
            "alive_ok": False, "snapshot_ok": False, "generation": state["generation"] + 1}
    request = {"producer": state["producer"], "request_id": request_id, "after_ts": after_ts,
               "reason": reason, "requested_ts": now_ms}
    return Health(down, went_down=True, recovery_request=request)


def _maybe_up(state: Snapshot) -> Health:
    if state["down"] and state["alive_ok"] and state["snapshot_ok"]:
        return Health({**state, "down": False, "reason": None,
                       "generation": state["generation"] + 1}, came_up=True)
    return Health(state)


def on_alive(state: Snapshot, ts: int, subscribed: bool, now_ms: int) -> Health:
    """Apply an ``alive``: refresh the heartbeat, or go down when unsubscribed."""
    if not subscribed:
        seen = {**state, "last_alive_seen": now_ms}
        return Health(seen) if state["down"] else _go_down(seen, "unsubscribed", now_ms)
    fresh = {**state, "last_alive_ts": max(ts, state["last_alive_ts"] or 0),
             "last_alive_seen": now_ms}
    if fresh["down"]:
        fresh["alive_ok"] = True
    return _maybe_up(fresh)


def on_snapshot_complete(state: Snapshot, request_id: int) -> Health:
    """Apply a ``snapshot_complete``: it ends recovery if it answers the open request."""
    if not state["down"] or request_id != state["request_id"]:
        return Health(state, notes=("snapshot_complete answers no open recovery request",))
    return _maybe_up({**state, "snapshot_ok": True})


def is_silent(state: Snapshot, now_ms: int, timeout_ms: int) -> bool:
    """Return whether an up producer has sent no alive for ``timeout_ms``."""
    seen = state["last_alive_seen"]
    return not state["down"] and seen is not None and now_ms - seen >= timeout_ms


def on_silence(state: Snapshot, now_ms: int, timeout_ms: int) -> Health:
    """Apply the silence check raised by a timer: down if still silent."""
    if not is_silent(state, now_ms, timeout_ms):
        return Health(state)
    return _go_down(state, "silent", now_ms)
