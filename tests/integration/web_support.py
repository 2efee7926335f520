"""Helpers for the distribution tests: a feed that touches every outbound topic, an SSE
reader, and the consumer-contract schemas."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from jsonschema import Draft202012Validator

from models.memory import MemoryState, replay
from tests.integration.support import BOOTSTRAP, end_offsets

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schemas"
#: Outbound topics, plus feed.v1 (inbound, and written by the worker for producer health).
CONTRACT_TOPICS = ("markets.v1", "odds-changes.v2", "events.v1", "settlements.v1",
                   "feed.dlq.v1", "recovery_requests.v1", "feed.v1")

LIVE = "sr:match:7001"      # live, scored, a bet stop, settlements, a cancel and rollbacks
UPCOMING = "sr:match:7002"  # not started, soccer
ENDED = "sr:match:7003"     # tennis, ended and settled
OTHER = "sr:match:7004"     # basketball, live, producer 2 goes down: suspended
EVENT_IDS = (LIVE, UPCOMING, ENDED, OTHER)
#: Records that are dead letters, with the key they are sent under.
BAD_RECORDS = (
    (LIVE.encode(), b"{not json"),
    (LIVE.encode(), orjson.dumps({"type": "odds_change", "event_id": LIVE, "producer": 1,
                                  "ts": 1})),
    (b"sr:match:1", orjson.dumps({"type": "fixture_change", "event_id": UPCOMING,
                                  "producer": 1, "ts": 1})),
)


def _closed(node: Any) -> Any:
    """Forbid undocumented fields in every object schema (the published schemas allow them,
    so that adding a field stays a compatible change)."""
    if isinstance(node, list):
        return [_closed(n) for n in node]
    if not isinstance(node, dict):
        return node
    closed = {k: _closed(v) for k, v in node.items()}
    kind = closed.get("type")
    is_object = kind == "object" or (isinstance(kind, list) and "object" in kind)
    if is_object and "properties" in closed:
        closed.setdefault("additionalProperties", False)
    return closed


def schema(topic: str, strict: bool = True) -> Draft202012Validator:
    """Return a validator for the values of one topic of the consumer contract; ``strict``
    also rejects fields the schema does not document (outbound topics only)."""
    document = json.loads((SCHEMAS / f"{topic}.json").read_text())
    Draft202012Validator.check_schema(document)
    if strict and topic != "feed.v1":
        document = _closed(document)
    return Draft202012Validator(document, format_checker=Draft202012Validator.FORMAT_CHECKER)


def market(market_id: str, specifiers: str, prices: dict[str, float],
           status: str = "active") -> dict[str, Any]:
    return {"id": market_id, "specifiers": specifiers, "status": status,
            "outcomes": [{"id": k, "odds": v, "active": True} for k, v in prices.items()]}


def x12(home: float, draw: float, away: float, status: str = "active") -> dict[str, Any]:
    return market("1", "", {"1": home, "2": draw, "3": away}, status)


def total(line: str, over: float, under: float, status: str = "active") -> dict[str, Any]:
    return market("18", f"total={line}", {"12": over, "13": under}, status)


@dataclass
class Feed:
    """Builds canonical feed messages with increasing timestamps."""

    ts: int = field(default_factory=lambda: int(time.time() * 1000) - 60_000)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, event_id: str | None, producer: int = 1,
            **fields: Any) -> dict[str, Any]:
        self.ts += 1
        message = {"type": kind, "producer": producer, "ts": self.ts, **fields}
        if event_id is not None:
            message["event_id"] = event_id
        self.messages.append(message)
        return message

    def records(self) -> list[tuple[bytes, bytes]]:
        return [record(m) for m in self.messages]


def record(message: dict[str, Any]) -> tuple[bytes, bytes]:
    key = message.get("event_id") or f"producer:{message['producer']}"
    return key.encode(), orjson.dumps(message)


def ses(status: str, home: int, away: int, clock: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"status": status, "home_score": home, "away_score": away}
    if clock is not None:
        found["clock"] = clock
    return found


def scenario() -> Feed:
    """Four events and two producers, touching every outbound topic."""
    feed = Feed()
    start = feed.ts + 3_600_000
    fixtures = ((LIVE, "soccer", start - 7_200_000, "Arsenal", "Chelsea"),
                (UPCOMING, "soccer", start, "Lyon", "Nice"),
                (ENDED, "tennis", start - 86_400_000, "Alcaraz", "Sinner"),
                (OTHER, "basketball", start - 3_600_000, "Celtics", "Lakers"))
    for event_id, sport, begins, home, away in fixtures:
        feed.add("fixture_change", event_id, 2 if event_id == OTHER else 1, change_type="new",
                 start_time=begins, sport=sport, competition=f"{sport} league", home=home,
                 away=away)
    feed.add("odds_change", LIVE, markets=[x12(2.1, 3.4, 3.6), total("2.5", 1.9, 1.9),
                                           total("1.5", 1.3, 3.4),
                                           market("29", "", {"74": 1.7, "76": 2.1})])
    feed.add("odds_change", LIVE, sport_event_status=ses("live", 1, 0, "23:10"),
             markets=[x12(1.5, 4.0, 6.5), total("2.5", 1.6, 2.3)])
    feed.add("bet_stop", LIVE, groups="all")
    feed.add("odds_change", LIVE, markets=[x12(1.45, 4.2, 7.0), total("2.5", 1.55, 2.4),
                                           total("1.5", 1.01, 12.0, "suspended")])
    settle = {"id": "18", "specifiers": "total=1.5", "outcomes": [
        {"id": "12", "result": "won", "dead_heat_factor": 0.5},
        {"id": "13", "result": "lost", "void_factor": 0.5}]}
    feed.add("bet_settlement", LIVE, certainty=1, markets=[settle])
    feed.add("rollback_bet_settlement", LIVE, markets=[{"id": "18", "specifiers": "total=1.5"}])
    feed.add("bet_settlement", LIVE, certainty=2, markets=[settle])
    feed.add("bet_cancel", LIVE, start_time=feed.ts - 1000, end_time=feed.ts,
             markets=[{"id": "29", "specifiers": "", "void_reason": 12}])
    feed.add("rollback_bet_cancel", LIVE, markets=[{"id": "29", "specifiers": ""}])
    feed.add("bet_cancel", LIVE, markets=[{"id": "29", "specifiers": "", "void_reason": 3}])
    # Specifiers in a non-canonical order: stored and keyed as "hcp=-1|variant=sr:goals".
    feed.add("odds_change", UPCOMING, markets=[
        x12(2.5, 3.1, 2.9), total("2.5", 2.0, 1.8),
        market("16", "variant=sr:goals|hcp=-1", {"1714": 1.9, "1715": 1.9})])
    feed.add("odds_change", ENDED, sport_event_status=ses("ended", 3, 1),
             markets=[market("186", "", {"4": 1.2, "5": 4.5})])
    feed.add("bet_settlement", ENDED, certainty=2, markets=[
        {"id": "186", "specifiers": "", "outcomes": [{"id": "4", "result": "won"},
                                                     {"id": "5", "result": "lost"}]}])
    feed.add("odds_change", OTHER, 2, sport_event_status=ses("live", 50, 48, "Q3 04:00"),
             markets=[market("219", "", {"4": 1.8, "5": 2.0})])
    # Producer 2 says it lost its state: its markets are suspended, a recovery is requested.
    feed.add("alive", None, 2, subscribed=True)
    feed.add("alive", None, 2, subscribed=False)
    return feed


def expected_state(feed: Feed, partitions: int) -> MemoryState:
    """The state the pure rules give for the scenario."""
    state = MemoryState()
    replay(state, feed.messages, partitions)
    return state


@dataclass(frozen=True)
class Raw:
    """One record as stored: where it is, its key and its value bytes."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


