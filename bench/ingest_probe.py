"""What both ingestor benchmarks read from the ingestor's process: readiness and CPU time."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Return once ``{url}/ready`` answers 200; raise if the process exits or time runs out."""
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the ingestor exited ({proc.returncode}) before it was ready")
            try:
                async with http.get(f"{url}/ready") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError(f"the ingestor was not ready within {seconds:.0f}s")


async def wait_landed(read_total: Callable[[], Awaitable[int]], target: int,
                      poll_s: float = 0.05) -> float:
    """Poll ``read_total()`` until it reaches ``target``; return ``perf_counter`` then."""
    while (await read_total()) < target:  # noqa: ASYNC110 (a count in Kafka, not an event)
        await asyncio.sleep(poll_s)
    return time.perf_counter()
