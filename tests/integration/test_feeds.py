"""Recorded Betfair and UOF feeds, and the simulator, through the running platform."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from betfairlightweight import StreamListener

from feeds.betfair_cache import outcome_id
from tests.integration.support import Platform, event_body, eventually, read_all

pytestmark = pytest.mark.timeout(400)

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
BETFAIR_FILE = RESOURCES / "betfair" / "BASIC-1.132153978"
UOF_DIR = RESOURCES / "uof"


def betfairlightweight_books() -> list[dict[str, Any]]:
    """The oracle: betfairlightweight's market books after the whole recorded file."""
    listener = StreamListener(max_latency=None, lightweight=True)
    listener.register_stream(0, "marketSubscription")
    for line in BETFAIR_FILE.read_bytes().splitlines():
        if line.strip():
            listener.on_data(line.decode())
    books: list[dict[str, Any]] = listener.snap()
    return books


def levels(serialised: list[dict[str, float]]) -> list[list[float]]:
    return [[level["price"], level["size"]] for level in serialised[:3]]


async def replay(platform: Platform, fmt: str, path: Path) -> str:
    return await asyncio.to_thread(platform.run_command, "replay", "--format", fmt, "--max",
                                   str(path))


async def test_recorded_betfair_race_matches_betfairlightweight(platform: Platform) -> None:
    worker = await platform.start_worker()
    await replay(platform, "betfair", BETFAIR_FILE)
    (book,) = betfairlightweight_books()
    event_id = f"bf:event:{book['marketDefinition']['eventId']}"

    async def settled() -> dict[str, Any] | None:
        body = await event_body(worker, event_id)
        if body and body["markets"] and body["markets"][0]["status"] == "settled":
            return body
        return None

    body = await eventually(settled, 60, f"{event_id} settled from the recorded race")
    (market,) = body["markets"]
    assert market["market_id"] == book["marketId"]
    outcomes = {o["id"]: o for o in market["outcomes"]}
    assert set(outcomes) == {outcome_id(r["selectionId"], r["handicap"])
                             for r in book["runners"]}
    for runner in book["runners"]:
        outcome = outcomes[outcome_id(runner["selectionId"], runner["handicap"])]
        ltp = runner["lastPriceTraded"]
        assert outcome["last_traded"] == (ltp if ltp and ltp > 1 else None)
        assert outcome["traded_volume"] == runner["totalMatched"]
        assert outcome["back"] == levels(runner["ex"]["availableToBack"])
        assert outcome["lay"] == levels(runner["ex"]["availableToLay"])
        expected = {"WINNER": "won", "PLACED": "won", "LOSER": "lost"}.get(runner["status"],
                                                                          "void")
        assert outcome["result"] == expected
        assert outcome["void_factor"] is None
        removed = runner["status"].startswith("REMOVED")
        assert ("reduction_factor" in outcome) == removed
        if removed:
            assert outcome["reduction_factor"] == runner["adjustmentFactor"]
            assert outcome["removal_ts"] > 0
    assert market["in_play"] == book["inplay"]


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
