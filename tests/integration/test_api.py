"""Every HTTP endpoint against a real worker, and every produced record against its schema."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from models.event import public_event
from models.keys import market_key, partition_for
from models.memory import MemoryState
from tests.integration.support import BOOTSTRAP, ROOT, Platform, Worker, eventually, produce
from tests.integration.web_support import (
    BAD_RECORDS,
    CONTRACT_TOPICS,
    ENDED,
    EVENT_IDS,
    LIVE,
    OTHER,
    UPCOMING,
    Feed,
    expected_state,
    read_raw,
    scenario,
    schema,
)
from web.shapes import event_summary, event_view, market_view

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]


@dataclass
class Served:
    platform: Platform
    worker: Worker
    feed: Feed
    reference: MemoryState

    def view(self, event_id: str) -> dict[str, Any]:
        markets = [m for m in self.reference.markets.values() if m["event_id"] == event_id]
        return event_view(self.reference.events[event_id], markets)

    def summary(self, event_id: str) -> dict[str, Any]:
        return event_summary(public_event(self.reference.events[event_id]))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    """One worker fed the scenario; tests only read from it."""
    platform = Platform(Path(tmp_path_factory.mktemp("api")),
                        extra_env={"PRODUCER_TIMEOUT": "3600", "HEALTH_STALL_SECONDS": "2"})
    await platform.create()
    try:
        worker = await platform.start_worker()
        feed = scenario()
        await produce(platform.topic("feed.v1"), [*feed.records(), *BAD_RECORDS])
        served = Served(platform, worker, feed, expected_state(feed, platform.partitions))

        async def applied() -> bool:
            status, body = await worker.get("/events?limit=200")
            if status != 200 or body["total"] != len(EVENT_IDS):
                return False
            if {e["event_id"]: e for e in body["events"]} != {
                    e: served.summary(e) for e in EVENT_IDS}:
                return False
            for event_id in EVENT_IDS:
                status, view = await worker.get(f"/events/{event_id}")
                if status != 200 or view != served.view(event_id):
                    return False
            return True

        await eventually(applied, 60, "the scenario to reach the list and every event")
        yield served
    finally:
        await platform.destroy()


async def ids(worker: Worker, query: str) -> tuple[int, list[str]]:
    status, body = await worker.get(f"/events{query}")
    assert status == 200, body
    return body["total"], [e["event_id"] for e in body["events"]]


async def test_list_is_sorted_by_start_time_then_id(served: Served) -> None:
    status, body = await served.worker.get("/events")
    assert status == 200
    assert body["limit"] == 50 and body["offset"] == 0 and body["total"] == 4
    assert [e["event_id"] for e in body["events"]] == [ENDED, LIVE, OTHER, UPCOMING]
    assert body["events"] == [served.summary(e) for e in (ENDED, LIVE, OTHER, UPCOMING)]


@pytest.mark.parametrize(("query", "expected"), [
    ("?status=live", [LIVE, OTHER]),
    ("?status=ended", [ENDED]),
    ("?sport=soccer", [LIVE, UPCOMING]),
    ("?sport=SOCCER", [LIVE, UPCOMING]),
    ("?live=true", [LIVE, OTHER]),
    ("?live=false", [ENDED, UPCOMING]),
    ("?live=true&sport=basketball", [OTHER]),
    ("?status=not_started&live=true", []),
    ("?sport=curling", []),
])
async def test_list_filters(served: Served, query: str, expected: list[str]) -> None:
    assert await ids(served.worker, query) == (len(expected), expected)


async def test_list_pages(served: Served) -> None:
    assert await ids(served.worker, "?limit=2") == (4, [ENDED, LIVE])
    assert await ids(served.worker, "?limit=2&offset=2") == (4, [OTHER, UPCOMING])
    assert await ids(served.worker, "?limit=1&offset=3") == (4, [UPCOMING])
    assert await ids(served.worker, "?offset=4") == (4, [])
    assert await ids(served.worker, "?limit=200&sport=soccer&offset=1") == (2, [UPCOMING])


@pytest.mark.parametrize("query", [
    "?status=bogus", "?status=", "?live=yes", "?live=1", "?limit=0", "?limit=201",
    "?limit=abc", "?limit=-1", "?offset=-1", "?offset=1.5", "?offset=99999999999",
    "?colour=red", "?status=live&status=ended", "?sport=%3Cscript%3E",
    "?sport=" + "x" * 101,
])
async def test_list_rejects_bad_input(served: Served, query: str) -> None:
    status, body = await served.worker.get(f"/events{query}")
    assert status == 400
    assert body["error"]["code"] == "bad_request" and body["error"]["message"]
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}


async def test_event_detail(served: Served) -> None:
    for event_id in EVENT_IDS:
        assert await served.worker.get(f"/events/{event_id}") == (200, served.view(event_id))
    status, body = await served.worker.get("/events/sr:match:424242")
    assert status == 404 and body["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", [
    "/events/not-an-id", "/events/sr:match:" + "1" * 100, "/events/SR:MATCH:1",
    "/events/sr:match:1%20",
])
async def test_event_detail_rejects_bad_ids(served: Served, path: str) -> None:
    status, body = await served.worker.get(path)
    assert status == 400 and body["error"]["code"] == "bad_request"


def market_expected(served: Served, event_id: str, market_id: str,
                    specifiers: str) -> dict[str, Any]:
    snapshot = served.reference.markets[market_key(event_id, market_id, specifiers)]
    return {"event_id": event_id, **market_view(snapshot)}


async def test_market_detail(served: Served) -> None:
    get = served.worker.get
    assert await get(f"/events/{LIVE}/markets/1") == (200, market_expected(served, LIVE, "1", ""))
    assert await get(f"/events/{LIVE}/markets/18?specifiers=total=2.5") == (
        200, market_expected(served, LIVE, "18", "total=2.5"))
    # Specifiers in any order find the canonical key.
    expected = market_expected(served, UPCOMING, "16", "hcp=-1|variant=sr:goals")
    for given in ("variant=sr:goals|hcp=-1", "hcp=-1|variant=sr:goals"):
        assert await get(f"/events/{UPCOMING}/markets/16?specifiers={given}") == (200, expected)
    settled = (await get(f"/events/{LIVE}/markets/18?specifiers=total=1.5"))[1]
    assert settled["status"] == "settled" and settled["settlement"]["certainty"] == 2
    assert [(o["result"], o["void_factor"], o["dead_heat_factor"])
            for o in settled["outcomes"]] == [("won", None, 0.5), ("lost", 0.5, None)]
    for path in (f"/events/{LIVE}/markets/999", f"/events/{LIVE}/markets/18",
                 f"/events/{LIVE}/markets/18?specifiers=total=9.5",
                 "/events/sr:match:424242/markets/1"):
        status, body = await get(path)
        assert status == 404 and body["error"]["code"] == "not_found", path


@pytest.mark.parametrize("path", [
    f"/events/{LIVE}/markets/" + "1" * 65,
    f"/events/{LIVE}/markets/1?specifiers=total",
    f"/events/{LIVE}/markets/1?specifiers=" + "a=1|" * 70,
    f"/events/{LIVE}/markets/1?spec=total=2.5",
    f"/events/{LIVE}/markets/1?specifiers=a=1&specifiers=b=2",
    "/events/bad/markets/1",
])
async def test_market_detail_rejects_bad_input(served: Served, path: str) -> None:
    status, body = await served.worker.get(path)
    assert status == 400 and body["error"]["code"] == "bad_request", path


async def graphql(worker: Worker, query: str, variables: dict[str, Any] | None = None,
                  ) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{worker.url}/graphql", json={"query": query, "variables": variables}) as resp:
        return resp.status, await resp.json(content_type=None)


EVENT_FIELDS = """eventId status matchStatus clock bettingStatus betstopReason startTime sport
  competition home away marketCounts score { home away } periodScores
  markets { eventId marketId specifiers name status producer margin version updatedTs
            settlement cancels outcomes { id name odds active probability impliedProbability
                                          american fractional direction result voidFactor
                                          deadHeatFactor } }"""
#: Fields GraphQL serves as JSON scalars, as REST has them.
JSON_FIELDS = ("market_counts", "settlement", "cancels", "period_scores")


def camel(view: dict[str, Any]) -> dict[str, Any]:
    def name(key: str) -> str:
        head, *rest = key.split("_")
        return head + "".join(p.title() for p in rest)

    return {name(k): v if k in JSON_FIELDS else camel(v) if isinstance(v, dict) else
            [camel(i) if isinstance(i, dict) else i for i in v] if isinstance(v, list) else v
            for k, v in view.items()}


async def test_graphql_event_events_and_market(served: Served) -> None:
    status, body = await graphql(served.worker, f"""
        query($id: ID!) {{ event(id: $id) {{ {EVENT_FIELDS} }}
                           missing: event(id: "sr:match:424242") {{ eventId }} }}""",
                                 {"id": LIVE})
    assert status == 200 and "errors" not in body, body
    expected = served.view(LIVE)
    expected["markets"] = [{"event_id": LIVE, **m} for m in expected["markets"]]
    assert body["data"]["event"] == camel(expected)
    assert body["data"]["missing"] is None

    status, body = await graphql(served.worker, """{
        events(filter: {sport: "soccer"}, limit: 1, offset: 1) {
          total limit offset events { eventId markets { marketId specifiers } } }
        live: events(filter: {live: true}) { total events { eventId status } } }""")
    assert status == 200 and "errors" not in body, body
    page = body["data"]["events"]
    assert (page["total"], page["limit"], page["offset"]) == (2, 1, 1)
    assert page["events"] == [{"eventId": UPCOMING, "markets": [
        {"marketId": m["market_id"], "specifiers": m["specifiers"]}
        for m in served.view(UPCOMING)["markets"]]}]
    assert body["data"]["live"] == {"total": 2, "events": [
        {"eventId": LIVE, "status": "live"}, {"eventId": OTHER, "status": "live"}]}

    status, body = await graphql(served.worker, """{
        market(eventId: "sr:match:7002", marketId: "16", specifiers: "variant=sr:goals|hcp=-1") {
          eventId marketId specifiers version outcomes { id odds } }
        none: market(eventId: "sr:match:7002", marketId: "16") { marketId } }""")
    assert status == 200 and "errors" not in body, body
    market = market_expected(served, UPCOMING, "16", "hcp=-1|variant=sr:goals")
    assert body["data"]["market"] == {
        "eventId": UPCOMING, "marketId": "16", "specifiers": "hcp=-1|variant=sr:goals",
        "version": market["version"],
        "outcomes": [{"id": o["id"], "odds": o["odds"]} for o in market["outcomes"]]}
    assert body["data"]["none"] is None


@pytest.mark.parametrize("query", [
    '{ event(id: "nope") { eventId } }',
    '{ events(filter: {status: "bogus"}) { total } }',
    '{ events(limit: 500) { total } }',
    '{ events(offset: -1) { total } }',
    '{ market(eventId: "sr:match:7001", marketId: "1", specifiers: "total") { version } }',
])
async def test_graphql_rejects_bad_arguments(served: Served, query: str) -> None:
    status, body = await graphql(served.worker, query)
    assert status == 200
    assert body["errors"][0]["extensions"]["code"] == "bad_request", body


async def test_graphql_request_errors(served: Served) -> None:
    url = f"{served.worker.url}/graphql"
    async with aiohttp.ClientSession() as http:
        for raw in (b"not json", b"[]", b'{"query": 5}', b'{"query": "{ x }", "variables": 3}'):
            async with http.post(url, data=raw) as resp:
                body = await resp.json(content_type=None)
                assert resp.status == 400 and body["error"]["code"] == "bad_request", raw
        async with http.get(url) as resp:
            body = await resp.json()
            assert resp.status == 405 and body["error"]["code"] == "method_not_allowed"
            assert "POST" in resp.headers["Allow"]
    # A document that does not validate is refused before execution: a GraphQL error, 400.
    status, body = await graphql(served.worker, "{ nosuchfield }")
    assert status == 400 and set(body) == {"errors"}
    assert body["errors"][0]["extensions"]["code"] == "bad_request"


async def test_health_ready_and_metrics(served: Served) -> None:
    assert await served.worker.get("/health") == (200, {"status": "ok"})
    assert await served.worker.get("/ready") == (200, {"status": "ready"})
    async with aiohttp.ClientSession() as http, http.get(f"{served.worker.url}/metrics") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    sent = sum(1 for m in served.feed.messages if (m["type"], m["producer"]) == ("odds_change", 1))
    assert value("odds_feed_messages_total", type="odds_change", producer="1") == sent
    assert value("odds_market_updates_total", verdict="dead_lettered") == len(BAD_RECORDS)
    assert value("odds_producer_up", producer="2") == 0
    assert value("odds_read_model_events") == len(EVENT_IDS)
    assert value("odds_table_keys", table="events") >= len(EVENT_IDS)
    feed_topic = served.platform.topic("feed.v1")
    lags = [v for (n, labels), v in samples.items()
            if n == "odds_consumer_lag_records" and ("topic", feed_topic) in labels]
    assert len(lags) == served.platform.partitions and all(v == 0 for v in lags)
    # Idle past the liveness window: the commit markers ending every feed partition (the
    # worker writes producer status there in transactions) are not records waiting. A
    # duration, not a condition: /health must stay green once HEALTH_STALL_SECONDS (2) have
    # passed with nothing to do, and no probe may come in between (a probe that finds
    # nothing waiting restarts the window).
    await asyncio.sleep(2.5)
    assert await served.worker.get("/health") == (200, {"status": "ok"})
    names = {n for n, _ in samples}
    for name in ("odds_end_to_end_latency_seconds_bucket", "odds_message_processing_seconds_count",
                 "odds_sink_batch_size_bucket", "odds_sink_batch_seconds_count",
                 "odds_sink_errors_total", "odds_stream_clients",
                 "odds_batch_processing_seconds_sum"):
        assert name in names, name

    def total(name: str) -> float:
        return sum(v for (n, _), v in samples.items() if n == name)

    # Planning and the transaction wait are parts of each batch's time.
    planning, waiting = (total("odds_batch_planning_seconds_sum"),
                         total("odds_transaction_seconds_sum"))
    assert planning > 0 and waiting > 0
    assert planning + waiting <= total("odds_batch_processing_seconds_sum")
    assert (total("odds_transaction_seconds_count")
            == total("odds_batch_processing_seconds_count") > 0)
    # Every feed message the worker read was in one batch (it also reads the producer
    # status it writes to the feed, so at least the messages sent).
    assert total("odds_batch_messages_count") == total("odds_batch_processing_seconds_count")
    assert total("odds_batch_messages_sum") >= len(served.feed.messages)


async def test_board_and_assets(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{served.worker.url}/") as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            assert "Content-Security-Policy" in resp.headers
            assert "/static/board.js" in await resp.text()
        for name, kind in (("board.js", "text/javascript"), ("board.css", "text/css")):
            async with http.get(f"{served.worker.url}/static/{name}") as resp:
                assert resp.status == 200 and resp.content_type == kind
    status, body = await served.worker.get("/static/secrets.txt")
    assert status == 404 and body["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/nowhere", "/events/sr:match:1/extra/x/y", "/table/"])
async def test_unknown_paths_are_json_404s(served: Served, path: str) -> None:
    status, body = await served.worker.get(path)
    assert status == 404 and body == {"error": {"code": "not_found", "message": "Not Found"}}


async def test_stream_rejects_bad_input(served: Served) -> None:
    assert (await served.worker.get("/stream?event_id=nope"))[0] == 400
    assert (await served.worker.get("/stream?last_event_id=1.x.3"))[0] == 400
    async with aiohttp.ClientSession() as http, http.get(
            f"{served.worker.url}/stream", headers={"Last-Event-ID": "abc"}) as resp:
        assert resp.status == 400


async def test_every_produced_record_matches_its_schema(served: Served) -> None:
    bad_values = {value for _, value in BAD_RECORDS}
    counts: dict[str, int] = {}
    for topic in CONTRACT_TOPICS:
        validator = schema(topic)
        records = await read_raw(served.platform.topic(topic))
        counts[topic] = len(records)
        last_version: dict[str, int] = {}
        for rec in records:
            if topic == "feed.v1" and rec.value in bad_values:
                continue
            assert rec.value is not None and rec.key is not None, (topic, rec)
            value = orjson.loads(rec.value)
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]
            assert not errors, (topic, rec.key, errors)
            check_key_and_order(topic, rec.key.decode(), rec.partition, value, last_version,
                                served.platform.partitions)
    assert all(counts[t] for t in CONTRACT_TOPICS), counts


def check_key_and_order(topic: str, key: str, partition: int, value: dict[str, Any],
                        last_version: dict[str, int], partitions: int) -> None:
    """Keys follow the contract; an event's records stay on its feed partition; versions of
    a market only grow (strictly on markets.v1 and odds-changes.v2)."""
    if topic in ("markets.v1", "odds-changes.v2", "settlements.v1"):
        assert key == market_key(value["event_id"], value["market_id"], value["specifiers"])
    elif topic == "events.v1":
        assert key == value["event_id"]
    elif topic == "recovery_requests.v1":
        assert key == str(value["producer"])
        return
    elif topic == "feed.v1":
        assert key == (value.get("event_id") or f"producer:{value['producer']}")
        return
    else:
        return
    assert partition == partition_for(value["event_id"].encode(), partitions), (topic, key)
    previous = last_version.get(key, 0)
    if topic in ("markets.v1", "events.v1", "odds-changes.v2"):
        assert value["version"] > previous, (topic, key)
    else:
        assert value["version"] >= previous, (topic, key)
    last_version[key] = value["version"]


async def test_bad_records_are_really_bad() -> None:
    """The dead letters of the scenario break the feed schema, so skipping them is fair."""
    validator = schema("feed.v1")
    invalid = 0
    for key, raw in BAD_RECORDS:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            invalid += 1
            continue
        if list(validator.iter_errors(value)) or key.decode() != value.get("event_id"):
            invalid += 1
    assert invalid == len(BAD_RECORDS)


async def test_example_consumer_materialises_markets(served: Served) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "examples/consumer.py", "--bootstrap", BOOTSTRAP, "--topic-prefix",
        f"{served.platform.name}.", "--once", cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert f"materialised {len(served.reference.markets)} markets" in stdout.decode()
