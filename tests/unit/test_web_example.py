"""The example consumer's pure part: materialising markets.v1 and describing moves."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_consumer",
                                                  ROOT / "examples" / "consumer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snapshot(version: int, home: float, status: str = "active") -> bytes:
    value: dict[str, Any] = {
        "event_id": "sr:match:1", "market_id": "18", "specifiers": "total=2.5",
        "status": status, "version": version,
        "outcomes": [{"id": "12", "odds": home}, {"id": "13", "odds": 1.9}]}
    return orjson.dumps(value)


def test_moves_versions_and_tombstones() -> None:
    markets = example().Markets()
    key = "sr:match:1/18/total=2.5"
    assert markets.apply(key, snapshot(1, 2.0)) == []
    assert markets.apply(key, snapshot(2, 2.2)) == [
        "sr:match:1 market 18 [total=2.5] outcome 12: 2.0 -> 2.2 (up)"]
    assert markets.apply(key, snapshot(2, 1.5)) == []  # a redelivery changes nothing
    assert markets.apply(key, snapshot(3, 1.8, "suspended")) == [
        "sr:match:1 market 18 [total=2.5]: active -> suspended",
        "sr:match:1 market 18 [total=2.5] outcome 12: 2.2 -> 1.8 (down)"]
    assert markets.snapshots[key]["version"] == 3
    assert markets.apply(key, None) == [f"{key}: removed"] and key not in markets.snapshots
