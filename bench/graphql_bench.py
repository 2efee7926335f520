"""The GraphQL part of the benchmark: the costliest requests the worker's limits still allow.

Each candidate is a document at the edge of the limits on the benchmark's data (2,000 events
of 40 markets): it passes the checks of ``web.graphql_http`` (1,000 tokens, a static cost
under ``GRAPHQL_MAX_COST`` of 20,000) and resolves as much as they let it. They are timed
against the warm worker, one request at a time; the slowest is the one the clients send.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import aiohttp
import orjson

#: Fields of an event, besides its markets: 14, and ``score`` adds 2.
EVENT_FIELDS = ("eventId status matchStatus clock bettingStatus betstopReason startTime sport "
                "competition home away marketCounts periodScores score { home away }")
TIMED = 3


def candidates(event_ids: list[str]) -> dict[str, str]:
    """Documents that each resolve close to the most the static cost allows."""
    pages = " ".join(f"p{i}: events(limit: 200, offset: {200 * i}) {{ events {{ "
                     f"{EVENT_FIELDS} }} }}" for i in range(6))
    markets = " ".join(f'e{i}: event(id: "{event_id}") {{ markets {{ marketId status '
                       f"version }} }}" for i, event_id in enumerate(event_ids[:60]))
    return {
        # 6 x (2 + 200 x 16) = 19,212 fields, from the event list of the replica.
        "six pages of 200 events": f"{{ {pages} }}",
        # 60 x (2 + 100 x 3) = 18,120 estimated, 960 tokens; 60 events' 40 markets read.
        "60 events' markets": f"{{ {markets} }}",
        # 2 + 18 x (1 + 100 x 11) = 19,820 estimated: 18 events, their markets and outcomes.
        "18 events with markets and outcomes": "{ events(limit: 18) { events { markets { "
                                               "outcomes { odds } } } } }",
    }


async def calibrate(url: str, documents: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Time each document, one request at a time: status, outcome and median ms."""
    found: dict[str, dict[str, Any]] = {}
    async with aiohttp.ClientSession() as http:
        for name, query in documents.items():
            timings, status, code = [], 0, ""
            for _ in range(TIMED):
                started = time.monotonic()
                async with http.post(f"{url}/graphql", json={"query": query},
                                     timeout=aiohttp.ClientTimeout(total=60)) as resp:
                    answer = orjson.loads(await resp.read())
                timings.append((time.monotonic() - started) * 1000)
                status = resp.status
                code = ",".join(e.get("extensions", {}).get("code", "")
                                for e in answer.get("errors", [])) or "ok"
            found[name] = {"status": status, "outcome": code, "bytes": len(query),
                           "median_ms": round(statistics.median(timings), 1)}
    return found


def slowest(calibration: dict[str, dict[str, Any]]) -> str | None:
    """The name of the slowest document that was answered whole."""
    answered = {name: run for name, run in calibration.items()
                if run["status"] == 200 and run["outcome"] == "ok"}
    return max(answered, key=lambda n: answered[n]["median_ms"]) if answered else None
