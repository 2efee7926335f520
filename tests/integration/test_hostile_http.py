"""Hostile HTTP against a running worker: a deadline on request headers, HEAD without a body,
stream ids past the end, no versions, and a log without errors (``app/web_server.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform as interpreter
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import aiokafka
import faust
import orjson
import pytest
import pytest_asyncio

from tests.integration.support import FeedProducer, Platform, Worker, eventually
from tests.integration.web_support import SSE, Feed, Frame, record, x12

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

HEADER_TIMEOUT = 2.0
#: Faust's stream-inactivity check compares with ``stream_processing_timeout`` (300 s by
#: default; Faust reads ``STREAM_PROCESSING_TIMEOUT``) every 2.5 commit intervals of 2.8 s
#: (``Consumer._commit_livelock_detector``).
STREAM_TIMEOUT = 10.0
CHECK_INTERVAL = 2.5 * 2.8
#: Events on several partitions, so that several changelog partitions hold records.
EVENTS = [f"sr:match:{9000 + n}" for n in range(8)]
SLOWLORIS = 200
#: The ``Server`` header: a name, no versions.
SERVER = "odds-platform"
TLS_HELLO = bytes.fromhex("160301020001000203") + os.urandom(64)


@dataclass
class Served:
    """One worker, fed ``EVENTS``, with a producer to change their prices."""

    platform: Platform
    worker: Worker
    producer: FeedProducer
    ready_at: float
    feed: Feed = field(default_factory=Feed)
    price: float = 2.0

    async def change(self, event_id: str) -> float:
        """Send a new home price for ``event_id``; return it."""
        self.price = round(self.price + 0.01, 2)
        message = self.feed.add("odds_change", event_id, markets=[x12(self.price, 3.4, 3.6)])
        await self.producer.send(self.platform.topic("feed.v1"), [record(message)])
        return self.price

    async def apply(self, event_id: str) -> float:
        """Change ``event_id``'s home price and wait until the worker shows it."""
        price = await self.change(event_id)
        await eventually(lambda: self.shows(event_id, price), 60, f"{event_id} at {price}")
        return price

    async def shows(self, event_id: str, price: float) -> bool:
        """Whether ``GET /events/{event_id}`` shows ``price`` for the home win."""
        status, body = await self.worker.get(f"/events/{event_id}")
        return status == 200 and any(
            outcome["id"] == "1" and outcome["odds"] == price
            for market in body["markets"] if market["market_id"] == "1"
            for outcome in market["outcomes"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    """A worker with a short header deadline and a short stream-inactivity check."""
    platform = Platform(Path(tmp_path_factory.mktemp("hostile_http")), extra_env={
        "HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "STREAM_PROCESSING_TIMEOUT": str(STREAM_TIMEOUT),
        "PRODUCER_TIMEOUT": "3600"})
    await platform.create()
    try:
        worker = await platform.start_worker()
        await eventually(worker.ready, 90, "the worker ready")
        async with FeedProducer() as producer:
            served = Served(platform, worker, producer, time.monotonic())
            for event_id in EVENTS:
                await served.apply(event_id)
            await eventually(lambda: worker.answers("/stream?event_id=sr:match:0"), 30,
                             "the change stream started")
            yield served
    finally:
        await platform.destroy()


def address(worker: Worker) -> tuple[str, int]:
    host, port = worker.url.removeprefix("http://").split(":")
    return host, int(port)


async def exchange(worker: Worker, data: bytes, seconds: float = 10.0) -> bytes:
    """Send ``data`` on a new connection; return what comes back until it closes."""
    reader, writer = await asyncio.open_connection(*address(worker))
    chunks = []
    try:
        writer.write(data)
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(seconds):
                while chunk := await reader.read(65536):
                    chunks.append(chunk)
    finally:
        writer.close()
    return b"".join(chunks)


@dataclass
class Answer:
    """A response's status line, headers (lower-case names) and what followed them."""

    status: str
    headers: dict[str, str]
    rest: bytes


def parse(raw: bytes) -> Answer:
    head, _, rest = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return Answer(status, {k.lower(): v for k, v in headers.items()}, rest)


async def ask(worker: Worker, method: str, path: str) -> Answer:
    """One request; a ``GET`` is read up to its headers (``/stream`` never ends)."""
    data = f"{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode()
    if method == "HEAD":
        return parse(await exchange(worker, data))
    reader, writer = await asyncio.open_connection(*address(worker))
    try:
        writer.write(data)
        return parse(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10))
    finally:
        writer.close()


def log_since(worker: Worker, offset: int = 0) -> str:
    return worker.log.read_bytes()[offset:].decode(errors="replace")


def log_size(worker: Worker) -> int:
    return worker.log.stat().st_size


def open_files(worker: Worker) -> int:
    return len(os.listdir(f"/proc/{worker.proc.pid}/fd"))


def faults(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if "[ERROR]" in line or "[CRITICAL]" in line or line.startswith("Traceback")]


async def test_half_sent_headers_are_cut_off_while_requests_are_served(
        served: Served) -> None:
    worker = served.worker
    before = open_files(worker)
    kept = await asyncio.open_connection(*address(worker))
    kept[1].write(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
    assert (await kept[0].readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    await kept[0].readuntil(b"}")  # the body: the connection is now idle, kept alive
    opened_at = time.monotonic()
    slow = [await asyncio.open_connection(*address(worker)) for _ in range(SLOWLORIS)]
    for _, writer in slow:
        writer.write(b"GET /events HTTP/1.1\r\nHost: test\r\nX-Slow: ")
    held = open_files(worker)
    cut_at: dict[int, float] = {}

    async def watch(index: int, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(4096):
                pass
        cut_at[index] = time.monotonic()

    watchers = [asyncio.create_task(watch(i, r)) for i, (r, _) in enumerate(slow)]
    try:
        async def all_cut() -> bool:
            assert await worker.answers("/health"), "a normal request failed meanwhile"
            return len(cut_at) == SLOWLORIS

        await eventually(all_cut, HEADER_TIMEOUT + 20, f"{SLOWLORIS} slow clients cut off",
                         interval=0.2)
    finally:
        for task in watchers:
            task.cancel()
        for _, writer in slow:
            writer.close()
    assert min(cut_at.values()) - opened_at >= HEADER_TIMEOUT * 0.9
    after = open_files(worker)
    # Idle for longer than the header deadline, the kept-alive connection still serves.
    kept[1].write(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    assert (await kept[0].read()).startswith(b"HTTP/1.1 200")
    kept[1].close()
    print(f"\nworker file handles: {before} before, {held} with {SLOWLORIS} half-sent "  # noqa: T201
          f"requests, {after} once cut off after {max(cut_at.values()) - opened_at:.1f} s")


ROUTES = ("/", "/static/board.js", "/static/nope.js", "/events", "/events?limit=0",
          f"/events/{EVENTS[0]}", "/events/sr:match:424242", "/events/bad",
          f"/events/{EVENTS[0]}/markets/1", "/events/bad/markets/1", "/stream",
          f"/stream?event_id={EVENTS[0]}", "/stream?event_id=bad", "/health", "/ready",
          "/metrics", "/graphql", "/no/such/path")
#: Answers whose body, so length, changes from one request to the next.
CHANGING = frozenset({"/metrics"})


async def test_head_answers_what_get_does_without_a_body(served: Served) -> None:
    for path in ROUTES:
        got = await ask(served.worker, "GET", path)
        head = await ask(served.worker, "HEAD", path)
        assert head.status == got.status, path
        assert head.rest == b"", (path, head.rest[:200])
        names = ["content-type", "allow", "server"]
        if path not in CHANGING:
            names.append("content-length")
        for name in names:
            assert head.headers.get(name) == got.headers.get(name), (path, name)


async def fresh_id(worker: Worker) -> str:
    """The id ``/stream`` gives a new client."""
    reader, writer = await asyncio.open_connection(*address(worker))
    try:
        writer.write(b"GET /stream HTTP/1.1\r\nHost: test\r\n\r\n")
        text = ""
        while not (found := re.search(r"\nid: ([0-9.]+)\n\n", text)):
            text += (await asyncio.wait_for(reader.read(4096), 10)).decode()
        return found.group(1)
    finally:
        writer.close()


async def frame_about(sse: SSE, event_id: str, seconds: float) -> Frame | None:
    """The first frame of ``sse`` that mentions ``event_id``, or None after ``seconds``."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        for frame in await sse.collect(left, until=1):
            if event_id in frame.data:
                return frame
    return None


@pytest.mark.parametrize("via", ["header", "query"])
async def test_an_id_past_the_end_is_reset_then_streamed_live(served: Served,
                                                               via: str) -> None:
    current = await fresh_id(served.worker)
    past = ".".join(str(int(p) + 10**12) for p in current.split("."))
    headers = {"Last-Event-ID": past} if via == "header" else {}
    query = "" if via == "header" else f"?last_event_id={past}"
    async with aiohttp.ClientSession() as http, http.get(
            f"{served.worker.url}/stream{query}", headers=headers) as resp:
        sse = SSE(resp)
        first = await sse.collect(15, until=1)
        assert first and first[0].event == "reset", first
        assert orjson.loads(first[0].data) == {"reason": "position past the end of the stream"}
        assert first[0].id is not None and first[0].id.count(".") == current.count(".")
        assert all(int(p) < 10**12 for p in first[0].id.split("."))
        price = await served.change(EVENTS[1])
        live = await frame_about(sse, EVENTS[1], 30)
        assert live is not None and live.event == "changes" and str(price) in live.data


async def test_no_versions_in_headers_or_metrics(served: Served) -> None:
    answers = [await ask(served.worker, "GET", path) for path in ("/health", "/no/such/path",
                                                                  "/stream")]
    answers.append(parse(await exchange(served.worker, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")))
    for answer in answers:
        assert answer.headers.get("server") == SERVER, answer
    async with aiohttp.ClientSession() as http, http.get(
            f"{served.worker.url}/metrics") as resp:
        text = await resp.text()
    assert "odds_stream_clients" in text and "process_cpu_seconds_total" in text
    assert "python_info" not in text and not re.search(r'version="', text)
    for version in (interpreter.python_version(), aiohttp.__version__, faust.__version__,
                    aiokafka.__version__):
        assert f'"{version}"' not in text, version


MALFORMED = (
    b"FOO / HTTP/1.1\r\nHost: test\r\n\r\n",
    TLS_HELLO,
    b"GET / HTTP/1.1\r\nHost: test\r\nBad Header\r\n\r\n",
    b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: test\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"b" * 10_000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST /graphql HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
)
#: A body that cannot be decoded, found by the handler reading it.
BAD_BODY = (b"POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!")


async def test_malformed_requests_are_400s_logged_once_at_info(served: Served) -> None:
    worker = served.worker
    start = log_size(worker)
    for data in (*MALFORMED, BAD_BODY):
        answer = parse(await exchange(worker, data))
        assert answer.status.endswith(" 400 Bad Request"), (data[:40], answer)
        assert orjson.loads(answer.rest)["error"]["code"] == "bad_request", answer

    def counts() -> tuple[int, int]:
        text = log_since(worker, start)
        return (text.count("malformed HTTP request from "),
                text.count("malformed HTTP request body from "))

    async def logged() -> bool:
        return counts() == (len(MALFORMED), 1)

    await eventually(logged, 10, "one line per malformed request")
    text = log_since(worker, start)
    assert faults(text) == [], text[-3000:]
    assert all("[INFO]" in line for line in text.splitlines() if "malformed" in line)


async def test_a_fed_worker_logs_no_error_past_the_inactivity_check(served: Served) -> None:
    """Runs past ``STREAM_TIMEOUT`` and three checks, fed all along, without an error."""
    quiet_from = served.ready_at + STREAM_TIMEOUT + 3 * CHECK_INTERVAL
    fed = 0
    while time.monotonic() < quiet_from:
        await served.apply(EVENTS[fed % len(EVENTS)])
        fed += 1
    text = log_since(served.worker)
    assert faults(text) == [], "\n".join(faults(text)[:20])
    assert "Stream has not started processing" not in text
    print(f"\n{fed} changes fed, no error in "  # noqa: T201
          f"{time.monotonic() - served.ready_at:.0f} s")
