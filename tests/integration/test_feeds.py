"""Recorded Betfair and UOF feeds, and the simulator, through the running platform."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.betfair_oracle import (
    BETFAIR_FILE,
    RESOURCES,
    assert_matches_betfairlightweight,
    betfairlightweight_books,
    settled_market,
)
from tests.integration.support import Platform, event_body, eventually, read_all

pytestmark = pytest.mark.timeout(400)

UOF_DIR = RESOURCES / "uof"


async def replay(platform: Platform, fmt: str, path: Path) -> str:
    return await asyncio.to_thread(platform.run_command, "replay", "--format", fmt, "--max",
                                   str(path))


async def test_recorded_betfair_race_matches_betfairlightweight(platform: Platform) -> None:
    worker = await platform.start_worker()
    await replay(platform, "betfair", BETFAIR_FILE)
    (book,) = betfairlightweight_books()
    assert_matches_betfairlightweight(await settled_market(worker, book), book)


async def test_uof_samples_through_the_platform(platform: Platform) -> None:
    worker = await platform.start_worker()
    await replay(platform, "uof", UOF_DIR)
    odds = json.loads((UOF_DIR / "odds_change-0.expected.json").read_text())[0]

    async def odds_applied() -> dict[str, Any] | None:
        return await event_body(worker, odds["event_id"])

    body = await eventually(odds_applied, 60, "the UOF odds_change to be applied")
    shown = {(m["market_id"], m["specifiers"], o["id"]): o["odds"]
             for m in body["markets"] for o in m["outcomes"]}
    sent = {(m["id"], m["specifiers"], o["id"]): o.get("odds")
            for m in odds["markets"] for o in m["outcomes"]}
    assert shown == sent

    settlement = json.loads((UOF_DIR / "bet_settlement.expected.json").read_text())[0]
    body = await eventually(lambda: event_body(worker, settlement["event_id"]), 30,
                            "the UOF settlement")
    results = {(m["market_id"], m["specifiers"], o["id"]): o["result"]
               for m in body["markets"] for o in m["outcomes"]}
    assert results == {(m["id"], m["specifiers"], o["id"]): o["result"]
                       for m in settlement["markets"] for o in m["outcomes"]}
    assert {m["status"] for m in body["markets"]} == {"settled"}

    cancel = json.loads((UOF_DIR / "bet_cancel.expected.json").read_text())[0]
    body = await eventually(lambda: event_body(worker, cancel["event_id"]), 30, "the cancel")
    # A cancel with a window voids the bets placed in it; the market is not cancelled.
    assert {m["status"] for m in body["markets"]} == {"deactivated"}
    (window,) = body["markets"][0]["cancels"]
    assert (window["start_time"], window["end_time"]) == (cancel["start_time"],
                                                          cancel["end_time"])

    # The rollback sample lacks the product attribute UnifiedFeed.xsd requires.
    letters = await eventually(lambda: read_all(platform.topic("feed.dlq.v1")), 30,
                               "the dead letter of the malformed sample")
    (key, letter) = letters[0]
    assert key == "sr:match:4444" and "lacks product" in letter["reason"]
    assert letter["source"]["topic"] == platform.topic("feed.raw.uof.v1")
    assert letter["original"].startswith("<?xml")


async def test_simulated_matches_all_end_settled(platform: Platform) -> None:
    worker = await platform.start_worker()
    await asyncio.to_thread(
        platform.run_command, "simulate", "--events", "4", "--duration", "60", "--max",
        "--match-seconds", "45", "--seed", "7", "--first-id", "500")
    event_ids = [f"sr:match:{500 + i}" for i in range(4)]

    async def all_settled() -> bool:
        for event_id in event_ids:
            body = await event_body(worker, event_id)
            if not body or {m["status"] for m in body["markets"]} != {"settled"}:
                return False
            if body["status"] != "ended":
                return False
        return True

    await eventually(all_settled, 90, "every simulated event settled")
