"""The MySQL sink as its own process (SINK_MODE=separate, the Kubernetes layout): it writes
what the worker publishes, scales out by consumer group, and stops cleanly."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.integration.faults_support import (
    FaultPlatform,
    FeedSpec,
    StateCheck,
    group_assignment,
    reference,
    until,
)
from tests.integration.support import Worker, produce

pytestmark = pytest.mark.faults


async def sink_rows(sink: Worker) -> float:
    """Rows the sink process has written, from its own metrics."""
    async with aiohttp.ClientSession() as http, http.get(f"{sink.url}/metrics") as resp:
        text = await resp.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("odds_sink_rows_total{"))


@pytest.mark.timeout(420)
async def test_separate_sink_processes_write_mysql_scale_out_and_stop_cleanly(
        tmp_path: Path) -> None:
    platform = FaultPlatform(tmp_path, extra_env={"SINK_MODE": "separate"})
    await platform.create()
    try:
        spec = FeedSpec(events=200, seed=73, count=12_000)
        records = await asyncio.to_thread(spec.records)
        expected_task = asyncio.create_task(reference(spec, platform.partitions, tmp_path))
        worker = await platform.start_worker(0)
        first = platform.spawn_sink(0)
        await until(lambda: first.answers("/health"), 90, "the sink to serve /health")
        await until(first.ready, 30, "the sink to be ready")
        # The worker has no sink of its own: its readiness does not wait on one.
        await until(worker.ready, 90, "the worker to be ready")

        await produce(platform.topic("feed.v1"), records[:6_000], bootstrap=platform.bootstrap)
        await until(lambda: _rows_at_least(first, 1), 90, "the first sink to write rows")
        group = f"{platform.group}-mysql-sink"
        assert await group_assignment(platform.bootstrap, group) == [32]

        second = platform.spawn_sink(1)
        await until(second.ready, 90, "the second sink to be ready")

        async def split() -> bool:
            held = await group_assignment(platform.bootstrap, group)
            return len(held) == 2 and all(held)

        await until(split, 90, "the sink group to split the partitions between two sinks")
        written_by_first = await sink_rows(first)
        await produce(platform.topic("feed.v1"), records[6_000:], bootstrap=platform.bootstrap)

        check = StateCheck(platform, await expected_task)
        await check.wait(check.mysql, 120, "MySQL to equal the reference", [worker])
        await until(lambda: _rows_at_least(second, 1), 30, "the second sink to write rows")
        assert await sink_rows(first) > written_by_first, "the first sink stopped writing"
        await check.no_regressions()

        for sink in (first, second):
            sink.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(sink.proc.wait, 30)
            assert code == 0, f"SIGTERM: exit {code}\n{sink.log_tail()}"
            assert "mysql-sink stopped after" in sink.log.read_text(errors="replace")
    finally:
        await platform.destroy()


async def _rows_at_least(sink: Worker, rows: float) -> bool:
    try:
        return await sink_rows(sink) >= rows
    except (aiohttp.ClientError, TimeoutError):
        return False
