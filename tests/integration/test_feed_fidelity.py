"""A whole match fed by two UOF producers, as XML through ``feed.raw.uof.v1``, on the real
services: names from loaded descriptions, the prematch-to-live handover, a windowed cancel
and its rollback, a group bet stop, and a producer outage closed by the recovery service
against a local HTTP server standing in for Sportradar's API."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
import pytest

from tests.integration.support import (
    FeedProducer,
    Platform,
    Worker,
    eventually,
    mysql_rows,
    read_all,
)
from tests.integration.uof_support import (
    DESCRIPTIONS,
    LIVE,
    PREMATCH,
    TOKEN,
    Record,
    RecoveryApi,
    Uof,
    both_score,
    by_id,
    half_x12,
    prices,
    recovering_platform,
    shows,
    total,
    view,
    x12,
)

pytestmark = pytest.mark.timeout(300)

class Feed:
    """Sends raw UOF records, keyed as a UOF ingestor keys them, and keeps producers alive."""

    def __init__(self, producer: FeedProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self.uof = Uof()
        self.alive = {LIVE: True, PREMATCH: True}

    async def send(self, *records: Record) -> None:
        async with self.producer.lock:
            await self.producer.send(self.topic, records)

    async def keep_alive(self) -> None:
        while True:
            for producer, on in self.alive.items():
                if on:
                    await self.send(self.uof.alive(producer))
            await asyncio.sleep(0.5)



async def test_a_match_of_two_producers_through_the_uof_adapter(tmp_path: Any) -> None:
    async with recovering_platform(tmp_path) as (platform, api):
        loaded = await asyncio.to_thread(platform.run_command, "descriptions", "load",
                                         str(DESCRIPTIONS))
        assert "loaded into" in loaded
        async with FeedProducer() as producer:
            await play(platform, producer, api)


async def play(platform: Platform, producer: FeedProducer, api: RecoveryApi) -> None:
    worker = await platform.start_worker()
    feed = Feed(producer, platform.topic("feed.raw.uof.v1"))
    uof = feed.uof
    await feed.send(uof.fixture(), uof.alive(LIVE), uof.alive(PREMATCH))
    alive_task = asyncio.create_task(feed.keep_alive())
    try:
        await _startup_recoveries(feed, api)
        await _prematch_then_handover(feed, worker)
        await _windowed_cancel(feed, worker)
        await _group_bet_stop(feed, worker)
        await _outage_and_recovery(feed, worker, api)
    finally:
        alive_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await alive_task
    await _stored(platform)


async def _startup_recoveries(feed: Feed, api: RecoveryApi) -> None:
    """The first alive of each producer after the worker's start asks for a recovery."""
    await eventually(lambda: api.of("liveodds") and api.of("pre"), 60,
                     "a startup recovery request for each producer")
    for product, producer in (("liveodds", LIVE), ("pre", PREMATCH)):
        (call,) = api.of(product)
        assert call["method"] == "POST" and call["token"] == TOKEN
        assert "after" not in call["query"]  # never seen before: a full recovery
        await feed.send(feed.uof.snapshot_complete(producer, int(call["query"]["request_id"])))


async def _prematch_then_handover(feed: Feed, worker: Worker) -> None:
    uof = feed.uof
    await feed.send(uof.odds(PREMATCH, x12(2.1, 3.4, 3.6) + total(1.9, 1.9) + half_x12(2.8)
                             + both_score(1.7)))
    await eventually(lambda: shows(worker, {"1": {"producer": PREMATCH, "status": "active"}}),
                     60, "prematch odds")
    markets = by_id(await view(worker))
    assert markets["1"]["name"] == "1x2"
    assert [o["name"] for o in markets["1"]["outcomes"]] == ["Arsenal", "draw", "Chelsea"]
    assert markets["18"]["name"] == "Total"
    assert [o["name"] for o in markets["18"]["outcomes"]] == ["over 2.5", "under 2.5"]
    assert markets["60"]["name"] == "1st half - 1x2"
    # Ctrl hands the 1X2 over before live odds come: suspended, never "handed_over".
    await feed.send(uof.odds(PREMATCH, x12(2.1, 3.4, 3.6, status=-2)))
    await eventually(lambda: shows(worker, {"1": {"status": "suspended",
                                                  "producer": PREMATCH}}),
                     30, "the handover suspends the market")
    await feed.send(uof.odds(LIVE, x12(2.0, 3.5, 3.8) + total(1.85, 1.95) + half_x12(2.7)
                             + both_score(1.75)))
    live = {"producer": LIVE, "status": "active"}
    await eventually(lambda: shows(worker, {"1": live, "18": live, "60": live, "29": live}),
                     30, "live odds take over")
    # A late prematch message for a market the live producer took changes nothing.
    await feed.send(uof.odds(PREMATCH, x12(9.0, 9.0, 9.0)), uof.odds(LIVE, both_score(1.8)))
    await eventually(lambda: _price(worker, "29", 1.8), 30, "the live update after it")
    assert prices(by_id(await view(worker))["1"]) == [2.0, 3.5, 3.8]


