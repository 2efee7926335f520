"""Bet acceptance and settlement through real Kafka, RocksDB and HTTP: every reason a
selection is refused, a multiple across two workers, a bet delay, a settlement with a void
window."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from models.keys import partition_for
from tests.integration.support import Platform, Worker, eventually, produce
from tests.integration.test_two_workers import feed_partitions, start_two
from tests.integration.web_support import (
    ENDED,
    LIVE,
    OTHER,
    UPCOMING,
    Feed,
    market,
    scenario,
    ses,
    x12,
)

pytestmark = pytest.mark.timeout(300)

DELAY_MS = 1500
CHECK_BETS = """mutation Check($ticket: TicketInput!) { checkBets(ticket: $ticket) {
  status reason ticketId checkAfterMs potentialReturn combinedOdds
  selections { eventId status odds version reason marketStatus currentOdds } } }"""


async def post(worker: Worker, path: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(f"{worker.url}{path}",
                                                          json=body) as resp:
        return resp.status, await resp.json(content_type=None)


def pick(event_id: str, odds: float, market_id: str = "1", outcome_id: str = "1",
         specifiers: str = "") -> dict[str, Any]:
    return {"event_id": event_id, "market_id": market_id, "specifiers": specifiers,
            "outcome_id": outcome_id, "odds": odds}


async def check(worker: Worker, *selections: dict[str, Any], policy: str = "exact",
                stake: float = 10, **extra: Any) -> dict[str, Any]:
    status, body = await post(worker, "/bets/check", {"selections": list(selections),
                                                      "stake": stake, "price_policy": policy,
                                                      **extra})
    assert status == 200, body
    return body


def reasons(answer: dict[str, Any]) -> list[str | None]:
    return [s["reason"] for s in answer["selections"]]


async def has_market(worker: Worker, event_id: str, market_id: str, status: str = "active",
                     specifiers: str = "") -> bool:
    query = f"?specifiers={specifiers}" if specifiers else ""
    code, body = await worker.get(f"/events/{event_id}/markets/{market_id}{query}")
    return code == 200 and body["status"] == status


async def test_every_answer_of_a_check(platform: Platform) -> None:
    worker = await platform.start_worker()
    feed = scenario()
    await produce(platform.topic("feed.v1"), feed.records())
    await eventually(lambda: has_market(worker, OTHER, "219", "suspended"), 60,
                     "the scenario to be applied")

    # A multiple of two events, at the current prices: 10 x 2.5 x 1.45.
    both = await check(worker, pick(UPCOMING, 2.5), pick(LIVE, 1.45))
    assert both["status"] == "accepted", both
    assert both["combined_odds"] == pytest.approx(3.625)
    assert both["potential_return"] == 36.25
    assert [s["status"] for s in both["selections"]] == ["accepted", "accepted"]
    assert [s["odds"] for s in both["selections"]] == [2.5, 1.45]
    assert both["ticket_id"] is None

    # The GraphQL mutation answers the same, from the same code.
    status, graphql = await post(worker, "/graphql", {"query": CHECK_BETS, "variables": {
        "ticket": {"selections": [
            {"eventId": UPCOMING, "marketId": "1", "outcomeId": "1", "odds": 2.5},
            {"eventId": LIVE, "marketId": "1", "outcomeId": "1", "odds": 1.45}],
            "stake": 10, "pricePolicy": "EXACT"}}})
    assert status == 200 and "errors" not in graphql, graphql
    answer = graphql["data"]["checkBets"]
    assert (answer["status"], answer["potentialReturn"]) == ("accepted", 36.25)
    assert [s["odds"] for s in answer["selections"]] == [2.5, 1.45]
    status, graphql = await post(worker, "/graphql", {"query": CHECK_BETS, "variables": {
        "ticket": {"selections": [{"eventId": UPCOMING, "marketId": "1", "outcomeId": "1",
                                   "odds": 1.0}], "stake": 10}}})
    assert graphql["errors"][0]["extensions"]["code"] == "bad_request", graphql

    # Price policies: exact refuses another price; higher takes an equal or better one at the
    # current price; any takes every price.
    exact = await check(worker, pick(UPCOMING, 2.4))
    assert exact["status"] == "rejected"
    assert exact["selections"][0]["reason"] == "price_changed"
    assert exact["selections"][0]["current_odds"] == 2.5
    assert exact["selections"][0]["current_version"] >= 1
    higher = await check(worker, pick(UPCOMING, 2.4), policy="higher")
    assert (higher["status"], higher["selections"][0]["odds"]) == ("accepted", 2.5)
    assert higher["potential_return"] == 25.0
    worse = await check(worker, pick(UPCOMING, 2.6), policy="higher")
    assert reasons(worse) == ["price_changed"]
    anything = await check(worker, pick(UPCOMING, 2.6), policy="any")
    assert (anything["status"], anything["selections"][0]["odds"]) == ("accepted", 2.5)

    # Every reason a selection is refused.
    refused = await check(
        worker, pick("sr:match:999999", 2.0), pick(UPCOMING, 2.0, market_id="999"),
        pick(LIVE, 2.0, outcome_id="99"), pick(LIVE, 1.01, "18", "12", "total=1.5"),
        pick(OTHER, 1.8, "219", "4"), pick(ENDED, 1.2, "186", "4"), policy="any",
        allow_same_event=True)
    assert refused["status"] == "rejected"
    assert refused["combined_odds"] is None and refused["potential_return"] is None
    assert reasons(refused) == ["event_not_found", "market_not_found", "outcome_not_found",
                                "market_not_active", "producer_down", "event_ended"]
    assert refused["selections"][3]["market_status"] == "settled"
    assert refused["selections"][4]["market_status"] == "suspended"

    # Two selections of one event are correlated, unless the ticket allows it.
    same = (pick(LIVE, 1.45), pick(LIVE, 1.55, "18", "12", "total=2.5"))
    correlated = await check(worker, *same)
    assert (correlated["status"], correlated["reason"]) == ("rejected", "correlated")
    allowed = await check(worker, *same, allow_same_event=True)
    assert allowed["status"] == "accepted", allowed
    assert allowed["potential_return"] == 22.48  # 10 x 2.2475, half-even

    # A market stopped by a bet stop refuses the bet, with its status.
    stop = Feed(ts=feed.ts)
    stop.add("bet_stop", UPCOMING, groups="all")
    await produce(platform.topic("feed.v1"), stop.records())
    await eventually(lambda: has_market(worker, UPCOMING, "1", "suspended"), 30,
                     "the bet stop to suspend the market")
    stopped = await check(worker, pick(UPCOMING, 2.5))
    assert reasons(stopped) == ["market_not_active"]
    assert stopped["selections"][0]["market_status"] == "suspended"


MALFORMED = (
    (b"{not json", "body must be JSON"),
    (b'{"selections": [], "stake": 10}', "selections must be a list of 1 to 20"),
    (b'{"selections": [{"event_id": "sr:match:1", "market_id": "1", "outcome_id": "1",'
     b' "odds": 1.0}], "stake": 10}', "odds must be a decimal price above 1.0"),
    (b'{"selections": [{"event_id": "sr:match:1", "market_id": "1", "outcome_id": "1",'
     b' "odds": 2}], "stake": 0}', "stake must be above 0"),
    (b'{"selections": [{"event_id": "sr:match:1", "market_id": "1", "outcome_id": "1",'
     b' "odds": 2}], "stake": 1, "price_policy": "best"}', "price_policy must be one of"),
    (b'{"selections": [{"event_id": "x", "market_id": "1", "outcome_id": "1", "odds": 2}],'
     b' "stake": 1}', "event id must look like"),
    (b'{"selections": [{"event_id": "sr:match:1", "market_id": "1", "outcome_id": "1",'
     b' "odds": 2, "colour": 1}], "stake": 1}', "unknown field 'colour'"),
)


async def test_a_malformed_ticket_is_a_400(platform: Platform) -> None:
    worker = await platform.start_worker()
    async with aiohttp.ClientSession() as http:
        for body, message in MALFORMED:
            for path in ("/bets/check", "/bets/settle"):
                async with http.post(f"{worker.url}{path}", data=body) as resp:
                    answer = await resp.json(content_type=None)
                    assert resp.status == 400, (path, body, answer)
                    assert answer["error"]["code"] == "bad_request"
                    if path == "/bets/check":
                        assert message in answer["error"]["message"], answer
        async with http.get(f"{worker.url}/bets/check") as resp:
            assert resp.status == 405
            assert (await resp.json(content_type=None))["error"]["code"] == \
                "method_not_allowed"


def owned_by(worker_partitions: set[int], events: list[str], partitions: int) -> list[str]:
    return [e for e in events if partition_for(e.encode(), partitions) in worker_partitions]


async def test_a_multiple_across_two_workers_with_a_bet_delay(platform: Platform) -> None:
    platform.extra_env["LIVE_BET_DELAY_MS"] = str(DELAY_MS)
    first, second = await start_two(platform)
    events = [f"sr:match:{8000 + i}" for i in range(16)]
    ours = owned_by(await feed_partitions(first, platform), events, platform.partitions)
    theirs = owned_by(await feed_partitions(second, platform), events, platform.partitions)
    assert ours and theirs, (ours, theirs)
    here, there = ours[0], theirs[0]
    feed = Feed()
    for event_id in (here, there):
        # Producer 3 (prematch) prices without a delay; producer 1 (live) with one.
        feed.add("odds_change", event_id, 3, markets=[x12(2.0, 3.0, 4.0)])
        feed.add("odds_change", event_id, 1, sport_event_status=ses("live", 0, 0),
                 markets=[market("18", "total=2.5", {"12": 1.8, "13": 2.0})])
    await produce(platform.topic("feed.v1"), feed.records())
    for event_id in (here, there):
        for worker in (first, second):
            await eventually(lambda w=worker, e=event_id: has_market(  # type: ignore[misc]
                w, e, "18", specifiers="total=2.5"), 60, "both events on both workers")

    # Prematch prices, no delay: accepted at once, whichever worker is asked.
    for worker in (first, second):
        answer = await check(worker, pick(here, 2.0), pick(there, 3.0, outcome_id="2"))
        assert answer["status"] == "accepted", answer
        assert answer["potential_return"] == 60.0

    # Live prices: pending for the delay, then accepted when sent again with the ticket.
    legs = (pick(here, 1.8, "18", "12", "total=2.5"), pick(there, 2.0))
    pending = await check(first, *legs)
    assert pending["status"] == "pending", pending
    assert pending["check_after_ms"] == DELAY_MS
    assert pending["ticket_id"] and pending["expires_at"]
    assert [s["status"] for s in pending["selections"]] == ["pending", "accepted"]
    assert pending["potential_return"] == 36.0
    early = await check(first, *legs, ticket_id=pending["ticket_id"])
    assert early["status"] == "pending"
    assert 0 < early["check_after_ms"] <= DELAY_MS
    await asyncio.sleep(DELAY_MS / 1000)
    taken = await check(first, *legs, ticket_id=pending["ticket_id"])
    assert taken["status"] == "accepted", taken
    assert taken["potential_return"] == 36.0

    # The other worker's market stops and reopens during the delay: the ticket is refused.
    again = await check(second, *legs)
    assert again["status"] == "pending", again
    moves = Feed(ts=feed.ts)
    moves.add("bet_stop", there, 3, groups="all")
    moves.add("odds_change", there, 3, markets=[x12(2.0, 3.0, 4.0)])
    await produce(platform.topic("feed.v1"), moves.records())

    async def reopened() -> bool:
        code, body = await first.get(f"/events/{there}/markets/1")
        return code == 200 and body["status"] == "active" and body["version"] >= 3

    await eventually(reopened, 30, "the market to be stopped and reopened")
    await asyncio.sleep(DELAY_MS / 1000)
    refused = await check(second, *legs, ticket_id=again["ticket_id"])
    assert refused["status"] == "rejected"
    assert reasons(refused) == [None, "suspended_during_delay"]
    assert refused["selections"][1]["market_status"] == "suspended"

    # A ticket nobody holds, or sent back with other selections, is refused.
    unknown = await check(first, *legs, ticket_id="0" * 32)
    assert (unknown["status"], unknown["reason"]) == ("rejected", "ticket_unknown")
    changed = await check(first, legs[0], pick(there, 2.1), ticket_id=pending["ticket_id"])
    assert (changed["status"], changed["reason"]) == ("rejected", "ticket_mismatch")
    bigger = await check(first, *legs, stake=1000, ticket_id=pending["ticket_id"])
    assert (bigger["status"], bigger["reason"]) == ("rejected", "ticket_mismatch")
    fewer = await check(first, legs[0], ticket_id=pending["ticket_id"])
    assert (fewer["status"], fewer["reason"]) == ("rejected", "ticket_mismatch")


async def test_settlement_of_placed_bets(platform: Platform) -> None:
    worker = await platform.start_worker()
    event_id = "sr:match:9100"
    feed = Feed()
    feed.add("odds_change", event_id, 1, markets=[x12(2.0, 3.0, 4.0),
                                                  market("18", "total=2.5", {"12": 1.8,
                                                                             "13": 2.0})])
    window = (feed.ts - 30_000, feed.ts - 20_000)
    feed.add("bet_cancel", event_id, 1, start_time=window[0], end_time=window[1],
             markets=[{"id": "1", "specifiers": "", "void_reason": 12}])
    feed.add("bet_settlement", event_id, 1, certainty=2, markets=[
        {"id": "1", "specifiers": "", "outcomes": [
            {"id": "1", "result": "won"}, {"id": "2", "result": "lost"},
            {"id": "3", "result": "lost"}]}])
    await produce(platform.topic("feed.v1"), feed.records())
    await eventually(lambda: has_market(worker, event_id, "1", "settled"), 60,
                     "the settlement to be applied")

    def placed(outcome: str, odds: float, at: int, market_id: str = "1",
               specifiers: str = "") -> dict[str, Any]:
        return {**pick(event_id, odds, market_id, outcome, specifiers), "placed_at": at}

    in_window, after = window[0] + 5_000, window[1] + 5_000
    status, won = await post(worker, "/bets/settle", {"stake": 10, "selections": [
        placed("1", 2.0, after)]})
    assert status == 200, won
    assert (won["status"], won["returns"], won["provisional"]) == ("settled", 20.0, False)
    assert won["selections"][0]["outcome"] == "won"
    _, voided = await post(worker, "/bets/settle", {"stake": 10, "selections": [
        placed("2", 3.0, in_window)]})
    assert (voided["returns"], voided["selections"][0]["outcome"]) == (10.0, "void")
    assert voided["selections"][0]["reason"] == "cancel_window"
    _, lost = await post(worker, "/bets/settle", {"stake": 10, "selections": [
        placed("2", 3.0, after)]})
    assert (lost["returns"], lost["selections"][0]["outcome"]) == (0.0, "lost")
    # A multiple with an open leg stays open; its settled legs still say how they stand.
    _, open_ = await post(worker, "/bets/settle", {"stake": 10, "selections": [
        placed("1", 2.0, after), placed("12", 1.8, after, "18", "total=2.5")]})
    assert (open_["status"], open_["returns"]) == ("open", None)
    assert [s["outcome"] for s in open_["selections"]] == ["won", "open"]
    # A voided leg counts as odds 1 in a multiple.
    _, multiple = await post(worker, "/bets/settle", {"stake": 10, "selections": [
        placed("2", 3.0, in_window), placed("1", 2.0, after)]})
    assert (multiple["status"], multiple["returns"]) == ("settled", 20.0)
    status, bad = await post(worker, "/bets/settle", {"stake": 10, "selections": [
        pick(event_id, 2.0)]})
    assert status == 400 and "placed_at" in bad["error"]["message"]
