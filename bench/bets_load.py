"""Bet checks at a fixed rate, in a process of their own: ``python -m bench.bets_load``.

Open loop: request ``i`` is due ``i / rate`` seconds after the start and is sent then, however
long earlier ones take; its latency runs from when it was due to its answer, so a slow worker
cannot hide behind fewer requests. Half are singles, half 3-leg multiples of three events of
the benchmark's workload, each leg a random outcome of a random market at ``price_policy:
any`` (checked in full, accepted at the current price unless its market is stopped), the
bodies prepared before the run and sent over keep-alive connections by a small HTTP/1.1
client. Runs
until SIGTERM (or ``--seconds``); the result file gets the answers by status, the latency
percentiles of singles and multiples, and the connection errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import orjson

from bench.report import percentile
from bench.workload import MARKET_TEMPLATES, Workload

LEGS = (1, 3)
#: Request bodies prepared per kind before the run, then sent in turn.
PREPARED = 2000


def ticket(rng: random.Random, event_ids: list[str], legs: int) -> bytes:
    """One ``POST /bets/check`` body of ``legs`` selections on as many events."""
    selections = []
    for event_id in rng.sample(event_ids, legs):
        market_id, specifiers, outcomes = rng.choice(MARKET_TEMPLATES)
        selections.append({"event_id": event_id, "market_id": market_id,
                           "specifiers": rng.choice(specifiers),
                           "outcome_id": rng.choice(outcomes), "odds": 2.0})
    return orjson.dumps({"selections": selections, "stake": 10, "price_policy": "any"})


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection sending one request at a time: the benchmark's
    client must cost the machine little beside the worker it measures (aiohttp's client
    costs about as much per request as the worker's answer)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.answer: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0 or self.answer is None:
            return
        head = bytes(self.buffer[:head_end]).lower()
        length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        end = head_end + 4 + length
        if len(self.buffer) < end:
            return
        status = int(head[9:12])
        body = bytes(self.buffer[head_end + 4:end])
        del self.buffer[:end]
        if not self.answer.done():
            self.answer.set_result((status, body))

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None  # noqa: S101 - set by connection_made
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.answer


def request_bytes(url: str, body: bytes) -> bytes:
    """A ``POST /bets/check`` request with ``body``, ready to write."""
    host = url.split("//", 1)[1]
    return (f"POST /bets/check HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


class Load:
    """Answers and latencies, by number of legs."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.latencies: dict[int, list[float]] = {legs: [] for legs in LEGS}

    def record(self, legs: int, due: float, status: int, body: bytes) -> None:
        verdict = orjson.loads(body).get("status") if status == 200 else None
        self.outcomes[f"{status} {verdict or 'error'}"] += 1
        self.latencies[legs].append(time.monotonic() - due)

    def summary(self, seconds: float) -> dict[str, Any]:
        found: dict[str, Any] = {"seconds": round(seconds, 1), "outcomes": dict(self.outcomes)}
        every = sorted(x for run in self.latencies.values() for x in run)
        found["answered"] = len(every)
        found["per_s"] = round(len(every) / seconds, 1) if seconds else None
        for name, run in (("all", every), *((f"{legs}_legs", sorted(self.latencies[legs]))
                                            for legs in LEGS)):
            found[name] = {"count": len(run), "p50_ms": _ms(percentile(run, 50)),
                           "p99_ms": _ms(percentile(run, 99)),
                           "max_ms": _ms(run[-1] if run else None)}
        return found


class Pool:
    """Idle connections, opened as needed."""

    def __init__(self, url: str) -> None:
        host, port = url.split("//", 1)[1].rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.idle: list[Connection] = []

    async def send(self, load: Load, raw: bytes, legs: int, due: float) -> None:
        connection = self.idle.pop() if self.idle else None
        try:
            if connection is None or connection.closed.done():
                _, connection = await asyncio.get_running_loop().create_connection(
                    Connection, self.host, self.port)
            status, body = await asyncio.wait_for(connection.request(raw), 30)
        except (OSError, TimeoutError, ValueError) as exc:
            load.outcomes[f"error {type(exc).__name__}"] += 1
            if connection is not None and connection.transport is not None:
                connection.transport.close()
            return
        load.record(legs, due, status, body)
        self.idle.append(connection)


async def run(url: str, event_ids: list[str], rate: float, seconds: float,
              seed: int) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if seconds:
        loop.call_later(seconds, stop.set)
    rng = random.Random(seed)
    requests = [(legs, request_bytes(url, ticket(rng, event_ids, legs)))
                for legs in LEGS for _ in range(PREPARED)]
    rng.shuffle(requests)
    load, pool = Load(), Pool(url)
    tasks: set[asyncio.Task[None]] = set()
    started = time.monotonic()
    sent = 0
    while not stop.is_set():
        due = started + sent / rate
        wait = due - time.monotonic()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            continue
        legs, raw = requests[sent % len(requests)]
        task = asyncio.create_task(pool.send(load, raw, legs, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        sent += 1
    elapsed = time.monotonic() - started
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    for connection in pool.idle:
        if connection.transport is not None:
            connection.transport.close()
    found = load.summary(elapsed)
    found.update({"rate": rate, "sent": sent})
    return found


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bets_load", description=__doc__)
    parser.add_argument("--url", required=True, help="the worker's base URL")
    parser.add_argument("--events", type=int, default=2000,
                        help="the workload's number of events (its event ids are used)")
    parser.add_argument("--rate", type=float, default=500, help="checks per second")
    parser.add_argument("--seconds", type=float, default=0, help="0: until SIGTERM")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--result", required=True, help="where to write the result JSON")
    args = parser.parse_args()
    event_ids = Workload(args.events).event_ids
    result = asyncio.run(run(args.url, event_ids, args.rate, args.seconds, args.seed))
    Path(args.result).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