async def _price(worker: Worker, market_id: str, first: float) -> bool:
    markets = by_id(await view(worker))
    return market_id in markets and prices(markets[market_id])[0] == first


async def _windowed_cancel(feed: Feed, worker: Worker) -> None:
    uof = feed.uof
    start, end = uof.ts - 60_000, uof.ts - 30_000
    window = {"start_time": start, "end_time": end}
    await feed.send(uof.message("bet_cancel", LIVE, '<market id="18" specifiers="total=2.5" '
                                                    'void_reason="12"/>', **window))
    await eventually(lambda: _cancels(worker, "18", [(start, end)]), 30, "the cancel window")
    assert by_id(await view(worker))["18"]["status"] == "active"  # still trading
    await feed.send(uof.message("rollback_bet_cancel", LIVE,
                                '<market id="18" specifiers="total=2.5"/>', **window))
    await eventually(lambda: _cancels(worker, "18", []), 30, "the rollback of the window")
    assert by_id(await view(worker))["18"]["status"] == "active"


async def _cancels(worker: Worker, market_id: str, windows: list[tuple[int, int]]) -> bool:
    held = by_id(await view(worker)).get(market_id, {}).get("cancels")
    return held is not None and [(c["start_time"], c["end_time"]) for c in held] == windows


async def _group_bet_stop(feed: Feed, worker: Worker) -> None:
    await feed.send(feed.uof.message("bet_stop", LIVE, groups="1st_half"))
    await eventually(lambda: shows(worker, {"60": {"status": "suspended"}}), 30,
                     "the 1st-half group stopped")
    markets = by_id(await view(worker))
    assert {markets[m]["status"] for m in ("1", "18", "29")} == {"active"}


async def _outage_and_recovery(feed: Feed, worker: Worker, api: RecoveryApi) -> None:
    uof = feed.uof
    feed.alive[LIVE] = False
    suspended = {"status": "suspended"}
    await eventually(lambda: shows(worker, {"1": suspended, "18": suspended, "29": suspended}),
                     30, "the silent producer's markets suspended")
    await eventually(lambda: len(api.of("liveodds")) == 2, 30,
                     "the outage's recovery request")
    request = api.of("liveodds")[1]
    assert request["token"] == TOKEN
    after = int(request["query"]["after"])  # the last alive before the gap
    assert uof.ts - 60_000 < after < uof.ts
    request_id = int(request["query"]["request_id"])
    # The recovery resends two markets, then the producer is back.
    await feed.send(uof.odds(LIVE, x12(1.9, 3.6, 4.0) + total(1.8, 2.0), request_id))
    feed.alive[LIVE] = True
    await feed.send(uof.alive(LIVE), uof.snapshot_complete(LIVE, request_id))
    await eventually(lambda: shows(worker, {"1": {"status": "active"},
                                            "18": {"status": "active"}}),
                     30, "the recovered markets re-opened")
    markets = by_id(await view(worker))
    assert prices(markets["1"]) == [1.9, 3.6, 4.0]
    assert markets["29"]["status"] == "suspended"  # nothing new since the outage
    assert markets["60"]["status"] == "suspended"  # its bet stop still holds
    await feed.send(uof.odds(LIVE, both_score(1.9)))
    await eventually(lambda: shows(worker, {"29": {"status": "active"}}), 30,
                     "fresh odds re-open the rest")


async def _stored(platform: Platform) -> None:
    """MySQL and the topics carry the names and the cancel window."""
    async def named() -> bool:
        rows = await mysql_rows(platform.mysql, "SELECT market_id, name FROM markets")
        return ("1", "1x2") in rows and ("18", "Total") in rows

    await eventually(named, 30, "named markets in MySQL")
    outcomes = await mysql_rows(platform.mysql, "SELECT outcome_id, name FROM outcomes"
                                                " WHERE market_id = '1' ORDER BY outcome_id")
    assert outcomes == [("1", "Arsenal"), ("2", "draw"), ("3", "Chelsea")]
    settlements = await mysql_rows(platform.mysql, "SELECT type, detail FROM settlements"
                                                   " WHERE market_id = '18' ORDER BY version")
    assert [kind for kind, _ in settlements] == ["bet_cancel", "rollback_bet_cancel"]
    cancel = orjson.loads(settlements[0][1])
    assert [c["void_reason"] for c in cancel["cancels"]] == [12]
    statuses = {v["changes"][0]["new"] for _k, v in await read_all(
        platform.topic("odds-changes.v2")) if v["changes"][0]["kind"] == "status"}
    assert "handed_over" not in statuses
    requests = [v for _k, v in await read_all(platform.topic("recovery_requests.v1"))]
    assert [r["reason"] for r in requests if r["producer"] == LIVE] == ["startup", "silent"]
