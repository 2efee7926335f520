"""Fault injection against the real services: a worker killed mid-replay, MariaDB and Kafka
stopped mid-stream, a worker of two killed, an agent that stops making progress.

Every test checks the whole final state against the pure reference (``models.memory``
replay of the same input): ``GET /events/{id}`` of every event, the latest value of every key
of ``markets.v1`` and ``events.v1``, every row of the MySQL ``markets``, ``outcomes`` (a view)
and ``events``, and the row counts of ``odds_history`` (a view) and ``settlements``. The recovery
times the tests measure are printed and written to ``.pytest_cache/d/faults/timings.json``
(docs/reliability.md). Services are never stopped on the shared ports: the MariaDB and Kafka
outages use dedicated instances on free ports, torn down at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from config.settings import MySQLConfig
from tests.integration.faults_support import (
    FAST_FAILOVER_ENV,
    DedicatedKafka,
    DedicatedMariaDB,
    FaultPlatform,
    Feeder,
    FeedSpec,
    StateCheck,
    Supervisor,
    Timings,
    feed_lag,
    feed_partitions,
    group_assignment,
    group_offsets,
    http_served,
    read_records,
    reference,
    until,
)
from tests.integration.support import (
    Worker,
    committed_offsets,
    drained,
    end_offsets,
    free_port,
    mysql_rows,
    produce,
)

pytestmark = pytest.mark.faults


@pytest.fixture
def timings(request: pytest.FixtureRequest) -> Iterator[Timings]:
    measured = Timings(request)
    try:
        yield measured
    finally:
        measured.save("passed" if measured.values.get("checked") else "failed")


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[FaultPlatform]:
    """An isolated platform on the shared broker and MySQL server."""
    platform = FaultPlatform(tmp_path, extra_env=dict(FAST_FAILOVER_ENV))
    await platform.create()
    try:
        yield platform
    finally:
        await platform.destroy()


async def committed_total(platform: FaultPlatform) -> int:
    offsets = await committed_offsets(platform.group, platform.topic("feed.v1"),
                                      bootstrap=platform.bootstrap)
    return sum(max(0, o) for o in offsets.values())


@pytest.mark.timeout(420)
async def test_worker_killed_mid_replay_recovers_exactly(shared: FaultPlatform, tmp_path: Path,
                                                         timings: Timings) -> None:
    """SIGKILL while 100,000 feed records are being applied; the restarted worker ends
    exactly where the pure reference does: nothing lost, nothing applied twice."""
    platform = shared
    spec = FeedSpec(events=1000, seed=71, count=100_000)
    records = await asyncio.to_thread(spec.records)
    expected_task = asyncio.create_task(reference(spec, platform.partitions, tmp_path))
    started = time.monotonic()
    await produce(platform.topic("feed.v1"), records, bootstrap=platform.bootstrap)
    timings["produce_seconds"] = time.monotonic() - started

    worker = await platform.start_worker(0)
    started = time.monotonic()
    await until(lambda: _committed_at_least(platform, 40_000), 300,
                "40% of the feed to be committed")
    timings["first_run_seconds"] = time.monotonic() - started
    lag = await feed_lag(worker, platform)
    committed = await committed_total(platform)
    platform.kill(worker)
    timings["killed_at_committed"] = committed
    timings["killed_at_read"] = spec.count - (lag or 0)
    assert committed < spec.count, "the worker finished before it could be killed"

    restarted = time.monotonic()
    worker = platform.spawn_worker(0)
    await worker.wait_serving()
    timings["restart_to_serving"] = time.monotonic() - restarted
    await until(worker.ready, 120, "the restarted worker to be ready")
    timings["restart_to_ready"] = time.monotonic() - restarted
    await until(lambda: _caught_up(worker, platform), 300, "the feed to be read to its end")
    timings["restart_to_caught_up"] = time.monotonic() - restarted

    expected = await expected_task
    timings["reference_seconds"] = expected.seconds
    check = StateCheck(platform, expected)
    await check.wait(lambda: check.http([worker]), 120,
                     "every event over HTTP to equal the reference", [worker])
    timings["restart_to_http_equal"] = time.monotonic() - restarted
    await check.wait(check.mysql, 120, "MySQL to equal the reference", [worker])
    timings["restart_to_mysql_equal"] = time.monotonic() - restarted
    assert await check.topics(), check.last
    await check.no_regressions()
    timings["events"] = len(check.views)
    timings["markets"] = len(check.markets)
    timings["checked"] = True


@pytest.mark.timeout(300)
async def test_worker_dying_between_ack_and_commit_leaves_no_torn_batch(
        shared: FaultPlatform, tmp_path: Path, timings: Timings) -> None:
    """The worker dies after every record of a batch (outbound topics and all changelogs)
    is acknowledged, before the transaction commits (FAULT_EXIT_BEFORE_COMMIT): no reader
    sees any of it, and the restarted worker applies the batch once, whole."""
    platform = shared
    spec = FeedSpec(events=300, seed=73, count=20_000)
    records = await asyncio.to_thread(spec.records)
    expected_task = asyncio.create_task(reference(spec, platform.partitions, tmp_path))
    await produce(platform.topic("feed.v1"), records, bootstrap=platform.bootstrap)

    # markets.v1 and events.v1 are the markets and events tables' changelogs.
    changelogs = [platform.topic("markets.v1"), platform.topic("events.v1"),
                  platform.topic(f"odds-{platform.name}-applied-changelog")]
    # A long transaction timeout: the broker must not abort the open transaction before it
    # is inspected; the restarted worker (same TRANSACTIONAL_ID) aborts it at once.
    fault = {"FAULT_EXIT_BEFORE_COMMIT": "5", "TRANSACTION_TIMEOUT": "120"}
    platform.extra_env.update(fault)
    worker = platform.spawn_worker(0)
    for name in fault:
        del platform.extra_env[name]
    await until(lambda: _exited(worker), 120, "the worker to exit before its 5th commit")
    assert worker.proc.returncode == 70, worker.log_tail()
    assert "FAULT_EXIT_BEFORE_COMMIT=5 reached" in worker.log.read_text(errors="replace")
    # The uncommitted batch is in the logs (acknowledged) but no read-committed reader
    # gets it: the high watermark is past the last stable offset of the changelogs.
    for topic in changelogs:
        written = sum((await end_offsets(topic, bootstrap=platform.bootstrap,
                                         isolation="read_uncommitted")).values())
        stable = sum((await end_offsets(topic, bootstrap=platform.bootstrap)).values())
        assert written > stable, (topic, written, stable)
    timings["records_before_exit"] = await committed_total(platform)

    restarted = time.monotonic()
    worker = await platform.start_worker(0)
    await until(worker.ready, 120, "the restarted worker to be ready")
    timings["restart_to_ready"] = time.monotonic() - restarted
    await until(lambda: _caught_up(worker, platform), 240, "the feed to be read to its end")
    timings["restart_to_caught_up"] = time.monotonic() - restarted
    # Well within the dead worker's 120 s transaction timeout: its successor aborted it.
    assert timings.values["restart_to_caught_up"] < 100, timings.values

    expected = await expected_task
    check = StateCheck(platform, expected)
    await check.wait(lambda: check.http([worker]), 120,
                     "every event over HTTP to equal the reference", [worker])
    await check.wait(check.mysql, 120, "MySQL to equal the reference", [worker])
    assert await check.topics(), check.last
    await check.no_regressions()
    timings["checked"] = True


async def _exited(worker: Worker) -> bool:
    return worker.proc.poll() is not None


async def _committed_at_least(platform: FaultPlatform, count: int) -> bool:
    return await committed_total(platform) >= count


async def _caught_up(worker: Worker, platform: FaultPlatform) -> bool:
    return await feed_lag(worker, platform) == 0


@pytest.mark.timeout(180)
async def test_stalled_agent_turns_liveness_red(tmp_path: Path, timings: Timings) -> None:
    """The odds agent stops after 3 batches (FAULT_STALL_AGENT_AFTER) while records keep
    arriving: /health answers 503 once the liveness window (HEALTH_STALL_SECONDS) passes,
    and only then; HTTP keeps serving."""
    platform = FaultPlatform(tmp_path, extra_env={
        **FAST_FAILOVER_ENV, "FAULT_STALL_AGENT_AFTER": "3", "HEALTH_STALL_SECONDS": "3"})
    await platform.create()
    try:
        worker = await platform.start_worker(0)
        await until(worker.ready, 90, "the worker to be ready")
        records = FeedSpec(events=20, seed=75, count=3000).records()
        feed = platform.topic("feed.v1")
        # Idle and unprobed for longer than the window: only probes see idleness, and
        # records handed to an agent after such a pause are not a stall. A duration, not a
        # condition: longer than HEALTH_STALL_SECONDS (3), with no probe in between.
        await asyncio.sleep(4)
        # The first 20 records are the fixtures, one per event; two rounds, two batches or
        # more, each applied while /health stays green, probed at once and once applied.
        for chunk in (records[:20], records[20:30]):
            # Probed back to back while the chunk is applied: never a stall.
            done = asyncio.Event()
            probes = asyncio.create_task(_probe_health(worker, done))
            await produce(feed, chunk, bootstrap=platform.bootstrap)
            await until(lambda: _caught_up(worker, platform), 30, "a batch to be applied")
            done.set()
            statuses = await probes
            assert statuses and set(statuses) == {200}, statuses
            assert await worker.get("/health") == (200, {"status": "ok"})
            # The chunk applied and committed before the next one is sent (the lag above
            # counts what the consumer read, not what the agent finished).
            await drained(platform.group, (feed,), 30, bootstrap=platform.bootstrap)
        status, first = await worker.get(f"/events/{records[0][0].decode()}")
        assert status == 200

        async def stalled() -> bool:
            return "FAULT_STALL_AGENT_AFTER=3 reached" in worker.log.read_text(errors="replace")

        if not await stalled():
            await produce(feed, records[30:40], bootstrap=platform.bootstrap)
            await until(stalled, 30, "the agent to stop after its third batch", interval=0.1)
        stopped = time.monotonic()
        await produce(feed, records[40:], bootstrap=platform.bootstrap)

        async def unhealthy() -> bool:
            return await worker.status("/health") == 503

        await until(unhealthy, 60, "/health to fail", interval=0.25)
        timings["agent_stopped_to_503"] = time.monotonic() - stopped
        status, body = await worker.get("/health")
        assert status == 503 and body["status"] == "unhealthy", body
        assert "no progress" in body["reason"] and "records waiting" in body["reason"], body
        waiting = int(body["reason"].split(" with ")[1].split()[0])
        # What was sent after the stop waits, and is not taken for an idle worker although
        # the consumer has read it into the stream buffer.
        assert len(records) - 40 <= waiting <= len(records) - 20, body
        assert await feed_lag(worker, platform) == 0, "the records were not read ahead"
        # The worker still serves what it applied before it stopped.
        assert await worker.get(f"/events/{records[0][0].decode()}") == (200, first)
        timings["checked"] = True
    finally:
        await platform.destroy()


async def _probe_health(worker: Worker, done: asyncio.Event) -> list[int]:
    """Probe /health back to back until ``done``; return the statuses seen."""
    seen: list[int] = []
    async with aiohttp.ClientSession() as http:
        while not done.is_set():
            async with http.get(f"{worker.url}/health") as resp:
                seen.append(resp.status)
    return seen


SINK_TOPICS = ("markets.v1", "events.v1", "odds-changes.v2", "settlements.v1")
#: The sink's shortest and longest wait between two tries of a batch (app.retry).
BACKOFF_FIRST, BACKOFF_CAP = 0.2, 10.0
RETRY_LINE = re.compile(r"MySQL write failed \(.*\); attempt (\d+), [\d.]+s since the first "
                        r"failure, retrying in ([\d.]+)s")


async def sink_offsets(platform: FaultPlatform) -> dict[tuple[str, str, int], int]:
    """Committed offsets on the sink's topics of every group that commits them: the app's
    own group (the sink as a Faust agent) or ``{APP_ID}-mysql-sink`` (its own consumer)."""
    found = {}
    topics = {platform.topic(t) for t in SINK_TOPICS}
    for group in (platform.group, f"{platform.group}-mysql-sink"):
        for (topic, partition), offset in (await group_offsets(platform.bootstrap, group)
                                           ).items():
            if topic in topics:
                found[(group, topic, partition)] = offset
    return found


@dataclass
class MySQLSnapshot:
    """What MySQL held while it was down (read from its datadir on another port)."""

    markets: dict[tuple[str, str, str], int]
    events: dict[str, int]
    history: set[tuple[str, str, str, int]]
    settlements: set[tuple[str, str, str, int]]


async def read_snapshot(config: MySQLConfig) -> MySQLSnapshot:
    markets = await mysql_rows(config, "SELECT event_id, market_id, specifiers, version"
                                       " FROM markets")
    events = await mysql_rows(config, "SELECT event_id, version FROM events")
    history = await mysql_rows(config, "SELECT event_id, market_id, specifiers, version"
                                       " FROM market_history")
    settled = await mysql_rows(config, "SELECT event_id, market_id, specifiers, version"
                                       " FROM settlements")
    return MySQLSnapshot({(e, m, s): v for e, m, s, v in markets}, dict(events),
                         {tuple(r) for r in history}, {tuple(r) for r in settled})


def not_in_snapshot(topic: str, value: dict[str, Any], snapshot: MySQLSnapshot) -> bool:
    """Whether the effect of one sink record is missing from what MySQL held."""
    if topic.endswith("markets.v1"):
        key = (value["event_id"], value["market_id"], value["specifiers"])
        return snapshot.markets.get(key, -1) < value["version"]
    if topic.endswith("events.v1"):
        return snapshot.events.get(value["event_id"], -1) < value["version"]
    if topic.endswith("odds-changes.v2"):
        return (value["event_id"], value["market_id"], value["specifiers"],
                value["version"]) not in snapshot.history
    return (value["event_id"], value["market_id"], value["specifiers"],
            value["version"]) not in snapshot.settlements


def backoff_runs(log: str) -> list[list[tuple[int, float]]]:
    """The sink's logged retries (attempt, wait) from a worker log, one list per batch
    retried; at INFO the log shows attempts 1, 2, 4, 8, ..."""
    runs: list[list[tuple[int, float]]] = []
    for line in log.splitlines():
        if found := RETRY_LINE.search(line):
            attempt, delay = int(found[1]), float(found[2])
            if not runs or attempt == 1:
                runs.append([])
            runs[-1].append((attempt, delay))
    return runs


@pytest.mark.timeout(300)
async def test_mariadb_outage_holds_offsets_and_catches_up(tmp_path: Path,
                                                           timings: Timings) -> None:
    """A dedicated MariaDB is stopped for 30 s while the feed flows. The sink retries with
    backoff, /ready says MySQL is unreachable, no committed offset of the sink passes what
    MySQL holds (checked against the stopped server's own data), a worker stopped with
    SIGTERM in the outage exits and commits nothing unwritten, a second worker joining in the
    outage takes part of the sink's partitions from the one stuck retrying its batch, and
    MySQL ends equal to the reference."""
    mariadb = DedicatedMariaDB()
    platform: FaultPlatform | None = None
    feeder: Feeder | None = None
    try:
        timings["mariadb_first_start"] = await mariadb.up()
        platform = FaultPlatform(tmp_path / "platform", base_dsn=mariadb.dsn,
                                 extra_env=dict(FAST_FAILOVER_ENV))
        platform.tmp.mkdir()
        await platform.create()
        spec = FeedSpec(events=200, seed=72, count=36_000)
        records = await asyncio.to_thread(spec.records)
        expected_task = asyncio.create_task(reference(spec, platform.partitions, tmp_path))
        worker = await platform.start_worker(0)
        await until(worker.ready, 90, "the worker to be ready")
        feeder = Feeder(platform, records, per_second=900)
        feeder.start()

        async def sink_writing() -> bool:
            rows = await mysql_rows(platform.mysql, "SELECT COUNT(*) FROM markets")
            return feeder.sent >= 6000 and rows[0][0] > 0

        await until(sink_writing, 90, "the sink to write while the feed flows")
        timings["mariadb_stop"] = await mariadb.down()
        stopped = time.monotonic()
        answers: list[tuple[float, int, Any]] = []
        offsets: dict[tuple[str, str, int], int] = {}
        snapshot: MySQLSnapshot | None = None
        sigterm_done = False
        second: Worker | None = None
        sink_held: list[int] = []
        while time.monotonic() - stopped < 30:
            for key, offset in (await sink_offsets(platform)).items():
                offsets[key] = max(offset, offsets.get(key, 0))
            with contextlib.suppress(aiohttp.ClientError):
                status, body = await worker.get("/ready")
                answers.append((time.monotonic() - stopped, status, body))
            elapsed = time.monotonic() - stopped
            if not sigterm_done and elapsed >= 10:
                # A graceful stop while the sink cannot write: it must not hang, and the
                # batch it could not write stays uncommitted.
                sigterm_done = True
                signalled = time.monotonic()
                worker.proc.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(worker.proc.wait, 60)
                timings["sigterm_to_exit_in_outage"] = time.monotonic() - signalled
                timings["sigterm_exit_code"] = code
                assert code == 0, f"SIGTERM in the outage: exit {code}\n{worker.log_tail()}"
                worker = platform.spawn_worker(0)
                await worker.wait_serving()
            if second is None and sigterm_done:
                # The sink group rebalances while the restarted worker's sink is retrying.
                second = platform.spawn_worker(1)
                await second.wait_serving()
            if second is not None and elapsed >= 20:
                sink_held = await group_assignment(platform.bootstrap,
                                                   f"{platform.group}-mysql-sink")
            if snapshot is None and elapsed >= 22:
                # What MySQL held during the outage, read from its own datadir on a port
                # the workers do not know: nothing can be written meanwhile.
                other = free_port()
                await mariadb.up(port=other)
                config = platform.mysql
                snapshot = await read_snapshot(MySQLConfig(config.host, other, config.user,
                                                           config.database, config.password))
                await mariadb.down()
            # The tick of a 30 s timeline: readiness sampled, actions taken at set times.
            await asyncio.sleep(0.5)
        for key, offset in (await sink_offsets(platform)).items():
            offsets[key] = max(offset, offsets.get(key, 0))
        ends = {platform.topic(t): await end_offsets(platform.topic(t),
                                                     bootstrap=platform.bootstrap)
                for t in SINK_TOPICS}
        timings["mariadb_restart"] = await mariadb.up()
        restarted = time.monotonic()
        timings["outage_seconds"] = restarted - stopped
        assert snapshot is not None and sigterm_done and second is not None
        timings["sink_partitions_per_member_in_outage"] = sink_held

        await until(worker.ready, 60, "the worker to be ready after the outage")
        await until(second.ready, 60, "the second worker to be ready after the outage")
        timings["outage_end_to_ready"] = time.monotonic() - restarted
        await feeder.wait()
        expected = await expected_task
        check = StateCheck(platform, expected)
        await check.wait(check.mysql, 120, "MySQL to equal the reference", [worker])
        timings["outage_end_to_mysql_equal"] = time.monotonic() - restarted
        await check.wait(lambda: check.http([worker, second]), 60, "every event over HTTP",
                         [worker, second])
        assert await check.topics(), check.last
        await check.no_regressions()
        # Both sinks held part of the partitions while MySQL was down (the rebalance
        # completed although one of them was stuck in its batch's retries).
        assert len(sink_held) == 2 and all(sink_held), sink_held

        # /ready named MySQL throughout (a worker being restarted does not answer at all).
        late = [(t, s, b) for t, s, b in answers if t > 2]
        assert late and all(s == 503 and "MySQL unreachable" in b["reasons"]
                            for _t, s, b in late), late[:5]
        timings["stop_to_ready_503"] = min(t for t, s, _b in answers if s == 503)
        # Jittered exponential backoff, capped, restarting with each new batch; the log
        # thins out the later attempts, and the recovery says how many there were.
        text = worker.log.read_text(errors="replace")
        runs = backoff_runs(text)
        assert runs and all([a for a, _d in run] == [2 ** i for i in range(len(run))]
                            and all(BACKOFF_FIRST <= d
                                    <= min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (a - 1))
                                    for a, d in run) for run in runs), runs
        assert max(run[-1][0] for run in runs) >= 4, runs
        recovered = [int(n) for n in re.findall(r"MySQL write recovered on attempt (\d+)", text)]
        assert recovered, "no recovery logged after the outage"
        timings["retry_delays"] = max(runs, key=len)
        timings["retry_attempts_to_recover"] = max(recovered)
        # No committed offset of the sink passed a record MySQL did not hold.
        assert offsets, "the sink committed nothing before the outage"
        ahead, behind = [], 0
        for rec_topic in SINK_TOPICS:
            topic = platform.topic(rec_topic)
            for rec in await read_records(topic, platform.bootstrap):
                limits = [o for (_g, t, p), o in offsets.items()
                          if t == topic and p == rec.partition]
                missing = not_in_snapshot(topic, rec.value, snapshot)
                if any(rec.offset < limit for limit in limits) and missing:
                    ahead.append(f"{topic}[{rec.partition}]@{rec.offset}")
                behind += missing and rec.offset < ends[topic].get(rec.partition, 0)
        assert not ahead, f"offsets committed past unwritten records: {ahead[:5]}"
        assert behind > 0, "the outage held nothing back: the check proved nothing"
        timings["sink_records_waiting_at_outage_end"] = behind
        timings["checked"] = True
    finally:
        if feeder is not None:
            await feeder.cancel()
        try:
            if platform is not None:
                await platform.destroy()
        finally:
            await mariadb.destroy()


@pytest.mark.timeout(300)
async def test_kafka_outage_worker_recovers(tmp_path: Path, timings: Timings) -> None:
    """A dedicated Kafka broker is stopped for 20 s while the worker applies a backlog.
    ``/ready`` fails while the broker is away; the worker reconnects (or exits and is started
    again by the supervisor) and the final state equals the reference."""
    kafka = DedicatedKafka()
    platform: FaultPlatform | None = None
    supervisor: Supervisor | None = None
    try:
        timings["kafka_first_start"] = await kafka.up()
        platform = FaultPlatform(tmp_path / "platform", broker_url=kafka.broker_url,
                                 extra_env=dict(FAST_FAILOVER_ENV))
        platform.tmp.mkdir()
        await platform.create()
        spec = FeedSpec(events=200, seed=73, count=30_000)
        records = await asyncio.to_thread(spec.records)
        expected_task = asyncio.create_task(reference(spec, platform.partitions, tmp_path))
        supervisor = Supervisor(platform, 0)
        await supervisor.worker.wait_serving()
        await until(supervisor.worker.ready, 90, "the worker to be ready")
        # A backlog, so that the broker goes away while the worker is busy with it.
        feeder = Feeder(platform, records, per_second=20_000, chunk=1000)
        feeder.start(upto=14_000)
        await feeder.wait()
        await until(lambda: _committed_at_least(platform, 3000), 90,
                    "the worker to be under way")
        timings["committed_at_stop"] = await committed_total(platform)
        timings["kafka_stop"] = await kafka.down()
        stopped = time.monotonic()
        seen: list[tuple[float, str, int]] = []
        while time.monotonic() - stopped < 20:
            worker = supervisor.worker
            for path in ("/health", "/ready"):
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    seen.append((time.monotonic() - stopped, path, await worker.status(path)))
            # Probes once a second through a 20 s outage: what is measured is the answers
            # over that time, not a condition to reach.
            await asyncio.sleep(1)
        timings["kafka_restart"] = await kafka.up()
        restarted = time.monotonic()
        timings["outage_seconds"] = restarted - stopped
        timings["ready_during_outage"] = sorted({s for _t, p, s in seen if p == "/ready"})
        # The probe waits 2 s for a broker; after that the worker must not take traffic.
        settled = [s for t, p, s in seen if p == "/ready" and t >= 3]
        assert settled and set(settled) == {503}, f"/ready during the outage: {seen}"

        async def worker_ready() -> bool:
            return await supervisor.worker.ready()

        await until(worker_ready, 120, "the worker to be ready after the outage")
        timings["outage_end_to_ready"] = time.monotonic() - restarted
        feeder = Feeder(platform, records, per_second=3000, chunk=500)
        feeder.sent = 14_000
        feeder.start()
        await feeder.wait()
        expected = await expected_task
        check = StateCheck(platform, expected)

        async def everything() -> bool:
            worker = supervisor.worker
            return (await feed_lag(worker, platform) == 0 and await check.http([worker])
                    and await check.mysql())

        await check.wait(everything, 180, "the whole state to equal the reference",
                         [supervisor.worker])
        timings["outage_end_to_state_equal"] = time.monotonic() - restarted
        assert await check.topics(), check.last
        await check.no_regressions()
        timings["worker_exits"] = [(round(t - stopped, 1), code)
                                   for t, code in supervisor.exits]
        timings["checked"] = True
    finally:
        if supervisor is not None:
            await supervisor.stop()
        try:
            if platform is not None:
                await platform.destroy()
        finally:
            await kafka.destroy()


async def _split(workers: list[Worker], platform: FaultPlatform) -> bool:
    """Every worker owns feed partitions, none twice, all of them together."""
    owned = [await feed_partitions(w, platform) for w in workers]
    union = set().union(*owned)
    return (all(owned) and sum(map(len, owned)) == len(union) == platform.partitions)


@pytest.mark.timeout(360)
async def test_survivor_takes_over_and_rebalances_back(shared: FaultPlatform, tmp_path: Path,
                                                       timings: Timings) -> None:
    """Two workers share the feed; one is killed (SIGKILL) while the feed flows. The
    survivor takes its partitions over (from its standby replicas) and serves every event;
    the killed worker, started again, gets partitions back; the final state of both equals
    the reference."""
    platform = shared
    spec = FeedSpec(events=300, seed=74, count=40_000)
    records = await asyncio.to_thread(spec.records)
    expected_task = asyncio.create_task(reference(spec, platform.partitions, tmp_path))
    first = await platform.start_worker(0)
    second = await platform.start_worker(1)
    await until(lambda: _split([first, second], platform), 90, "both workers to own partitions")
    await until(lambda: _all_ready([first, second]), 90, "both workers to be ready")
    event_ids = [key.decode() for key, _value in records[:spec.events]]
    feeder = Feeder(platform, records, per_second=800)
    feeder.start()
    try:
        async def serving_all(worker: Worker) -> bool:
            return not await http_served(worker, event_ids)

        await until(lambda: serving_all(first), 60, "every event to be served")
        await until(lambda: _sent_at_least(feeder, 8000), 60, "the feed to flow")
        taken = await feed_partitions(second, platform)
        platform.kill(second)
        killed = time.monotonic()

        async def owns_all() -> bool:
            return len(await feed_partitions(first, platform)) == platform.partitions

        await until(owns_all, 90, "the survivor to own every partition", interval=0.25)
        timings["kill_to_survivor_owns_all"] = time.monotonic() - killed
        await until(lambda: serving_all(first), 90, "the survivor to serve every event",
                    interval=0.25)
        timings["kill_to_survivor_serves_all"] = time.monotonic() - killed
        timings["partitions_taken_over"] = len(taken)
        await until(first.ready, 60, "the survivor to be ready")
        timings["kill_to_survivor_ready"] = time.monotonic() - killed

        restarted = time.monotonic()
        second = platform.spawn_worker(1)
        await second.wait_serving()
        await until(lambda: _split([first, second], platform), 90,
                    "the restarted worker to get partitions back", interval=0.25)
        timings["restart_to_rebalanced"] = time.monotonic() - restarted
        await until(lambda: _all_ready([first, second]), 90, "both workers to be ready")
        timings["restart_to_both_ready"] = time.monotonic() - restarted
        timings["feed_sent_at_rebalance"] = feeder.sent
        assert feeder.sent < len(records), "the feed ended before the rebalance"
        await feeder.wait()
    finally:
        await feeder.cancel()
    expected = await expected_task
    check = StateCheck(platform, expected)

    async def everything() -> bool:
        lags = [await feed_lag(w, platform) for w in (first, second)]
        return (lags == [0, 0] and await check.http([first, second]) and await check.mysql())

    await check.wait(everything, 180, "the whole state, from both workers, to equal the "
                     "reference", [first, second])
    assert await check.topics(), check.last
    await check.no_regressions()
    timings["checked"] = True


async def _all_ready(workers: list[Worker]) -> bool:
    return all([await w.ready() for w in workers])


async def _sent_at_least(feeder: Feeder, count: int) -> bool:
    return feeder.sent >= count
