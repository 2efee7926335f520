"""Hostile GraphQL through a running worker: costly documents, huge bodies, broken requests.

One worker holds an event of 4,000 markets and a small event. Costly documents are refused
or stopped, never allowed to stall the worker: ``/health`` answers and a feed update shows up
promptly while they run. Bodies are bounded before they are read; request errors are 400s
that leave no ERROR and no traceback in the log; introspection and suggestions are off.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from tests.integration.support import Platform, Worker, eventually, produce
from tests.integration.web_support import Feed, market, x12

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

BIG = "sr:match:9001"
SMALL = "sr:match:9002"
MARKETS = 4000
#: Markets per odds_change (the contract allows 2,000).
PER_MESSAGE = 2000
MIB = 1024 * 1024
#: The hostile run's request: 1.4 KB that took 19.3 s on a 4,000-market event.
TWENTY_ALIASES = "{" + " ".join(
    f'a{i}: event(id: "{BIG}") {{ markets {{ outcomes {{ id }} }} }}' for i in range(20)) + "}"
#: Allowed by the static estimate, but resolves 4,000 markets per alias at run time.
SIX_ALIASES = "{" + " ".join(
    f'a{i}: event(id: "{BIG}") {{ markets {{ marketId }} }}' for i in range(6)) + "}"
#: The most of the big event one request may have: 4,000 markets and 12,000 outcomes.
WHOLE_EVENT = f'{{ event(id: "{BIG}") {{ markets {{ outcomes {{ id }} }} }} }}'
HEALTH_BOUND = 0.25
#: GRAPHQL_TIME_BUDGET of the module's worker: the whole 4,000-market event takes ~1.3 s
#: alone and went over the default 2 s in a full suite run; these tests are about cost.
TIME_BUDGET = 5.0
FEED_BOUND = 1.0


@dataclass
class Served:
    platform: Platform
    worker: Worker
    feed: Feed


def big_event_feed() -> Feed:
    feed = Feed()
    start = feed.ts + 3_600_000
    for event_id in (BIG, SMALL):
        feed.add("fixture_change", event_id, change_type="new", start_time=start,
                 sport="soccer", competition="league", home="H", away="A")
    for first in range(0, MARKETS, PER_MESSAGE):
        feed.add("odds_change", BIG, markets=[
            market(str(1000 + i), "", {"1": 2.0, "2": 3.4, "3": 3.9})
            for i in range(first, first + PER_MESSAGE)])
    feed.add("odds_change", SMALL, markets=[x12(2.1, 3.4, 3.6)])
    return feed


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    """One worker with a 4,000-market event; tests only read from it (and move SMALL)."""
    platform = Platform(Path(tmp_path_factory.mktemp("hostile-graphql")),
                        extra_env={"PRODUCER_TIMEOUT": "3600",
                                   "GRAPHQL_TIME_BUDGET": str(TIME_BUDGET)})
    await platform.create()
    try:
        worker = await platform.start_worker()
        feed = big_event_feed()
        await produce(platform.topic("feed.v1"), feed.records())

        async def loaded() -> bool:
            status, body = await worker.get(f"/events/{BIG}")
            if status != 200 or len(body["markets"]) != MARKETS:
                return False
            status, body = await worker.get("/events")
            return status == 200 and body["total"] == 2

        await eventually(loaded, 120, f"{BIG} with {MARKETS} markets, and the event list")
        yield Served(platform, worker, feed)
    finally:
        await platform.destroy()


async def post(worker: Worker, body: Any, limit: float = 30) -> tuple[int, Any, float]:
    """POST a GraphQL body; return the status, the decoded answer and the seconds taken."""
    started = time.monotonic()
    async with aiohttp.ClientSession() as http, http.post(
            f"{worker.url}/graphql", data=orjson.dumps(body),
            timeout=aiohttp.ClientTimeout(total=limit)) as resp:
        answer = orjson.loads(await resp.read())
        return resp.status, answer, time.monotonic() - started


def codes(answer: Any) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in answer.get("errors", [])]


def log_from(worker: Worker, offset: int) -> str:
    return worker.log.read_bytes()[offset:].decode(errors="replace")


async def test_a_costly_document_is_refused_before_it_runs(served: Served) -> None:
    hundreds = "{" + " ".join(f"p{i}: events(limit: 200) {{ events {{ eventId markets "
                              f"{{ marketId }} }} }}" for i in range(50)) + "}"
    for query in (TWENTY_ALIASES, hundreds):
        status, answer, seconds = await post(served.worker, {"query": query})
        assert status == 400, answer
        assert set(answer) == {"errors"} and codes(answer) == ["too_costly"], answer
        assert seconds < 1.0, f"refused after {seconds:.2f} s"


async def test_a_document_that_looks_cheap_is_stopped_while_it_runs(served: Served) -> None:
    status, answer, seconds = await post(served.worker, {"query": SIX_ALIASES})
    assert status == 400, answer
    assert set(answer) == {"errors"} and codes(answer) == ["too_costly"], answer
    # The same event once is within the budget, and answered whole.
    status, answer, seconds = await post(served.worker, {"query": WHOLE_EVENT})
    assert status == 200 and "errors" not in answer, answer
    markets = answer["data"]["event"]["markets"]
    assert len(markets) == MARKETS and all(len(m["outcomes"]) == 3 for m in markets)
    print(f"\nwhole {MARKETS}-market event in {seconds:.2f} s")  # noqa: T201


async def test_costly_requests_leave_health_and_the_feed_alone(served: Served) -> None:
    worker = served.worker
    statuses: list[tuple[int, list[str], float]] = []
    health: list[float] = []
    done = asyncio.Event()

    async def client(query: str) -> None:
        while not done.is_set():
            status, answer, seconds = await post(worker, {"query": query}, limit=60)
            statuses.append((status, codes(answer), seconds))

    async def probe() -> None:
        async with aiohttp.ClientSession() as http:
            while not done.is_set():
                started = time.monotonic()
                async with http.get(f"{worker.url}/health") as resp:
                    assert resp.status == 200, await resp.text()
                health.append(time.monotonic() - started)
                await asyncio.sleep(0.02)

    tasks = [asyncio.create_task(client(q)) for q in (TWENTY_ALIASES, SIX_ALIASES,
                                                      WHOLE_EVENT, WHOLE_EVENT, WHOLE_EVENT)]
    tasks.append(asyncio.create_task(probe()))
    try:
        await eventually(lambda: len(statuses) >= 5, 60, "the costly requests to run",
                         interval=0.05)
        update = Feed(ts=served.feed.ts + 1)
        update.add("odds_change", SMALL, markets=[x12(1.77, 3.4, 3.6)])
        sent = time.monotonic()
        await produce(served.platform.topic("feed.v1"), update.records())

        async def moved() -> bool:
            status, body = await worker.get(f"/events/{SMALL}/markets/1")
            return status == 200 and body["outcomes"][0]["odds"] == 1.77

        await eventually(moved, 30, "the feed update", interval=0.02)
        feed_seconds = time.monotonic() - sent
        await eventually(lambda: len(statuses) >= 15 and len(health) >= 100, 60,
                         "more costly requests, and 100 probes of /health", interval=0.05)
    finally:
        done.set()
        await asyncio.gather(*tasks)
    print(f"\n{len(statuses)} costly requests; /health max {max(health) * 1000:.0f} ms "  # noqa: T201
          f"over {len(health)} probes; feed update seen after {feed_seconds * 1000:.0f} ms; "
          f"slowest answer {max(s for _, _, s in statuses):.2f} s")
    assert max(health) < HEALTH_BOUND, sorted(health)[-5:]
    assert feed_seconds < FEED_BOUND
    budget = TIME_BUDGET
    for status, found, seconds in statuses:
        assert (status, found) in ((200, []), (400, ["too_costly"]), (503, ["timeout"]),
                                   (503, ["busy"])), found
        assert seconds < budget + 1.0, f"answered after {seconds:.2f} s"


async def peak_rss_kib(worker: Worker, stop: asyncio.Event) -> int:
    """The largest RSS of ``worker`` seen every 10 ms until ``stop`` is set."""
    peak = worker.rss_kib()
    while not stop.is_set():
        peak = max(peak, worker.rss_kib())
        await asyncio.sleep(0.01)
    return max(peak, worker.rss_kib())


async def raw_post(worker: Worker, headers: dict[str, str],
                   chunks: Callable[[], AsyncIterator[bytes]]) -> tuple[int, Any]:
    """POST over a bare connection, sending ``chunks`` until the worker answers."""
    host, port = worker.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"POST /graphql HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode())

    async def send() -> None:
        with contextlib.suppress(ConnectionError):
            async for chunk in chunks():
                writer.write(chunk)
                await writer.drain()

    sender = asyncio.create_task(send())
    try:
        status_line, _, rest = (await asyncio.wait_for(
            reader.readuntil(b"\r\n\r\n"), 60)).partition(b"\r\n")
        lengths = [int(line.split(b":")[1]) for line in rest.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")]
        body = await asyncio.wait_for(reader.readexactly(lengths[0]), 30)
        return int(status_line.split()[1]), orjson.loads(body)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def filler(total: int, chunked: bool) -> Callable[[], AsyncIterator[bytes]]:
    block = b'{"query": "' + b"x" * (MIB - 11)

    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            piece = block[:min(MIB, total - sent)]
            sent += len(piece)
            yield b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
        if chunked:
            yield b"0\r\n\r\n"

    return chunks


async def test_a_huge_body_is_refused_before_it_is_read(served: Served) -> None:
    worker = served.worker
    total = 150 * MIB
    for headers, chunked in (({"Content-Length": str(total)}, False),
                             ({"Transfer-Encoding": "chunked"}, True)):
        before = worker.rss_kib()
        stop = asyncio.Event()
        sampler = asyncio.create_task(peak_rss_kib(worker, stop))
        try:
            status, answer = await raw_post(worker, {
                "Content-Type": "application/json", **headers}, filler(total, chunked))
        finally:
            stop.set()
        grown = (await sampler - before) / 1024
        print(f"\n150 MB POST ({'chunked' if chunked else 'Content-Length'}): "  # noqa: T201
              f"{status}, RSS grew {grown:.1f} MiB")
        assert status == 413, answer
        assert answer["error"]["code"] == "too_large" and answer["error"]["message"], answer
        assert grown < 5, f"RSS grew {grown:.1f} MiB"
    assert await served.worker.status("/health") == 200


@pytest.mark.parametrize(("name", "body"), [
    ("empty query", {"query": ""}),
    ("blank query", {"query": "  \n "}),
    ("fragment only", {"query": "fragment F on Query { events { total } }"}),
    ("unknown operationName", {"query": "query A { events { total } }", "operationName": "B"}),
    ("two operations, none named", {"query": "query A { __typename } query B { __typename }"}),
    ("does not parse", {"query": "{ events { total }"}),
    ("not GraphQL", {"query": "SELECT * FROM events"}),
    ("unknown mutation", {"query": 'mutation { deleteEvent(id: "x") }'}),
    ("subscription", {"query": "subscription { __typename }"}),
    ("bad variable", {"query": "query($n: Int!) { events(limit: $n) { total } }",
                      "variables": {"n": "many"}}),
    ("fragment bomb", {"query": "{ events { events { ...A } } } " + " ".join(
        f"fragment {chr(65 + i)} on Event {{ eventId ...{chr(66 + i)} ...{chr(66 + i)} }}"
        for i in range(25)) + " fragment Z on Event { eventId }"}),
    ("repeated field", {"query": "{ events { events { " + " ".join(
        "markets { marketId }" for _ in range(400)) + " } } }"}),
])
async def test_request_errors_are_400s_and_not_logged_as_errors(
        served: Served, name: str, body: dict[str, Any]) -> None:
    offset = served.worker.log.stat().st_size
    status, answer, seconds = await post(served.worker, body)
    assert status == 400, (name, answer)
    assert set(answer) == {"errors"} and answer["errors"], (name, answer)
    for found in answer["errors"]:
        assert found["message"] and found["extensions"]["code"] == "bad_request", (name, found)
    assert seconds < 1.0, f"{name}: answered after {seconds:.2f} s"
    await asyncio.sleep(0.2)  # the worker writes its log asynchronously
    written = log_from(served.worker, offset)
    assert "[ERROR]" not in written and "Traceback" not in written, written[-3000:]


async def test_introspection_is_off_unless_configured(served: Served, tmp_path: Path) -> None:
    for query in ("{ __schema { queryType { name } } }", '{ __type(name: "Event") { name } }'):
        status, answer, _ = await post(served.worker, {"query": query})
        assert status == 400 and set(codes(answer)) == {"bad_request"}, answer
        assert "introspection" in answer["errors"][0]["message"], answer
    assert (await post(served.worker, {"query": "{ __typename }"}))[:2] == (
        200, {"data": {"__typename": "Query"}})

    platform = Platform(tmp_path, extra_env={"GRAPHQL_INTROSPECTION": "true"})
    await platform.create()
    try:
        worker = await platform.start_worker()
        status, answer, _ = await post(worker, {"query": "{ __schema { queryType { name } } }"})
        assert (status, answer) == (200, {"data": {"__schema": {"queryType": {"name": "Query"}}}})
        status, answer, _ = await post(worker, {"query": "{ events { totl } }"})
        assert status == 400 and "Did you mean" in answer["errors"][0]["message"], answer
    finally:
        await platform.destroy()


@pytest.mark.parametrize("body", [
    {"query": f'{{ event(id: "{BIG}") {{ markts {{ marketId }} }} }}'},
    {"query": "{ events(limt: 5) { total } }"},
    {"query": '{ events(filter: {sprt: "soccer"}) { total } }'},
    {"query": "query($f: EventFilter) { events(filter: $f) { total } }",
     "variables": {"f": {"sprt": "soccer"}}},
    {"query": "query($f: EventFiltr) { events(filter: $f) { total } }"},
])
async def test_a_misspelt_name_gets_no_suggestion(served: Served, body: dict[str, Any]) -> None:
    status, answer, _ = await post(served.worker, body)
    assert status == 400 and answer["errors"], answer
    for found in answer["errors"]:
        assert "Did you mean" not in found["message"], found