async def read_raw(topic: str) -> list[Raw]:
    """Read a topic from the start to its current end, in offset order per partition."""
    ends = await end_offsets(topic)
    found: list[Raw] = []
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p, end in ends.items() if end > 0]
        if not parts:
            return found
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        remaining = set(parts)
        while remaining:
            for tp, batch in (await consumer.getmany(timeout_ms=1000)).items():
                for rec in batch:
                    found.append(Raw(tp.partition, rec.offset, rec.key, rec.value))
            for tp in list(remaining):  # by position: the log ends with a commit marker
                if await consumer.position(tp) >= ends[tp.partition]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return sorted(found, key=lambda r: (r.partition, r.offset))


@dataclass
class Frame:
    """One Server-Sent Event."""

    event: str
    id: str | None
    data: str


class SSE:
    """A minimal Server-Sent Events reader over aiohttp (ids, event names, data)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.last_id: str | None = None
        self._buffer = b""

    async def frames(self) -> AsyncIterator[Frame]:
        while True:
            while b"\n\n" not in self._buffer:
                chunk = await self.response.content.readany()
                if not chunk:
                    return
                self._buffer += chunk
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            fields: dict[str, str] = {}
            for line in block.decode().split("\n"):
                if line.startswith(":") or ":" not in line:
                    continue
                name, value = line.split(":", 1)
                fields[name] = value[1:] if value.startswith(" ") else value
            if "id" in fields:
                self.last_id = fields["id"]
            if "data" in fields:
                yield Frame(fields.get("event", "message"), fields.get("id"), fields["data"])

    async def collect(self, seconds: float, until: int | None = None) -> list[Frame]:
        """Read frames for ``seconds`` (or until ``until`` frames came)."""
        found: list[Frame] = []

        async def read() -> None:
            async for frame in self.frames():
                found.append(frame)
                if until is not None and len(found) >= until:
                    return

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(read(), seconds)
        return found
