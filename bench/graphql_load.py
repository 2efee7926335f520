"""GraphQL clients in a process of their own: ``python -m bench.graphql_load``.

Each client POSTs the same request to ``/graphql`` again as soon as it is answered, until the
process is sent SIGTERM (or ``--seconds`` pass); then the result file gets how many requests
were answered, by status and ``extensions.code``, their durations and the connection errors.
The benchmark runs it beside a latency measurement, apart from its own event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.report import percentile


async def client(http: aiohttp.ClientSession, url: str, body: bytes, stop: asyncio.Event,
                 outcomes: Counter[str], durations: list[float]) -> None:
    timeout = aiohttp.ClientTimeout(total=60)
    while not stop.is_set():
        started = time.monotonic()
        try:
            async with http.post(url, data=body, timeout=timeout,
                                 headers={"Content-Type": "application/json"}) as resp:
                raw = await resp.read()
            codes = {e.get("extensions", {}).get("code") for e in
                     orjson.loads(raw).get("errors", [])} if resp.status != 200 else set()
            outcomes[f"{resp.status} {','.join(sorted(c for c in codes if c)) or 'ok'}"] += 1
            durations.append(time.monotonic() - started)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            outcomes[f"error {type(exc).__name__}"] += 1
            await asyncio.sleep(0.05)


async def run(args: argparse.Namespace, body: bytes) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if args.seconds:
        loop.call_later(args.seconds, stop.set)
    outcomes: Counter[str] = Counter()
    durations: list[float] = []
    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=args.clients)
    async with aiohttp.ClientSession(connector=connector) as http:
        tasks = [asyncio.create_task(client(http, f"{args.url}/graphql", body, stop, outcomes,
                                            durations)) for _ in range(args.clients)]
        await stop.wait()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    seconds = time.monotonic() - started
    durations.sort()
    return {"clients": args.clients, "seconds": round(seconds, 1),
            "answered": len(durations), "per_s": round(len(durations) / seconds, 1),
            "outcomes": dict(outcomes),
            "p50_ms": _ms(percentile(durations, 50)), "p99_ms": _ms(percentile(durations, 99)),
            "max_ms": _ms(durations[-1] if durations else None)}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.graphql_load", description=__doc__)
    parser.add_argument("--url", required=True, help="the worker's base URL")
    parser.add_argument("--body", required=True, help="file with the JSON request body")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=0, help="0: until SIGTERM")
    parser.add_argument("--result", required=True, help="where to write the result JSON")
    args = parser.parse_args()
    result = asyncio.run(run(args, Path(args.body).read_bytes()))
    Path(args.result).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
