"""A whole match through the real services, checked against the pure engine."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from models.engine import Rules
from models.event import published_event
from models.keys import market_key
from models.memory import MemoryState, replay
from sinks.mysql import history_rows
from tests.integration.support import (
    FeedProducer,
    Platform,
    Worker,
    eventually,
    mysql_rows,
    read_all,
    read_compacted,
)
from web.shapes import event_view

pytestmark = pytest.mark.timeout(300)

EVENT = "sr:match:4242"
PRODUCER = 1
#: The reference is a worker of its own: its first alive asks for a recovery, as the worker's.
RULES = Rules(silence_timeout_ms=4_000, boot="reference")


class Match:
    """Builds the feed of one match with increasing timestamps."""

    def __init__(self) -> None:
        self.ts = 0

    def _next(self) -> int:
        self.ts = max(self.ts + 1, int(time.time() * 1000))
        return self.ts

    def message(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "event_id": EVENT, "producer": PRODUCER, "ts": self._next(),
                **fields}

    def odds(self, home: float, draw: float, away: float, status: str = "active",
             ses: dict[str, Any] | None = None, over25: float = 1.9) -> dict[str, Any]:
        markets = [
            {"id": "1", "specifiers": "", "status": status, "outcomes": [
                {"id": "1", "odds": home}, {"id": "2", "odds": draw}, {"id": "3", "odds": away}]},
            {"id": "18", "specifiers": "total=2.5", "status": status, "outcomes": [
                {"id": "12", "odds": over25}, {"id": "13", "odds": round(1 / (1.05 - 1 / over25),
                                                                         2)}]},
            {"id": "8", "specifiers": "goalnr=2", "status": status, "outcomes": [
                {"id": "1", "odds": 1.8}, {"id": "2", "odds": 2.4}, {"id": "3", "odds": 9.0}]},
            {"id": "29", "specifiers": "", "status": status, "outcomes": [
                {"id": "74", "odds": 1.7}, {"id": "76", "odds": 2.1}]},
        ]
        extra = {"sport_event_status": ses} if ses else {}
        return self.message("odds_change", markets=markets, **extra)

    def alive(self, subscribed: bool = True) -> dict[str, Any]:
        return {"type": "alive", "producer": PRODUCER, "ts": self._next(),
                "subscribed": subscribed}


def ses(status: str, match_status: int, home: int, away: int, clock: str) -> dict[str, Any]:
    return {"status": status, "match_status": match_status, "home_score": home,
            "away_score": away, "clock": clock}


def record(message: dict[str, Any]) -> tuple[bytes, bytes]:
    key = message.get("event_id") or f"producer:{message['producer']}"
    return key.encode(), orjson.dumps(message)


async def statuses(worker: Worker) -> set[str]:
    status, body = await worker.get(f"/events/{EVENT}")
    return {m["status"] for m in body["markets"]} if status == 200 else set()


async def keep_alive(producer: FeedProducer, topic: str, match: Match) -> None:
    """Send an alive every half second, as a healthy producer does."""
    while True:
        async with producer.lock:
            await producer.send(topic, [record(match.alive())])
        await asyncio.sleep(0.5)


async def test_a_whole_match(tmp_path: Any) -> None:
    platform = Platform(tmp_path, extra_env={"PRODUCER_TIMEOUT": "4"})
    await platform.create()
    try:
        async with FeedProducer() as producer:
            await play(platform, producer)
    finally:
        await platform.destroy()


async def play(platform: Platform, producer: FeedProducer) -> None:
    match = Match()
    worker = await platform.start_worker()
    feed = platform.topic("feed.v1")
    reference = MemoryState()
    plans: list[Any] = []

    async def send(*builders: Callable[[], dict[str, Any]]) -> None:
        # Timestamps are taken under the lock, so the feed's order is its ts order.
        async with producer.lock:
            messages = [build() for build in builders]
            await producer.send(feed, [record(m) for m in messages])
        plans.extend(replay(reference, messages, platform.partitions, rules=RULES))

    await send(
        match.alive,
        lambda: match.message("fixture_change", change_type="new", start_time=match.ts + 60_000,
                              sport="soccer", competition="Premier League", home="Arsenal",
                              away="Chelsea"),
        lambda: match.odds(2.1, 3.4, 3.6),
        lambda: match.odds(2.05, 3.4, 3.8),
        lambda: match.odds(2.05, 3.4, 3.8, ses=ses("live", 6, 0, 0, "00:00")),
    )
    alive_task = asyncio.create_task(keep_alive(producer, feed, match))
    try:
        # Goal: bet stop, then repricing at 1-0.
        await send(lambda: match.message("bet_stop", groups="all"))
        await eventually(lambda: _all(worker, {"suspended"}), 30, "the goal's bet stop")
        await send(lambda: match.odds(1.4, 4.5, 8.0, ses=ses("live", 6, 1, 0, "23:10"),
                                      over25=1.6))
        # Second goal, a bet stop on the next-goal market only.
        await send(lambda: match.message("bet_stop", groups=["8"]),
                   lambda: match.odds(1.15, 7.0, 15.0, ses=ses("live", 7, 2, 0, "61:00"),
                                      over25=1.2))
        await eventually(lambda: _price(worker, "1", "1", 1.15), 30, "the second repricing")
        assert await statuses(worker) == {"active"}
    finally:
        alive_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await alive_task

    # The producer goes silent: every market suspended within 5 s of the timeout.
    await eventually(lambda: _all(worker, {"suspended"}), 10, "suspension of a silent producer")
    requests = await eventually(lambda: _silent(platform), 10, "a recovery request")
    request = requests[0]
    assert request["producer"] == PRODUCER and request["request_id"] == 2
    # The reference learns what the worker's silence timer decided, when it decided it (the
    # markets that re-open are those priced since).
    silent = {"type": "producer_silent", "producer": PRODUCER, "ts": 1}
    plans.extend(replay(reference, [silent], platform.partitions,
                        now_ms=request["requested_ts"], rules=RULES))
    assert not any(p.dead_letters for p in plans)
    # Odds still apply while the producer is down; the markets stay suspended.
    await send(lambda: match.odds(1.12, 7.5, 17.0, ses=ses("live", 7, 2, 0, "70:00"),
                                  over25=1.15))
    await eventually(lambda: _price(worker, "1", "1", 1.12), 30, "odds applied while down")
    assert await statuses(worker) == {"suspended"}
    alive_task = asyncio.create_task(keep_alive(producer, feed, match))
    try:
        await send(match.alive, lambda: {"type": "snapshot_complete", "producer": PRODUCER,
                                         "ts": match._next(),
                                         "request_id": request["request_id"]})
        await eventually(lambda: _all(worker, {"active"}), 30, "recovery to active")

        # Full time, settlement (certainty 1 then 2) with a void and a dead heat.
        await send(lambda: match.odds(1.01, 50.0, 100.0, status="suspended",
                                      ses=ses("ended", 100, 2, 0, "90:00"), over25=1.01))
        results = {
            "1": [{"id": "1", "result": "won"}, {"id": "2", "result": "lost"},
                  {"id": "3", "result": "lost"}],
            "18": [{"id": "12", "result": "lost", "void_factor": 0.5},
                   {"id": "13", "result": "won", "void_factor": 0.5}],
            "8": [{"id": "1", "result": "won", "dead_heat_factor": 0.5},
                  {"id": "2", "result": "won", "dead_heat_factor": 0.5},
                  {"id": "3", "result": "lost"}],
            "29": [{"id": "74", "result": "lost"}, {"id": "76", "result": "won"}],
        }
        specifiers = {"1": "", "18": "total=2.5", "8": "goalnr=2", "29": ""}
        settle = [{"id": mid, "specifiers": specifiers[mid], "outcomes": outs}
                  for mid, outs in results.items()]
        await send(lambda: match.message("bet_settlement", certainty=1, markets=settle),
                   lambda: match.message("bet_settlement", certainty=2, markets=settle))
        # Every bet on market 29 void (no window): cancelled over its settlement, then undone.
        cancel = [{"id": "29", "specifiers": "", "void_reason": 3}]
        await send(lambda: match.message("bet_cancel", markets=cancel))
        await eventually(lambda: _market_status(worker, "29", "cancelled"), 30, "the cancel")
        await send(lambda: match.message("rollback_bet_cancel",
                                         markets=[{"id": "29", "specifiers": ""}]))
        await eventually(lambda: _all(worker, {"settled"}), 30, "every market settled")
        await check(platform, worker, reference, plans)
    finally:
        alive_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await alive_task


async def _silent(platform: Platform) -> list[dict[str, Any]]:
    """The recovery requests of the outage (the first, at the worker's start, asked for a
    recovery without taking the producer down)."""
    requests = [v for _k, v in await read_all(platform.topic("recovery_requests.v1"))]
    assert requests[0]["reason"] == "startup"
    return [r for r in requests if r["reason"] == "silent"]


def _without_ts(record: tuple[str, Any]) -> tuple[str, int, bytes]:
    """Key, version and value, but ``ts``: producer health versions carry a wall-clock ts."""
    key, value = record
    return key, value["version"], orjson.dumps({**value, "ts": None})


async def _all(worker: Worker, wanted: set[str]) -> bool:
    return await statuses(worker) == wanted


async def _market_status(worker: Worker, market_id: str, wanted: str) -> bool:
    status, body = await worker.get(f"/events/{EVENT}")
    return status == 200 and any(
        m["market_id"] == market_id and m["status"] == wanted for m in body["markets"])


async def _price(worker: Worker, market_id: str, outcome: str, odds: float) -> bool:
    status, body = await worker.get(f"/events/{EVENT}")
    return status == 200 and any(
        o["id"] == outcome and o["odds"] == odds
        for m in body["markets"] if m["market_id"] == market_id for o in m["outcomes"])


async def check(platform: Platform, worker: Worker, reference: MemoryState,
                plans: list[Any]) -> None:
    """Every output equals what the pure engine computed from the same feed."""
    markets = {k: v for k, v in reference.markets.items() if k.startswith(EVENT)}
    expected_view = event_view(reference.events[EVENT], markets.values())

    async def view_matches() -> bool:
        return (await worker.get(f"/events/{EVENT}"))[1] == expected_view

    with contextlib.suppress(AssertionError):
        await eventually(view_matches, 30, "GET /events/{id} to equal the reference")
    body = (await worker.get(f"/events/{EVENT}"))[1]
    assert body == expected_view
    assert body["status"] == "ended" and body["score"] == {"home": 2, "away": 0}
    assert body["home"] == "Arsenal" and body["market_counts"] == {"settled": 4}
    next_goal = next(m for m in body["markets"] if m["market_id"] == "8")
    assert [o["dead_heat_factor"] for o in next_goal["outcomes"]] == [0.5, 0.5, None]
    totals = next(m for m in body["markets"] if m["market_id"] == "18")
    assert {o["void_factor"] for o in totals["outcomes"]} == {0.5}
    assert next(m for m in body["markets"] if m["market_id"] == "29")["cancels"] == []

    topic = platform.topic
    assert await read_compacted(topic("markets.v1")) == markets
    assert (await read_compacted(topic("events.v1")))[EVENT] == published_event(
        reference.events[EVENT])
    expected_settlements = Counter(
        (r.key, r.value["type"], r.value["version"]) for p in plans for r in p.settlements)
    got_settlements = Counter(
        (k, v["type"], v["version"]) for k, v in await read_all(topic("settlements.v1")))
    assert got_settlements == expected_settlements
    assert {t for _k, t, _v in got_settlements} == {
        "bet_settlement", "bet_cancel", "rollback_bet_cancel"}
    expected_versions = [(r.key, r.value) for p in plans for r in p.odds_changes]
    got_versions = await read_all(topic("odds-changes.v2"))
    # One record per market version, carrying exactly the changes the pure rules found.
    assert sorted(map(_without_ts, got_versions)) == sorted(map(_without_ts, expected_versions))

    expected_rows = sorted(
        (v["market_id"], v["status"], v["version"], (v["settlement"] or {}).get("certainty"))
        for v in markets.values())

    async def mysql_matches() -> bool:
        rows = await mysql_rows(platform.mysql, "SELECT market_id, status, version, certainty"
                                                " FROM markets")
        return sorted(rows) == expected_rows

    await eventually(mysql_matches, 30, "MySQL markets to equal the reference")
    outcomes = await mysql_rows(platform.mysql, "SELECT market_id, outcome_id, result,"
                                                " void_factor, dead_heat_factor FROM outcomes")
    assert sorted(outcomes) == sorted(
        (v["market_id"], o["id"], o["result"], o["void_factor"], o["dead_heat_factor"])
        for v in markets.values() for o in v["outcomes"])
    versions = [v for _k, v in expected_versions]
    # A row per version; a status change the worker's clock caused has that clock's ts.
    history = await mysql_rows(platform.mysql, "SELECT event_id, market_id, specifiers,"
                               " version, producer, changes FROM market_history"
                               " WHERE changes IS NOT NULL")
    assert sorted(history) == sorted((*r[:5], r[6]) for r in history_rows(versions))
    prices = await mysql_rows(platform.mysql, "SELECT event_id, market_id, specifiers,"
                              " outcome_id, version, old_odds, new_odds, ts FROM odds_history")
    assert sorted(prices) == sorted(
        (v["event_id"], v["market_id"], v["specifiers"], c["outcome_id"], v["version"],
         c["old"], c["new"], v["ts"]) for v in versions for c in v["changes"]
        if c["kind"] == "price")
    settled = await mysql_rows(platform.mysql, "SELECT COUNT(*) FROM settlements")
    assert settled[0][0] == sum(expected_settlements.values())
    event_row = await mysql_rows(platform.mysql, "SELECT status, home_score, away_score, home"
                                                 " FROM events")
    assert event_row == [("ended", 2, 0, "Arsenal")]
    assert market_key(EVENT, "1", "") in markets
