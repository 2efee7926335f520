"""Two workers on one deployment: any worker answers for any event, lists everything, and a
stream resumed on the other worker misses nothing and repeats nothing."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson
import pytest

from feeds.generator import OddsGenerator
from models.memory import MemoryState, replay
from tests.integration.support import Platform, Worker, eventually, produce
from tests.integration.web_support import SSE, Frame, read_raw
from web.shapes import event_view

pytestmark = pytest.mark.timeout(300)

EVENTS = 24


def fixtures(generator: OddsGenerator, ts: int) -> list[dict[str, Any]]:
    return [{"type": "fixture_change", "event_id": e, "producer": 1, "ts": ts, "sport": "soccer",
             "start_time": 1_900_000_000_000 + i * 60_000, "home": f"H{i}", "away": f"A{i}"}
            for i, e in enumerate(generator.event_ids)]


def records(messages: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    return [(m["event_id"].encode(), orjson.dumps(m)) for m in messages]


async def feed_partitions(worker: Worker, platform: Platform) -> set[int]:
    """The feed.v1 partitions a worker's agents consume, read from its lag metrics."""
    async with aiohttp.ClientSession() as http, http.get(f"{worker.url}/metrics") as resp:
        text = await resp.text()
    marker = f'topic="{platform.topic("feed.v1")}"'
    return {int(line.split('partition="')[1].split('"')[0]) for line in text.splitlines()
            if line.startswith("odds_consumer_lag_records{") and marker in line}


async def start_two(platform: Platform) -> tuple[Worker, Worker]:
    """Start two workers and wait until they share the partitions and are ready.

    The feed starts only then: records that arrive while the second worker joins can be
    skipped by the odds agent (a rebalance problem outside the HTTP layer, reported)."""
    first = await platform.start_worker(0)
    second = await platform.start_worker(1)

    async def split() -> bool:
        ours = await feed_partitions(first, platform)
        theirs = await feed_partitions(second, platform)
        return bool(ours) and bool(theirs) and not ours & theirs and len(ours | theirs) == 8

    await eventually(split, 90, "both workers to own feed partitions")
    await eventually(first.ready, 90, "the first worker to be ready")
    await eventually(second.ready, 90, "the second worker to be ready")
    return first, second


async def test_any_worker_answers_for_every_event(platform: Platform) -> None:
    first, second = await start_two(platform)
    generator = OddsGenerator(EVENTS, seed=11)
    now = int(time.time() * 1000)
    messages = fixtures(generator, now - 10_000) + list(generator.messages(400, now - 5_000))
    await produce(platform.topic("feed.v1"), records(messages))
    reference = MemoryState()
    replay(reference, messages, platform.partitions)
    views = {e: event_view(reference.events[e], [m for m in reference.markets.values()
                                                  if m["event_id"] == e])
             for e in generator.event_ids}

    async def everything_everywhere() -> bool:
        for worker in (first, second):
            status, body = await worker.get("/events?limit=200")
            if status != 200 or [e["event_id"] for e in body["events"]] != generator.event_ids:
                return False
            for event_id, view in views.items():
                if await worker.get(f"/events/{event_id}") != (200, view):
                    return False
        return True

    await eventually(everything_everywhere, 90, "every event from both workers")
    for worker in (first, second):
        for event_id, view in list(views.items())[:6]:
            market = view["markets"][0]
            query = f"?specifiers={market['specifiers']}" if market["specifiers"] else ""
            status, body = await worker.get(
                f"/events/{event_id}/markets/{market['market_id']}{query}")
            assert status == 200 and body == {"event_id": event_id, **market}
            async with aiohttp.ClientSession() as http, http.post(
                    f"{worker.url}/graphql",
                    json={"query": "query($id: ID!) { event(id: $id) { eventId markets {"
                                   " marketId version } } }", "variables": {"id": event_id}},
            ) as resp:
                body = await resp.json()
            assert body["data"]["event"] == {"eventId": event_id, "markets": [
                {"marketId": m["market_id"], "version": m["version"]} for m in view["markets"]]}
        status, body = await worker.get("/events/sr:match:424242")
        assert status == 404 and body["error"]["code"] == "not_found"


def identify(frames: list[Frame], start: str) -> list[tuple[int, int]]:
    """Recover (slot, offset) of each frame: its id differs from the previous in one slot."""
    found = []
    previous = [int(p) for p in start.split(".")]
    for frame in frames:
        assert frame.id is not None
        current = [int(p) for p in frame.id.split(".")]
        moved = [i for i, (a, b) in enumerate(zip(previous, current, strict=True)) if a != b]
        assert len(moved) == 1, (previous, current)
        found.append((moved[0], current[moved[0]] - 1))
        previous = current
    return found


