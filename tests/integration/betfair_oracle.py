"""The Betfair oracle: betfairlightweight's cache for a recorded file, and the platform's
market compared with it (shared by the replay and the live-ingestor tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from betfairlightweight import StreamListener

from feeds.betfair_cache import outcome_id
from tests.integration.support import Worker, event_body, eventually

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
BETFAIR_FILE = RESOURCES / "betfair" / "BASIC-1.132153978"


def betfairlightweight_books(path: Path = BETFAIR_FILE) -> list[dict[str, Any]]:
    """The oracle: betfairlightweight's market books after the whole recorded file."""
    listener = StreamListener(max_latency=None, lightweight=True)
    listener.register_stream(0, "marketSubscription")
    for line in path.read_bytes().splitlines():
        if line.strip():
            listener.on_data(line.decode())
    books: list[dict[str, Any]] = listener.snap()
    return books


def levels(serialised: list[dict[str, float]]) -> list[list[float]]:
    return [[level["price"], level["size"]] for level in serialised[:3]]


def event_id_of(book: dict[str, Any]) -> str:
    return f"bf:event:{book['marketDefinition']['eventId']}"


async def settled_market(worker: Worker, book: dict[str, Any],
                         seconds: float = 60) -> dict[str, Any]:
    """Wait until the worker shows the book's event with its market settled; return it."""
    event_id = event_id_of(book)

    async def settled() -> dict[str, Any] | None:
        body = await event_body(worker, event_id)
        if body and body["markets"] and body["markets"][0]["status"] == "settled":
            return body
        return None

    body = await eventually(settled, seconds, f"{event_id} settled from the recorded race")
    (market,) = body["markets"]
    market_body: dict[str, Any] = market
    return market_body


def assert_matches_betfairlightweight(market: dict[str, Any], book: dict[str, Any]) -> None:
    """The platform's market (``GET /events/{id}``) holds what betfairlightweight's cache does."""
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
