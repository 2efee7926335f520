"""The expected final state: ``models.memory.replay`` over the same records, one at a time.

The workload has no producer-level messages, so no record of one partition affects another:
the partitions are replayed in separate processes (``replay`` keys and partitions records
exactly as the platform does), which halves the wait on two cores. The result holds each
market's published form (the snapshot itself) and each event's (``published_event``)
as JSON bytes, plus the totals MySQL must reach.
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.workload import Feed
from models.event import published_event
from models.keys import partition_for
from models.memory import MemoryState, replay

CHUNK = 5000
_FEED: Feed | None = None  # shared with forked workers (copy-on-write)


@dataclass
class Reference:
    """Published form of every market and event after the whole feed."""

    markets: dict[str, bytes] = field(default_factory=dict)
    events: dict[str, bytes] = field(default_factory=dict)
    version_sum: int = 0
    seconds: float = 0.0
    processes: int = 1

    @property
    def market_count(self) -> int:
        return len(self.markets)

    def merge(self, other: Reference) -> None:
        self.markets.update(other.markets)
        self.events.update(other.events)
        self.version_sum += other.version_sum


def _messages(feed: Feed, partitions: int, mine: frozenset[int]) -> Iterator[dict[str, Any]]:
    owner: dict[bytes, int] = {}
    for key, value in feed.records():
        p = owner.get(key)
        if p is None:
            p = owner[key] = partition_for(key, partitions)
        if p in mine:
            yield orjson.loads(value)


def replay_partitions(feed: Feed, partitions: int, mine: frozenset[int]) -> Reference:
    """Replay the records of the partitions in ``mine``, in feed order."""
    state = MemoryState()
    batch: list[dict[str, Any]] = []
    for message in _messages(feed, partitions, mine):
        batch.append(message)
        if len(batch) >= CHUNK:
            replay(state, batch, partitions, now_ms=0)  # plans dropped: memory stays flat
            batch = []
    if batch:
        replay(state, batch, partitions, now_ms=0)
    result = Reference()
    for key, snapshot in state.markets.items():
        result.markets[key] = orjson.dumps(snapshot)
        result.version_sum += snapshot["version"]
    result.events = {k: orjson.dumps(published_event(v)) for k, v in state.events.items()}
    return result


def _child(partitions: int, mine: frozenset[int], out: str) -> None:
    """Forked child: replay its partitions and pickle the result to ``out``."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handlers
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if _FEED is None:
        raise RuntimeError("no feed shared with the child")
    result = replay_partitions(_FEED, partitions, mine)
    Path(out).write_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))


def compute(feed: Feed, partitions: int, processes: int = 2, seconds: float = 3600
            ) -> Reference:
    """Replay ``feed`` split by partition over ``processes`` forked processes."""
    global _FEED
    started = time.perf_counter()
    result = Reference(processes=processes)
    if processes <= 1:
        result.merge(replay_partitions(feed, partitions, frozenset(range(partitions))))
        result.seconds = time.perf_counter() - started
        return result
    context = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="bench-reference-") as tmp:
        children = []
        _FEED = feed
        try:
            for i in range(processes):
                out = str(Path(tmp) / f"part{i}.pickle")
                child = context.Process(target=_child, daemon=True, args=(
                    partitions, frozenset(range(i, partitions, processes)), out))
                child.start()
                children.append((child, out))
        finally:
            _FEED = None
        deadline = time.monotonic() + seconds
        try:
            for child, out in children:
                child.join(max(1.0, deadline - time.monotonic()))
                if child.exitcode != 0:
                    raise RuntimeError("reference process " + (
                        "did not finish in time" if child.exitcode is None
                        else f"ended with {child.exitcode}"))
                result.merge(pickle.loads(Path(out).read_bytes()))  # noqa: S301 - our own file
        finally:
            for child, _ in children:
                if child.is_alive():
                    child.kill()
                    child.join(5)
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class Comparison:
    """How the platform's output compares with the reference."""

    compared: int = 0
    matched: int = 0
    missing: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    #: expected vs found ``version`` / ``updated_ts`` of the first differences.
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.compared > 0 and not (self.missing or self.different or self.unexpected)

    def summary(self, limit: int = 5) -> dict[str, Any]:
        return {"ok": self.ok, "compared": self.compared, "matched": self.matched,
                "missing": len(self.missing), "different": len(self.different),
                "unexpected": len(self.unexpected),
                "examples": (self.missing + self.different + self.unexpected)[:limit],
                "details": self.details[:limit]}


def _brief(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: value.get(k) for k in ("version", "updated_ts", "status") if k in value}
    return value


def compare(expected: dict[str, bytes], latest: dict[bytes, bytes]) -> Comparison:
    """Compare the latest value per key of a topic with the reference (parsed JSON)."""
    result = Comparison()
    for key, value in expected.items():
        result.compared += 1
        got = latest.get(key.encode())
        want = orjson.loads(value)
        if got is None:
            result.missing.append(key)
            result.details.append({"key": key, "expected": _brief(want), "found": None})
            continue
        found = orjson.loads(got)
        if found != want:
            result.different.append(key)
            result.details.append({"key": key, "expected": _brief(want),
                                   "found": _brief(found)})
        else:
            result.matched += 1
    known = {k.encode() for k in expected}
    result.unexpected = [k.decode(errors="replace") for k in latest if k not in known]
    return result
