"""The UOF ingestor on the real RabbitMQ, Kafka and platform: messages published to the
``unifiedfeed`` exchange with Sportradar's routing keys become named, correct markets, and a
broker outage mid-feed loses nothing the ingestor received and ends in a recovery."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiormq
import pytest

from tests.integration.amqp_support import (
    AMQP_URL_SHOWN,
    UofPublisher,
    event_routing_key,
    rabbitmq,
    read_raw,
    system_routing_key,
)
from tests.integration.support import (
    FeedProducer,
    Platform,
    Worker,
    event_body,
    eventually,
    read_all,
)
from tests.integration.uof_support import (
    DESCRIPTIONS,
    LIVE,
    RecoveryApi,
    Uof,
    by_id,
    recovering_platform,
    shows,
    total,
    view,
    x12,
)

pytestmark = pytest.mark.timeout(400)


@pytest.fixture(autouse=True)
async def broker_answers() -> None:
    """Fail (never skip) with a clear message when RabbitMQ does not answer."""
    sender = UofPublisher()
    try:
        await sender.connect()
    except (aiormq.exceptions.AMQPError, OSError, TimeoutError) as exc:
        pytest.fail(f"RabbitMQ at {AMQP_URL_SHOWN} does not answer ({exc!r}); run `make up`",
                    pytrace=False)
    finally:
        await sender.close()

UOF_DIR = Path(__file__).resolve().parents[1] / "resources" / "uof"


@contextlib.asynccontextmanager
async def publisher() -> AsyncIterator[UofPublisher]:
    sender = UofPublisher()
    try:
        yield sender
    finally:
        await sender.close()


async def start_ingestor(platform: Platform) -> Worker:
    ingestor = platform.spawn_ingestor("uof", {})
    await eventually(ingestor.ready, 60, "the UOF ingestor ready (bound to the exchange)")
    return ingestor


async def test_published_samples_become_named_correct_markets(platform: Platform) -> None:
    loaded = await asyncio.to_thread(platform.run_command, "descriptions", "load",
                                     str(DESCRIPTIONS))
    assert "loaded into" in loaded
    worker = await platform.start_worker()
    ingestor = await start_ingestor(platform)
    match = Uof("sr:match:8801")
    # Fixtures come from Sportradar's fixtures API, not the AMQP feed: sent as its fetch would.
    async with FeedProducer() as kafka:
        await kafka.send(platform.topic("feed.raw.uof.v1"), [match.fixture()])
    samples = {name: (UOF_DIR / f"{name}.xml").read_bytes()
               for name in ("odds_change-0", "bet_settlement", "bet_cancel")}
    async with publisher() as feed:
        for producer in (1, 2):
            assert await feed.publish(system_routing_key("alive"),
                                      match.alive(producer)[1])
        _, named = match.odds(LIVE, x12(2.05, 3.4, 3.7) + total(1.9, 1.95))
        assert await feed.publish(event_routing_key("odds_change", match.event), named)
        for name, body in samples.items():
            message_type = name.split("-")[0]
            event = re.search(rb'event_id="([^"]+)"', body)
            assert event is not None
            assert await feed.publish(event_routing_key(message_type, event.group(1).decode()),
                                      body)
        # Neither an event in the routing key nor a producer in the body: keyed "unkeyed".
        assert await feed.publish("not.a.uof.key", b"<odds_change/>")

    await eventually(lambda: shows(worker, {"1": {"status": "active"}}, match.event), 60,
                     "the AMQP odds_change applied")
    markets = by_id(await view(worker, match.event))
    assert markets["1"]["name"] == "1x2"
    assert [o["name"] for o in markets["1"]["outcomes"]] == ["Arsenal", "draw", "Chelsea"]
    assert [o["odds"] for o in markets["1"]["outcomes"]] == [2.05, 3.4, 3.7]
    assert markets["18"]["name"] == "Total"
    assert [o["name"] for o in markets["18"]["outcomes"]] == ["over 2.5", "under 2.5"]

    odds = json.loads((UOF_DIR / "odds_change-0.expected.json").read_text())[0]
    body = await eventually(lambda: event_body(worker, odds["event_id"]), 60,
                            "the sample odds_change applied")
    shown = {(m["market_id"], m["specifiers"], o["id"]): o["odds"]
             for m in body["markets"] for o in m["outcomes"]}
    assert shown == {(m["id"], m["specifiers"], o["id"]): o.get("odds")
                     for m in odds["markets"] for o in m["outcomes"]}
    settlement = json.loads((UOF_DIR / "bet_settlement.expected.json").read_text())[0]

    async def settled() -> dict[str, Any] | None:
        found = await event_body(worker, settlement["event_id"])
        return found if found and {m["status"] for m in found["markets"]} == {"settled"} \
            else None

    await eventually(settled, 30, "the sample settlement applied")

    letters = await eventually(lambda: read_all(platform.topic("feed.dlq.v1")), 30,
                               "the dead letter of the unkeyed message")
    assert [key for key, _ in letters] == ["unkeyed"]
    raw = await read_raw(platform.topic("feed.raw.uof.v1"))
    by_routing = {r.headers.get("routing_key"): r for r in raw if "routing_key" in r.headers}
    sample = by_routing[event_routing_key("odds_change", "sr:match:123").encode()]
    assert sample.key == b"sr:match:123" and sample.value == samples["odds_change-0"]
    assert int(sample.headers["received_ms"]) > 0
    assert by_routing[system_routing_key("alive").encode()].key in (b"producer:1",
                                                                    b"producer:2")
    ingested = [r for r in raw if "routing_key" in r.headers]
    assert len(ingested) == 7  # two alive, four event messages, one unkeyed
    assert await ingestor.metric("odds_ingest_messages_total", provider="uof") == len(ingested)
    assert await ingestor.metric("odds_ingest_unkeyed_total", provider="uof") == 1


async def test_a_broker_outage_loses_nothing_and_ends_in_a_recovery(tmp_path: Path) -> None:
    try:
        async with recovering_platform(tmp_path) as (platform, api), publisher() as feed:
            await outage(platform, feed, api)
    finally:
        # The broker is back for whatever runs next, whatever happened here.
        await asyncio.to_thread(rabbitmq, "up")


class LiveFeed:
    """A live producer's feed of several matches through the broker: alive every half
    second, odds for each match in turn; what the broker refused is simply not sent, as a
    provider's feed moves on without its absent consumer."""

    def __init__(self, sender: UofPublisher, matches: int = 4) -> None:
        self.sender = sender
        self.matches = [Uof(f"sr:match:{8900 + i}") for i in range(matches)]
        self.price = 1.5
        #: The latest home price offered for each match (sent or not).
        self.latest: dict[str, float] = {}
        self.running = asyncio.Event()
        self.running.set()

    async def alive(self) -> None:
        while True:
            await self.running.wait()
            await self.sender.publish(system_routing_key("alive"), self.matches[0].alive(LIVE)[1])
            await asyncio.sleep(0.5)

    async def odds(self, seconds_between: float = 0.02) -> None:
        while True:
            for match in self.matches:
                await self.running.wait()
                self.price = round(self.price + 0.01, 2) if self.price < 9 else 1.5
                self.latest[match.event] = self.price
                await self.odds_of(match, self.price)
                await asyncio.sleep(seconds_between)

    async def odds_of(self, match: Uof, home: float, request_id: int | None = None) -> bool:
        _, body = match.odds(LIVE, x12(home, 3.4, 3.6), request_id)
        return await self.sender.publish(event_routing_key("odds_change", match.event), body)


