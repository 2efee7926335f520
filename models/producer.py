"""Producer health: alive heartbeats, silence, recovery requests (pure rules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: A producer's state, as stored (JSON).
Snapshot = dict[str, Any]

HOUR_MS = 3_600_000


class Scope(StrEnum):
    """What a producer prices: live and prematch producers can share an event's markets."""

    LIVE = "live"
    PREMATCH = "prematch"
    VIRTUAL = "virtual"
    EXCHANGE = "exchange"


@dataclass(frozen=True, slots=True)
class ProducerInfo:
    """A known producer: its provider's product code, its scope, and how it recovers.

    ``recovery_window_ms``: how far back the provider's recovery API can resend (older means
    a full recovery); None for a producer whose stream resends its own state after a gap
    (the Betfair exchange), which is never asked for a recovery.
    """

    producer: int
    code: str | None
    scope: Scope
    recovery_window_ms: int | None = 72 * HOUR_MS


#: Sportradar's UOF producers (the SDKs' table) and the Betfair exchange (100).
PRODUCERS: dict[int, ProducerInfo] = {info.producer: info for info in (
    ProducerInfo(1, "liveodds", Scope.LIVE),
    ProducerInfo(3, "pre", Scope.PREMATCH),
    ProducerInfo(4, "betpal", Scope.LIVE),
    ProducerInfo(5, "premium_cricket", Scope.LIVE),
    ProducerInfo(6, "vf", Scope.VIRTUAL, 3 * HOUR_MS),
    ProducerInfo(7, "wns", Scope.PREMATCH),
    ProducerInfo(8, "vbl", Scope.VIRTUAL, 3 * HOUR_MS),
    ProducerInfo(9, "vto", Scope.VIRTUAL, 3 * HOUR_MS),
    ProducerInfo(10, "vdr", Scope.VIRTUAL, 3 * HOUR_MS),
    ProducerInfo(11, "vhc", Scope.VIRTUAL, 3 * HOUR_MS),
    ProducerInfo(12, "vti", Scope.VIRTUAL, 3 * HOUR_MS),
    ProducerInfo(15, "vbi", Scope.VIRTUAL, 3 * HOUR_MS),
    ProducerInfo(100, "betfair", Scope.EXCHANGE, None),
)}
PREMATCH_PRODUCERS = frozenset(p for p, i in PRODUCERS.items() if i.scope == Scope.PREMATCH)


def producer_info(producer: int) -> ProducerInfo:
    """Return what is known of a producer; an unknown one is live, with no product code."""
    return PRODUCERS.get(producer) or ProducerInfo(producer, None, Scope.LIVE)


def recovers_itself(producer: int) -> bool:
    """Return whether the producer's stream resends its state by itself after a gap."""
    return producer_info(producer).recovery_window_ms is None


@dataclass(frozen=True, slots=True)
class Health:
    """A new home state, and what to tell every partition and the ingestion side.

    ``request_ts``: coming up, when the answered recovery was requested (markets priced
    before it stay suspended until fresh odds arrive); None re-opens every market.
    """

    state: Snapshot
    went_down: bool = False
    came_up: bool = False
    recovery_request: dict[str, Any] | None = None
    request_ts: int | None = None
    notes: tuple[str, ...] = field(default=())


def new_producer(producer: int) -> Snapshot:
    """Return the home state of a producer seen for the first time (``recent``: see
    ``models.event.new_event``).

    ``requested_ts``/``request_after``: the open recovery request's time and ``after``;
    ``boot``: the worker start that last applied an ``alive`` (another means a restart).
    """
    return {"producer": producer, "down": False, "reason": None, "last_alive_ts": None,
            "last_alive_seen": None, "request_id": 0, "alive_ok": False,
            "snapshot_ok": False, "generation": 0, "ts": 0, "recent": [], "silence_ts": 0,
            "requested_ts": None, "request_after": None, "boot": None}


def _request(state: Snapshot, reason: str, now_ms: int) -> Health:
    """Ask for a recovery: a new request id; a request still open keeps its ``after``, so
    a retry or a new outage never narrows what an unanswered request asked for."""
    if recovers_itself(state["producer"]):
        return Health(state)
    request_id = state["request_id"] + 1
    open_request = state.get("requested_ts") is not None
    after = state.get("request_after") if open_request else state["last_alive_ts"]
    asked = {**state, "request_id": request_id, "requested_ts": now_ms, "request_after": after,
             "snapshot_ok": False}
    request = {"producer": state["producer"], "request_id": request_id, "after_ts": after,
               "reason": reason, "requested_ts": now_ms}
    return Health(asked, recovery_request=request)


def _go_down(state: Snapshot, reason: str, now_ms: int) -> Health:
    down = {**state, "down": True, "reason": reason, "alive_ok": False, "snapshot_ok": False,
            "generation": state["generation"] + 1}
    asked = _request(down, reason, now_ms)
    return Health(asked.state, went_down=True, recovery_request=asked.recovery_request)


def _maybe_up(state: Snapshot, request: dict[str, Any] | None = None) -> Health:
    ready = state["alive_ok"] and (state["snapshot_ok"] or recovers_itself(state["producer"]))
    if state["down"] and ready:
        up = {**state, "down": False, "reason": None, "generation": state["generation"] + 1,
              "requested_ts": None, "request_after": None}
        return Health(up, came_up=True, recovery_request=request,
                      request_ts=state.get("requested_ts"))
    return Health(state, recovery_request=request)


def on_alive(state: Snapshot, ts: int, subscribed: bool, now_ms: int,
             boot: str | None = None) -> Health:
    """Apply an ``alive``: refresh the heartbeat, or go down when unsubscribed.

    The first ``alive`` a worker applies after its start (``boot`` differs from the stored
    one) asks for a recovery since the last one known, unless a request is open already.
    """
    seen = {**state, "last_alive_seen": now_ms,
            "boot": boot if boot is not None else state.get("boot")}
    if not subscribed:
        return Health(seen) if state["down"] else _go_down(seen, "unsubscribed", now_ms)
    request = None
    if (boot is not None and state.get("boot") != boot and not state["down"]
            and state.get("requested_ts") is None):
        asked = _request(seen, "startup", now_ms)
        seen, request = asked.state, asked.recovery_request
    fresh = {**seen, "last_alive_ts": max(ts, state["last_alive_ts"] or 0)}
    if fresh["down"]:
        fresh["alive_ok"] = True
    return _maybe_up(fresh, request)


def on_snapshot_complete(state: Snapshot, request_id: int) -> Health:
    """Apply a ``snapshot_complete``: it closes the open request if it answers it."""
    if state.get("requested_ts") is None or request_id != state["request_id"]:
        return Health(state, notes=("snapshot_complete answers no open recovery request",))
    if not state["down"]:
        return Health({**state, "requested_ts": None, "request_after": None})
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


def is_overdue(state: Snapshot, now_ms: int, retry_ms: int) -> bool:
    """Return whether the open recovery request has gone unanswered for ``retry_ms``."""
    requested = state.get("requested_ts")
    return requested is not None and not state["snapshot_ok"] and now_ms - requested >= retry_ms


def on_retry(state: Snapshot, now_ms: int, retry_ms: int) -> Health:
    """Apply the retry check raised by a timer: ask again, with a new id, if still overdue."""
    if not is_overdue(state, now_ms, retry_ms):
        return Health(state)
    return _request(state, "retry", now_ms)
