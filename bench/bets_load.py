"""Bet checks at a fixed rate, in a process of their own: ``python -m bench.bets_load``.

Open loop: request ``i`` is due ``i / rate`` seconds after the start and is sent then, however
long earlier ones take; its latency runs from when it was due to its answer, so a slow worker
cannot hide behind fewer requests. Half are singles, half 3-leg multiples of three events of
the benchmark's workload, each leg a random outcome of a random market at ``price_policy:
any`` (checked in full, accepted at the current price unless its market is stopped). Runs
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
from typing import Any

import aiohttp
import orjson

from bench.report import percentile
from bench.workload import MARKET_TEMPLATES, Workload

LEGS = (1, 3)
MAX_IN_FLIGHT = 256


def ticket(rng: random.Random, event_ids: list[str], legs: int) -> bytes:
    """One ``POST /bets/check`` body of ``legs`` selections on as many events."""
    selections = []
    for event_id in rng.sample(event_ids, legs):
        market_id, specifiers, outcomes = rng.choice(MARKET_TEMPLATES)
        selections.append({"event_id": event_id, "market_id": market_id,
                           "specifiers": rng.choice(specifiers),
                           "outcome_id": rng.choice(outcomes), "odds": 2.0})
    return orjson.dumps({"selections": selections, "stake": 10, "price_policy": "any"})


class Load:
    """Answers and latencies, by number of legs."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.latencies: dict[int, list[float]] = {legs: [] for legs in LEGS}

    async def send(self, http: aiohttp.ClientSession, url: str, body: bytes, legs: int,
                   due: float) -> None:
        try:
            async with http.post(url, data=body, headers={"Content-Type": "application/json"},
                                 timeout=aiohttp.ClientTimeout(total=30)) as resp:
                raw = await resp.read()
            status = orjson.loads(raw).get("status") if resp.status == 200 else None
            self.outcomes[f"{resp.status} {status or 'error'}"] += 1
            self.latencies[legs].append(time.monotonic() - due)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.outcomes[f"error {type(exc).__name__}"] += 1

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


async def run(url: str, event_ids: list[str], rate: float, seconds: float,
              seed: int) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if seconds:
        loop.call_later(seconds, stop.set)
    rng = random.Random(seed)
    load = Load()
    tasks: set[asyncio.Task[None]] = set()
    started = time.monotonic()
    sent = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)) \
            as http:
        while not stop.is_set():
            due = started + sent / rate
            wait = due - time.monotonic()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                continue
            legs = LEGS[sent % len(LEGS)]
            task = asyncio.create_task(load.send(http, f"{url}/bets/check",
                                                 ticket(rng, event_ids, legs), legs, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        elapsed = time.monotonic() - started
        if tasks:
            await asyncio.wait(tasks, timeout=30)
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
