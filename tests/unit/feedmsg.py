"""Builders of canonical feed messages for tests."""

from __future__ import annotations

from typing import Any

from models.engine import DEFAULT_RULES, Rules
from models.memory import MemoryState, replay

E1 = "sr:match:1"
K1 = f"{E1}/1/"
NOW = 1_900_000_000_000


def outcomes(*prices: float | None, active: bool = True) -> list[dict[str, Any]]:
    found = []
    for i, price in enumerate(prices, 1):
        outcome: dict[str, Any] = {"id": str(i), "active": active}
        if price is not None:
            outcome["odds"] = price
        found.append(outcome)
    return found


def market(mid: str = "1", *prices: float | None, specifiers: str = "",
           status: str = "active") -> dict[str, Any]:
    return {"id": mid, "specifiers": specifiers, "status": status,
            "outcomes": outcomes(*(prices or (2.0, 3.4, 3.9)))}


def odds_change(ts: int, *markets: dict[str, Any], event_id: str = E1, producer: int = 1,
                **extra: Any) -> dict[str, Any]:
    return {"type": "odds_change", "event_id": event_id, "producer": producer, "ts": ts,
            "markets": list(markets or (market(),)), **extra}


def bet_stop(ts: int, groups: Any = "all", event_id: str = E1, **extra: Any) -> dict[str, Any]:
    return {"type": "bet_stop", "event_id": event_id, "producer": 1, "ts": ts, "groups": groups,
            **extra}


def settlement(ts: int, certainty: int, mid: str = "1", results: Any = None,
               event_id: str = E1, **market_extra: Any) -> dict[str, Any]:
    results = results or [{"id": "1", "result": "won"}, {"id": "2", "result": "lost"},
                          {"id": "3", "result": "lost"}]
    return {"type": "bet_settlement", "event_id": event_id, "producer": 1, "ts": ts,
            "certainty": certainty,
            "markets": [{"id": mid, "specifiers": "", "outcomes": results, **market_extra}]}


def market_list_message(kind: str, ts: int, mid: str = "1", event_id: str = E1,
                        **extra: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": event_id, "producer": 1, "ts": ts,
            "markets": [{"id": mid, "specifiers": "", **extra.pop("market", {})}], **extra}


def alive(ts: int, subscribed: bool = True, producer: int = 1) -> dict[str, Any]:
    return {"type": "alive", "producer": producer, "ts": ts, "subscribed": subscribed}


def snapshot_complete(ts: int, request_id: int, producer: int = 1) -> dict[str, Any]:
    return {"type": "snapshot_complete", "producer": producer, "ts": ts,
            "request_id": request_id}


def fixture(ts: int, event_id: str = E1, **extra: Any) -> dict[str, Any]:
    return {"type": "fixture_change", "event_id": event_id, "producer": 1, "ts": ts,
            "change_type": "new", "start_time": 1_800_000_000_000, **extra}


def run(*messages: dict[str, Any], state: MemoryState | None = None, now_ms: int = NOW,
        rules: Rules = DEFAULT_RULES) -> MemoryState:
    """Apply ``messages`` in order (8 partitions) to ``state``, a new one by default."""
    state = state or MemoryState()
    replay(state, messages, 8, now_ms=now_ms, rules=rules)
    return state


def status(state: MemoryState, key: str = K1) -> str:
    return str(state.markets[key]["status"])