async def open_stream(http: aiohttp.ClientSession, worker: Worker, last_id: str | None = None,
                      query: str = "") -> tuple[aiohttp.ClientResponse, SSE]:
    headers = {"Last-Event-ID": last_id} if last_id else {}
    response = await http.get(f"{worker.url}/stream{query}", headers=headers,
                              timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "text/event-stream"
    return response, SSE(response)


async def test_stream_resumes_on_the_other_worker_without_gaps_or_repeats(
        platform: Platform) -> None:
    first, second = await start_two(platform)
    generator = OddsGenerator(6, seed=5)
    now = int(time.time() * 1000)
    await produce(platform.topic("feed.v1"), records(fixtures(generator, now - 10_000)))
    await eventually(lambda: _listed(second, 6), 90, "both workers to list the events")
    await eventually(lambda: _listed(first, 6), 90, "both workers to list the events")

    async with aiohttp.ClientSession() as http:
        response, stream = await open_stream(http, first)
        await stream.collect(2, until=1)  # the opening block carries the starting id
        start = stream.last_id
        assert start is not None
        await produce(platform.topic("feed.v1"), records(list(generator.messages(40, now))))
        before = await stream.collect(20, until=25)
        response.close()
        assert len(before) == 25, "the first connection saw too little"
        await produce(platform.topic("feed.v1"),
                      records(list(generator.messages(40, now + 1000))))
        last_id = before[-1].id
        assert last_id is not None
        response, stream = await open_stream(http, second, last_id)
        after = await _until_quiet(stream)
        response.close()

    delivered = identify(before, start) + identify(after, last_id)
    assert len(delivered) == len(set(delivered)), "a change was delivered twice"
    expected = await _records_since(platform, start)
    assert sorted(delivered) == sorted(expected), "changes were missed or invented"
    data = {(slot, offset): value for slot, offset, value in await _values(platform)}
    for (slot, offset), frame in zip(delivered, before + after, strict=True):
        assert orjson.loads(frame.data) == orjson.loads(data[(slot, offset)])
    kinds = {f.event for f in before + after}
    assert kinds == {"changes", "event"}


async def test_stream_filters_by_event_and_resets_when_too_old(platform: Platform) -> None:
    worker = await platform.start_worker(0)
    generator = OddsGenerator(3, seed=9)
    now = int(time.time() * 1000)
    await produce(platform.topic("feed.v1"), records(fixtures(generator, now - 10_000)))
    await eventually(lambda: _listed(worker, 3), 90, "the events to be listed")
    wanted = generator.event_ids[0]
    async with aiohttp.ClientSession() as http:
        response, stream = await open_stream(http, worker, query=f"?event_id={wanted}")
        await produce(platform.topic("feed.v1"), records(list(generator.messages(60, now))))
        frames = await _until_quiet(stream)
        response.close()
        assert frames and {orjson.loads(f.data)["event_id"] for f in frames} == {wanted}
        # A worker started after these records cannot replay them: it says so.
        late = await platform.start_worker(1)
        await eventually(late.ready, 90, "the late worker to be ready")
        zeros = ".".join("0" for _ in range(2 * platform.partitions))
        for stale in (zeros, "1.2.3"):
            response, stream = await open_stream(http, late, stale)
            first = (await stream.collect(5, until=1))[0]
            response.close()
            assert first.event == "reset" and orjson.loads(first.data)["reason"]
            assert first.id is not None and len(first.id.split(".")) == 2 * platform.partitions




async def _listed(worker: Worker, count: int) -> bool:
    status, body = await worker.get("/events")
    return status == 200 and body["total"] == count


async def _until_quiet(stream: SSE, quiet: float = 3.0, limit: float = 30.0) -> list[Frame]:
    frames: list[Frame] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        more = await stream.collect(quiet)
        if not more:
            break
        frames += more
    return frames


async def _records_since(platform: Platform, start: str) -> list[tuple[int, int]]:
    positions = [int(p) for p in start.split(".")]
    return [(slot, offset) for slot, offset, _ in await _values(platform)
            if offset >= positions[slot]]


async def _values(platform: Platform) -> list[tuple[int, int, bytes]]:
    """Every record of the streamed topics as (slot, offset, value); slots as in the ids."""
    found = []
    for base, topic in ((0, "odds-changes.v2"), (platform.partitions, "events.v1")):
        for rec in await read_raw(platform.topic(topic)):
            assert rec.value is not None
            found.append((base + rec.partition, rec.offset, rec.value))
    return found