async def outage(platform: Platform, sender: UofPublisher, api: RecoveryApi) -> None:
    worker = await platform.start_worker()
    ingestor = await start_ingestor(platform)
    feed = LiveFeed(sender)
    tasks = [asyncio.create_task(feed.alive())]
    try:
        await eventually(lambda: api.of("liveodds"), 60,
                         "the startup recovery request")
        await answer_recovery(feed, api.of("liveodds")[0])
        tasks.append(asyncio.create_task(feed.odds()))
        first = feed.matches[0].event
        await eventually(lambda: shows(worker, {"1": {"status": "active"}}, first), 60,
                         "live odds through the ingestor")

        # A pause first, so nothing the broker confirmed is still queued when it stops:
        # a stopping broker drops an exclusive queue's messages, which no client can help.
        feed.running.clear()
        await asyncio.sleep(0.5)
        await asyncio.to_thread(rabbitmq, "down")
        feed.running.set()
        assert not await ingestor.ready()
        suspended = {"1": {"status": "suspended"}}
        await eventually(lambda: shows(worker, suspended, first), 30,
                         "the silent producer's markets suspended")
        await asyncio.to_thread(rabbitmq, "up")
        await eventually(ingestor.ready, 90, "the ingestor reconnected")
        await eventually(lambda: len(api.of("liveodds")) >= 2, 60,
                         "the recovery request after the outage")
        request = api.of("liveodds")[1]
        assert "after" in request["query"]  # what was missed since the last alive
        await answer_recovery(feed, request)
        await asyncio.sleep(2)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def current() -> bool:
        for match in feed.matches:
            market = by_id(await view(worker, match.event)).get("1")
            if not market or market["status"] != "active" or \
                    market["outcomes"][0]["odds"] != feed.latest[match.event]:
                return False
        return True

    await eventually(current, 60, "every match at its latest price, active again")
    assert await ingestor.metric("odds_ingest_reconnects_total", provider="uof") >= 1
    received = await ingestor.metric("odds_ingest_messages_total", provider="uof")
    raw = await read_raw(platform.topic("feed.raw.uof.v1"))
    # The queue bound again, the ingestor told the producer it had seen that its
    # subscription lost messages (the platform then recovers them).
    own = [r for r in raw if r.headers.get("origin") == b"ingest:subscribed-again"]
    assert [(r.key, b'subscribed="0"' in r.value) for r in own] == [(b"producer:1", True)]
    assert await ingestor.metric("odds_ingest_acked_total", provider="uof") == received + len(own)
    # Every message the ingestor received is in Kafka, and every one the broker confirmed,
    # before the outage, while it lasted (refused then) and after it.
    assert len(raw) - len(own) == received
    assert sender.refused > 0
    missing = set(sender.confirmed) - {record.value for record in raw}
    assert not missing, f"{len(missing)} confirmed messages missing, e.g. {sorted(missing)[0]!r}"


async def answer_recovery(feed: LiveFeed, request: dict[str, Any]) -> None:
    """Do what Sportradar does for a recovery: each match's current odds, then
    snapshot_complete with the request's id."""
    request_id = int(request["query"]["request_id"])
    for match in feed.matches:
        if match.event in feed.latest:
            assert await feed.odds_of(match, feed.latest[match.event], request_id)
    _, complete = feed.matches[0].snapshot_complete(LIVE, request_id)
    assert await feed.sender.publish(system_routing_key("snapshot_complete"), complete)
