"""Price history reads: one market with 10,000 versions, windows and instants over HTTP.

The versions are written by the sink's own write path (``MySQLSink.write``) into the
deployment's database, beside other markets' versions; one version in ``--folded-every`` has
its changes but no snapshot (as when ``markets.v1`` carried a later version of the same worker
batch), so a page or an instant that starts on one folds from the rows before it. Then one
worker (no feed) answers, one request at a time on a kept-alive connection:
``--requests`` windows (``limit`` 500, random ``from``, ``to`` 600 versions later) and as
many ``/history/at`` at random instants. Latency is from sending the request to its last body
byte, measured by this client.

    python -m bench.history_bench [--versions 10000] [--requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench import report
from bench.kafka_io import Kafka
from bench.platform import Deployment, base_mysql, stop_all
from config.settings import MySQLConfig
from sinks.mysql import MySQLSink, SinkBatch

EVENT = "sr:match:9000001"
MARKET = "18"
SPECIFIERS = "total=2.5"
START_MS = 1_800_000_000_000
#: Versions written per sink batch.
BATCH = 1000
#: Markets of other events beside the measured one, each with ``OTHER_VERSIONS`` versions.
OTHER_MARKETS = 200
OTHER_VERSIONS = 50
LIMIT = 500
SPAN_VERSIONS = 600


def versions(event_id: str, market_id: str, specifiers: str, count: int, seed: int,
             folded_every: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``markets.v1`` and ``odds-changes.v2`` values of ``count`` versions of one market: prices
    on a random walk, a suspension every 20th version, a version every ~1 s."""
    rng = random.Random(seed)
    prices = [1.9, 1.9]
    status: str | None = None
    snapshots: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    ts = START_MS
    for version in range(1, count + 1):
        ts += rng.randint(200, 1800)
        old_status, old_prices = status, list(prices)
        status = "suspended" if version % 20 == 0 else "active"
        if status == "active":
            prices = [round(min(max(p * rng.uniform(0.97, 1.03), 1.01), 100.0), 2)
                      for p in prices]
        listed: list[dict[str, Any]] = [] if old_status == status else [
            {"kind": "status", "outcome_id": None, "old": old_status, "new": status}]
        listed += [{"kind": "price", "outcome_id": str(12 + i), "old": None if version == 1
                    else old_prices[i], "new": p}
                   for i, p in enumerate(prices) if version == 1 or p != old_prices[i]]
        key = {"event_id": event_id, "market_id": market_id, "specifiers": specifiers}
        if listed:
            changes.append({**key, "producer": 1, "version": version, "ts": ts,
                            "changes": listed})
        if not listed or version % folded_every:
            snapshots.append({
                **key, "name": "Total 2.5", "status": status, "producer": 1, "margin": 0.05,
                "settlement": None, "cancels": [], "updated_ts": ts, "version": version,
                "ts": ts, "outcomes": [{"id": str(12 + i), "name": None, "odds": p,
                                        "active": True, "probability": None}
                                       for i, p in enumerate(prices)]})
    return snapshots, changes


async def fill(config: MySQLConfig, count: int, seed: int, folded_every: int
               ) -> dict[str, Any]:
    """Write the measured market's versions and the other markets' through the sink."""
    snapshots, changes = versions(EVENT, MARKET, SPECIFIERS, count, seed, folded_every)
    batches = [(snapshots[i:i + BATCH], changes[i:i + BATCH])
               for i in range(0, max(len(snapshots), len(changes)), BATCH)]
    for m in range(OTHER_MARKETS):
        other = versions(f"sr:match:{m}", MARKET, SPECIFIERS, OTHER_VERSIONS, seed + m,
                         folded_every)
        batches.append(other)
    sink = MySQLSink(config)
    started = time.perf_counter()
    try:
        await sink.start()
        for markets, odds_changes in batches:
            await sink.write(SinkBatch(markets=markets, odds_changes=odds_changes))
    finally:
        await sink.close()
    return {"versions": count, "snapshots": len(snapshots), "changes": len(changes),
            "other_rows": OTHER_MARKETS * OTHER_VERSIONS,
            "write_s": round(time.perf_counter() - started, 2),
            "end_ms": snapshots[-1]["updated_ts"], "step_ms": (snapshots[-1]["updated_ts"]
                                                               - START_MS) / count}


async def timed(http: aiohttp.ClientSession, url: str) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    async with http.get(url) as resp:
        body = await resp.read()
    return (time.perf_counter() - started) * 1000, resp.status, body


async def measure(base_url: str, requests: int, filled: dict[str, Any], seed: int
                  ) -> dict[str, Any]:
    """Time ``requests`` windows and ``requests`` instants, one at a time."""
    rng = random.Random(seed)
    path = f"{base_url}/events/{EVENT}/markets/{MARKET}/history"
    query = f"specifiers={SPECIFIERS.replace('=', '%3D')}"
    end, step = filled["end_ms"], filled["step_ms"]
    found: dict[str, Any] = {}
    async with aiohttp.ClientSession() as http:
        for _ in range(20):  # warm-up: the pool, the buffer pool
            await timed(http, f"{path}?{query}&limit={LIMIT}")
        latencies: list[float] = []
        returned = 0
        for _ in range(requests):
            start = rng.randint(START_MS, end)
            url = (f"{path}?{query}&from={start}&to={start + int(SPAN_VERSIONS * step)}"
                   f"&limit={LIMIT}")
            ms, status, body = await timed(http, url)
            if status != 200:
                raise RuntimeError(f"{url}: {status} {body[:300]!r}")
            returned += len(json.loads(body)["versions"])
            latencies.append(ms)
        found["window"] = {**report.latency_summary(latencies),
                           "mean_versions": round(returned / requests, 1)}
        latencies = []
        for _ in range(requests):
            ts = rng.randint(START_MS, end)
            ms, status, body = await timed(http, f"{path}/at?{query}&ts={ts}")
            if status != 200:
                raise RuntimeError(f"at {ts}: {status} {body[:300]!r}")
            latencies.append(ms)
        found["at"] = report.latency_summary(latencies)
    return found


async def run(dep: Deployment, versions_count: int, requests: int, seed: int = 1,
              folded_every: int = 3) -> dict[str, Any]:
    """Fill ``dep``'s database, start one worker, measure; the caller destroys ``dep``."""
    await dep.create()
    config = dataclasses.replace(base_mysql(), database=dep.database)
    filled = await fill(config, versions_count, seed, folded_every)
    worker = dep.spawn_worker(0)
    try:
        await worker.wait_ready(120)
        measured = await measure(worker.url, requests, filled, seed)
    finally:
        dep.stop_worker(worker)
    return {"requests": requests, "limit": LIMIT, "folded_every": folded_every,
            **{k: v for k, v in filled.items() if k not in ("end_ms", "step_ms")},
            **measured}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--folded-every", type=int, default=3,
                        help="one version in this many has no snapshot")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    async def go() -> dict[str, Any]:
        kafka = Kafka()
        await kafka.start()
        dep = Deployment(f"hist{uuid.uuid4().hex[:8]}", Path(tempfile.mkdtemp()),
                         sink_mode="separate")
        try:
            return await run(dep, args.versions, args.requests, args.seed, args.folded_every)
        finally:
            await dep.destroy(kafka)
            await kafka.stop()

    try:
        result = asyncio.run(go())
    finally:
        stop_all()
    print(json.dumps(result, indent=2))
    print(report.history_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
