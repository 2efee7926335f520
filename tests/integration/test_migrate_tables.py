"""``migrate-tables``: the state of a release whose tables had changelogs of their own is carried
over to markets.v1 and events.v1, and a worker of this release carries on from it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from models.event import public_event
from models.keys import partition_for
from models.memory import MemoryState, replay
from tests.integration.support import BOOTSTRAP, Platform, event_body, eventually, produce
from tests.integration.web_support import total, x12

E1 = "sr:match:1"
#: What releases before this one kept out of markets.v1.
BOOKKEEPING = frozenset({"ts", "marks", "live", "feed_status", "producer_down", "pre_settlement"})


def old_state() -> MemoryState:
    state = MemoryState()
    replay(state, [
        {"type": "fixture_change", "event_id": E1, "producer": 1, "ts": 1_000,
         "home": "Home", "away": "Away"},
        {"type": "odds_change", "event_id": E1, "producer": 1, "ts": 2_000,
         "markets": [x12(2.0, 3.2, 3.8), total("2.5", 1.9, 1.9)]},
    ], 8)
    return state


async def publish_as_an_earlier_release(platform: Platform, state: MemoryState) -> None:
    """Table values on the old changelogs, their public part on the output topics."""
    old = {t: platform.topic(f"odds-{platform.name}-{t}-changelog") for t in ("markets", "events")}
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, platform.partitions, 1) for name in old.values()])
    finally:
        await admin.close()
    partition = partition_for(E1.encode(), platform.partitions)
    records: list[tuple[str, str, dict[str, Any]]] = []
    for key, market in state.markets.items():
        records += [(old["markets"], key, market),
                    (platform.topic("markets.v1"), key,
                     {k: v for k, v in market.items() if k not in BOOKKEEPING})]
    for key, event in state.events.items():
        records += [(old["events"], key, event),
                    (platform.topic("events.v1"), key, public_event(event))]
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, orjson.dumps(value), key=key.encode(),
                                         partition=partition)
    finally:
        await producer.stop()


async def test_a_worker_carries_on_from_the_migrated_state(platform: Platform) -> None:
    state = old_state()
    await publish_as_an_earlier_release(platform, state)

    said = platform.run_command("migrate-tables")
    assert "2 markets" in said and "1 events" in said

    worker = await platform.start_worker()
    # A bet stop reaches the markets only through the event's market list, and the stale
    # marks decide the next odds: both came from the old changelogs.
    await produce(platform.topic("feed.v1"), [
        (E1.encode(), orjson.dumps({"type": "odds_change", "event_id": E1, "producer": 1,
                                    "ts": 1_500, "markets": [x12(9.0, 9.0, 9.0)]})),
        (E1.encode(), orjson.dumps({"type": "bet_stop", "event_id": E1, "producer": 1,
                                    "ts": 3_000, "groups": "all"})),
    ])

    async def stopped() -> dict[str, Any] | None:
        body = await event_body(worker, E1)
        if body is None or {m["status"] for m in body["markets"]} != {"suspended"}:
            return None
        return body

    body = await eventually(stopped, 60, "the bet stop applied to both migrated markets")
    assert body["home"] == "Home"
    one_x_two = next(m for m in body["markets"] if m["market_id"] == "1")
    assert [o["odds"] for o in one_x_two["outcomes"]] == [2.0, 3.2, 3.8]  # 1,500 was stale
    assert one_x_two["version"] == state.markets[f"{E1}/1/"]["version"] + 1

    # Never while a worker runs: a worker's newer value would be overwritten by an older one.
    with pytest.raises(RuntimeError, match="stop every worker first"):
        platform.run_command("migrate-tables")
