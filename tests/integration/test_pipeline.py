"""The walking skeleton end to end: feed.v1 -> tables -> markets.v1, MySQL and HTTP."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from feeds.generator import OddsGenerator
from models.market import Snapshot
from models.memory import MemoryState, replay
from tests.integration.support import (
    Platform,
    consumed,
    end_offsets,
    eventually,
    mysql_rows,
    produce,
    read_compacted,
)
from web.shapes import event_view

pytestmark = pytest.mark.timeout(300)

EVENTS = 50
MESSAGES = 1000


def expected_state(messages: list[dict[str, Any]]) -> MemoryState:
    """The final state the pure domain rules give for the same input."""
    state = MemoryState()
    replay(state, messages, 8)
    return state


def mysql_state(markets: dict[str, Snapshot]) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    market_rows = {(s["event_id"], s["market_id"], s["specifiers"], s["status"], s["version"])
                   for s in markets.values()}
    outcome_rows = {(s["event_id"], s["market_id"], s["specifiers"], o["id"], o["odds"],
                     int(o["active"]), s["version"])
                    for s in markets.values() for o in s["outcomes"]}
    return market_rows, outcome_rows


async def read_mysql(platform: Platform) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    markets = await mysql_rows(platform.mysql, "SELECT event_id, market_id, specifiers, status,"
                                               " version FROM markets")
    outcomes = await mysql_rows(platform.mysql, "SELECT event_id, market_id, specifiers,"
                                                " outcome_id, odds, active, version FROM outcomes")
    return set(markets), set(outcomes)


async def test_odds_flow_to_http_topic_and_mysql_idempotently(platform: Platform) -> None:
    generator = OddsGenerator(EVENTS, seed=7)
    messages = list(generator.messages(MESSAGES, start_ts=1_700_000_000_000, step_ms=3))
    reference = expected_state(messages)
    expected = reference.markets
    event_ids = sorted({m["event_id"] for m in messages})
    assert len(event_ids) == EVENTS
    records = [(m["event_id"].encode(), orjson.dumps(m)) for m in messages]

    worker = await platform.start_worker()
    await produce(platform.topic("feed.v1"), records)

    by_event: dict[str, list[Snapshot]] = {}
    for snapshot in expected.values():
        by_event.setdefault(snapshot["event_id"], []).append(snapshot)
    expected_views = {e: event_view(reference.events[e], by_event[e]) for e in event_ids}

    async def http_matches() -> bool:
        for event_id in event_ids:
            status, body = await worker.get(f"/events/{event_id}")
            if status != 200 or body != expected_views[event_id]:
                return False
        return True

    await eventually(http_matches, 90, "GET /events/{id} to show the latest odds")

    expected_topic = dict(expected)

    async def topic_matches() -> bool:
        return await read_compacted(platform.topic("markets.v1")) == expected_topic

    await eventually(topic_matches, 30, "markets.v1 to hold the latest snapshot per key")

    expected_rows = mysql_state(expected)

    async def mysql_matches() -> bool:
        return await read_mysql(platform) == expected_rows

    await eventually(mysql_matches, 30, "MySQL to hold the latest odds")

    # The same input again changes nothing anywhere.
    markets_end = await end_offsets(platform.topic("markets.v1"))
    await produce(platform.topic("feed.v1"), records)
    feed_end = await end_offsets(platform.topic("feed.v1"))
    await eventually(lambda: consumed(f"odds-{platform.name}", platform.topic("feed.v1"),
                                      feed_end), 60, "the worker to consume the replayed input")
    assert await end_offsets(platform.topic("markets.v1")) == markets_end
    assert await read_mysql(platform) == expected_rows
    assert await http_matches()
    status, body = await worker.get("/events/sr:match:999999")
    assert status == 404 and body["error"]["code"] == "not_found"
    assert await worker.status("/table/") == 404
