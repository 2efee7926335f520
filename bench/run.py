"""The benchmark: ``python -m bench.run [--messages 1000000] [--quick]``.

Runs against the local Kafka and MariaDB (``make up``), every scenario in an isolated
deployment (own app id, topic prefix and database), removed afterwards:

1. generate the workload and compute the expected final state with ``replay``;
2. pre-produce it to a fresh ``feed.v1``; on that topic, each with a fresh consumer group:
   the raw aiokafka passthrough, the do-nothing Faust agent and the naive Faust agent;
3. the platform, one ``faust -A app worker`` with everything on: feed msg/s, outcome updates/s,
   the MySQL sink's rows/s and how long after the last record MySQL shows the final state;
   then markets.v1 / events.v1 / MySQL compared with the reference;
4. latency with the same (warm) worker at 1,000 and 5,000 msg/s and 80% of the measured rate;
   then at 1,000 msg/s again, without and with 20 clients sending the costliest GraphQL
   request the worker allows (``bench.graphql_bench``; alone: ``--messages 50000 --skip
   passthrough,noop,naive,correctness,latency,scaleout,state``); then at 1,000 msg/s beside
   500 bet checks/s, singles and 3-leg multiples (``bench.bets_load``; alone: the same with
   ``graphql`` skipped too);
5. two workers on a second copy of the feed (same app id, own ports and data dirs);
6. state and recovery: 1,000,000 markets held, RSS, RocksDB on disk, restart to ready from
   the local store and from the changelog alone.
7. price history: one market with 10,000 versions in MySQL, windows of 500 and the version in
   force at an instant over HTTP, p50/p99 (``bench.history_bench``; alone: ``python -m
   bench.history_bench``).

Prints a markdown table, writes ``bench/results/<timestamp>.json`` and (full runs) puts the
rendered run at the end of ``docs/performance.md`` in place of the previous one; the
hand-written sections before it stay.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bench import graphql_bench, history_bench, ingest_betfair, ingest_uof, report
from bench import reference as ref
from bench.kafka_io import BROKER_URL, Kafka, LatencyConsumer, bulk_produce, paced_produce
from bench.platform import (
    PROCESSES,
    ROOT,
    CpuMeter,
    Deployment,
    WorkerProcess,
    cpu_seconds,
    dir_bytes,
    faust_command,
    log_tail,
    machine,
    other_load,
    rss_bytes,
    service_pids,
    spawn,
    stop_all,
    stop_process,
)
from bench.workload import Feed, Workload

RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "performance.md"
SINK_TOPICS = ("markets.v1", "events.v1", "settlements.v1", "odds-changes.v2")
T = TypeVar("T")


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC).strftime('%H:%M:%S')}] {message}", file=sys.stderr,
          flush=True)


async def wait_for(check: Callable[[], Awaitable[T | None]], seconds: float, what: str,
                   interval: float = 0.5) -> T:
    """Await ``check()`` until it returns something truthy; raise after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {seconds:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


class Bench:
    """One benchmark run: options, clients, deployments and the results document."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_id = f"bench{uuid.uuid4().hex[:8]}"
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{self.run_id}-"))
        self.kafka: Kafka = None  # type: ignore[assignment]  # made inside the event loop
        self.deployments: list[Deployment] = []
        self.notes: list[str] = []
        self.results: dict[str, Any] = {"run_id": self.run_id, "notes": self.notes,
                                        "sink_mode": args.sink}
        self.workload = Workload(1)
        self.feed = Feed()
        self.expected: ref.Reference | None = None

    # -- helpers ---------------------------------------------------------------------------

    def deployment(self, suffix: str) -> Deployment:
        extra = {k: v for k, v in os.environ.items() if k in ("BATCH_SIZE", "BATCH_WITHIN",
                                                              "SINK_BATCH_SIZE", "SINK_WITHIN")}
        dep = Deployment(f"{self.run_id}{suffix}", self.tmp, loop=self.args.loop,
                         partitions=self.args.partitions, extra_env=extra,
                         sink_mode=self.args.sink)
        self.deployments.append(dep)
        return dep

    async def produce(self, dep: Deployment, feed: Feed) -> dict[str, Any]:
        records, seconds = await bulk_produce(dep.topic("feed.v1"), feed, dep.partitions)
        log(f"produced {records:,} records to {dep.topic('feed.v1')} in {seconds:.1f}s "
            f"({records / seconds:,.0f}/s)")
        return {"records": records, "seconds": round(seconds, 2),
                "rate": round(records / seconds)}

    async def consumed(self, group: str, topic: str, ends: dict[int, int]) -> int:
        committed = await self.kafka.committed(group, topic)
        return sum(min(max(committed.get(p, 0), 0), end) for p, end in ends.items())

    async def wait_consumed(self, group: str, topic: str, seconds: float) -> float:
        ends = await self.kafka.end_offsets(topic)
        total = sum(ends.values())

        async def done() -> bool:
            return await self.consumed(group, topic, ends) >= total

        await wait_for(done, seconds, f"{group} to commit {topic}", 0.5)
        return time.time()

    async def sink_backlog(self, dep: Deployment) -> int:
        behind = 0
        for name in SINK_TOPICS:
            behind += await self.kafka.behind(dep.sink_group, dep.topic(name))
        return behind

    async def mysql_totals(self, dep: Deployment) -> tuple[int, int]:
        rows = await dep.mysql("SELECT COUNT(*), COALESCE(SUM(version), 0) FROM markets")
        return int(rows[0][0]), int(rows[0][1])

    async def quiet(self, what: str) -> None:
        """Wait (bounded) until processes outside this benchmark use little CPU."""
        limit, waited = self.args.max_other_load, 0.0
        if limit <= 0:
            return
        pids = service_pids() | {f"p{p.pid}": p.pid for p in PROCESSES}
        deadline = time.monotonic() + self.args.quiet_timeout
        while True:
            other = await asyncio.to_thread(other_load, pids, 2.0)
            if other <= limit:
                if waited:
                    log(f"quiet again after {waited:.0f}s")
                return
            if time.monotonic() > deadline:
                self.notes.append(f"{what}: other processes used {other:.2f} cores when it "
                                  f"started (waited {waited:.0f}s for them to stop)")
                log(f"still busy ({other:.2f} other cores); measuring {what} anyway")
                return
            if not waited:
                log(f"other processes use {other:.2f} cores; waiting before {what}")
            waited += 2.0

    # -- ceilings --------------------------------------------------------------------------

    async def ceiling(self, name: str, command: list[str], env: dict[str, str],
                      result_file: Path, seconds: float) -> dict[str, Any]:
        logfile = self.tmp / f"ceiling-{name}.log"
        await self.quiet(name)
        meter = CpuMeter(service_pids())
        proc = spawn(command, env, logfile)
        meter.pids["ceiling"] = proc.pid
        meter.start()
        try:
            async def finished() -> bool:
                if proc.poll() is not None and not _exists(result_file):
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n"
                                       f"{log_tail(logfile)}")
                return _exists(result_file)

            await wait_for(finished, seconds, f"the {name} ceiling", 0.5)
            cpu = meter.stop()
            peak_rss = rss_bytes(proc.pid)
        finally:
            stop_process(proc, 30)
        found = _read_json(result_file)
        span = found["t_last"] - found["t_first"]
        log(f"{name}: {found['count']:,} records, {found['rate']:,.0f}/s")
        extra = {k: found[k] for k in ("tuning", "platform_tasks", "event_loop", "gc_threshold")
                 if k in found}
        return {"messages": found["count"], "rate_msgs": round(found["rate"]),
                "seconds": round(span, 2), "first_batch": found["first_batch"],
                "cpu": cpu, "rss_bytes": peak_rss, **extra}

    async def ceilings(self, dep: Deployment, total: int) -> None:
        args = self.args
        source = dep.topic("feed.v1")
        found: dict[str, Any] = self.results.setdefault("ceilings", {})
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
        base_env.update({"BROKER_URL": BROKER_URL, "TOPIC_PARTITIONS": str(args.partitions)})
        if "passthrough" not in args.skip:
            target = dep.topic("bench.passthrough")
            await self.kafka.create_topic(target, args.partitions)
            result = self.tmp / "passthrough.json"
            command = [sys.executable, "-m", "bench.ceilings.passthrough", "--source", source,
                       "--target", target, "--group", f"{dep.name}-passthrough", "--expect",
                       str(total), "--result", str(result), "--loop", args.loop]
            found["passthrough"] = await self.ceiling("passthrough", command, base_env, result,
                                                      max(120, total / 2000))
            self.save()
        for name, module, expect, loop, floor in (
                ("faust_noop", "bench.ceilings.faust_noop", total, args.loop, 500),
                ("faust_naive", "bench.ceilings.faust_naive", min(total, args.naive_messages),
                 "asyncio", 100)):
            if name.removeprefix("faust_") in args.skip:
                continue
            result = self.tmp / f"{name}.json"
            env = {**base_env, "BENCH_APP_ID": f"{dep.name}-{name}", "BENCH_TOPIC": source,
                   "BENCH_EXPECT": str(expect), "BENCH_RESULT": str(result),
                   "BENCH_DATADIR": str(self.tmp / f"{name}-data"), "EVENT_LOOP": loop}
            run = await self.ceiling(name, faust_command(module, loop, "worker", "-l", "info"),
                                     env, result, max(180, 60 + expect / floor))
            run["loop"] = loop
            found[name] = run
            self.save()

    # -- the platform ----------------------------------------------------------------------

    async def throughput(self, dep: Deployment, workers: int, feed: Feed,
                         expected: ref.Reference | None, start: str = "backlog"
                         ) -> tuple[dict[str, Any], list[WorkerProcess]]:
        """Run ``workers`` workers over the feed; measure until all of it is in MySQL.

        ``start``: ``backlog``, the feed is already on the topic when the workers start;
        ``settled``, the workers start on an empty topic, the group settles (no rebalance
        during the measurement), then the feed is produced (~300k records/s, far faster
        than any worker, so it is a backlog after the first seconds); ``join``, one worker
        starts on the backlog and the others join at 30% (a rebalance under load).
        """
        feed_topic, markets_topic = dep.topic("feed.v1"), dep.topic("markets.v1")
        await self.quiet(f"{workers} worker(s)")
        meter = CpuMeter(service_pids())
        procs = [dep.spawn_worker(i) for i in range(1 if start == "join" else workers)]
        for i, worker in enumerate(procs):
            meter.pids[f"worker{i}"] = worker.pid
        sink = dep.spawn_sink()
        if sink is not None:
            meter.pids["sink"] = sink.pid
        meter.start()
        ready = [await w.wait_ready(300) for w in procs]
        produced = None
        if start == "settled":
            async def settled() -> bool:
                return await self.group_state(dep.group) == ("Stable", workers)

            await wait_for(settled, 120, f"{workers} workers in a stable group", 1.0)
            await asyncio.sleep(3)
            await wait_for(settled, 60, f"{workers} workers in a stable group", 1.0)
            produced = await self.produce(dep, feed)
        feed_ends = await self.kafka.end_offsets(feed_topic)
        total = sum(feed_ends.values())
        log(f"{len(procs)} worker(s) ready after {max(ready):.1f}s; consuming {total:,} records")
        progress: list[tuple[float, int]] = []
        backlog: list[tuple[float, int]] = []
        mysql_task: asyncio.Task[dict[str, Any]] | None = None
        profile: subprocess.Popen[bytes] | None = None
        deadline = time.monotonic() + max(900, total / 300)
        while True:
            for worker in procs:
                worker.check_alive()
            done = await self.consumed(dep.group, feed_topic, feed_ends)
            now = time.time()
            progress.append((now, done))
            backlog.append((now, await self.sink_backlog(dep)))
            if start == "join" and len(procs) < workers and done >= 0.3 * total:
                log(f"{workers - len(procs)} more worker(s) join at {done:,} records")
                for i in range(len(procs), workers):
                    procs.append(dep.spawn_worker(i))
                    meter.pids[f"worker{i}"] = procs[-1].pid
                    meter.start_cpu[f"worker{i}"] = 0.0
            if (self.args.profile and profile is None and workers == 1
                    and done >= 0.2 * total):
                profile = self.start_profile(procs[0])
            if expected is not None and mysql_task is None and done >= 0.97 * total:
                mysql_task = asyncio.create_task(
                    self.mysql_catch_up(dep, expected, now - progress[0][0]))
            if done >= total:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dep.name}: {done:,}/{total:,} records after the deadline")
            await asyncio.sleep(1.0)
        cpu = meter.stop()
        written = {}
        for name in await self.kafka.topics(f"{dep.name}."):
            if name != feed_topic:
                written[name.removeprefix(f"{dep.name}.")] = sum(
                    (await self.kafka.end_offsets(name)).values())
        markets_ends = await self.kafka.end_offsets(markets_topic)
        first, last = await self.kafka.first_last_timestamps(markets_topic, markets_ends)
        seconds = (last - first) / 1000
        rate = total / seconds if seconds > 0 else None
        result: dict[str, Any] = {
            "workers": workers, "messages": total, "ready_s": [round(r, 1) for r in ready],
            "seconds": round(seconds, 2), "rate_msgs": round(rate) if rate else None,
            "outcomes_per_s": round(feed.stats["outcomes"] / seconds) if seconds else None,
            "market_updates_per_s": round(feed.stats["markets"] / seconds) if seconds else None,
            "steady_rate_msgs": _round(report.steady_rate(progress, total)),
            "markets_v1_records": sum(markets_ends.values()),
            # Offsets, so transaction markers count too (one per partition per transaction).
            "offsets_written": written,
            "cpu": cpu, "rss_bytes": [rss_bytes(w.pid) for w in procs],
            "sink_backlog_max": max((b for _, b in backlog), default=None),
            "first_output_ts": first, "last_output_ts": last,
            "produced_after_start": produced,
            "restores": [log_count(w.log, "Restore complete") for w in procs],
            # Each worker's own histograms over the whole run (fresh workers: from zero).
            "worker_time": [worker_histograms({}, await w.metrics()) for w in procs],
        }
        log(f"{dep.name}: {total:,} records in {seconds:.1f}s = {rate or 0:,.0f} msg/s "
            f"(steady {result['steady_rate_msgs']}), CPU {cpu}")
        if profile is not None:
            result["profile"] = self.finish_profile(profile)
        if mysql_task is None and expected is not None:
            mysql_task = asyncio.create_task(self.mysql_catch_up(dep, expected, seconds))
        if mysql_task is not None:
            mysql = await mysql_task
            if mysql.get("caught_up_at"):
                mysql["lag_s"] = round(mysql["caught_up_at"] - last / 1000, 2)
                # A first poll that already matched only bounds the lag from above.
                mysql["lag_upper_bound"] = mysql["polls_before_match"] == 0
                span = mysql["caught_up_at"] - first / 1000
                metrics: dict[str, float] = Counter()
                for worker in [*procs, *dep.sinks]:
                    metrics.update(await worker.metrics())
                rows = {k.split('table="')[1].rstrip('"}'): int(v) for k, v in metrics.items()
                        if k.startswith("odds_sink_rows_total{")}
                mysql["rows"] = rows
                mysql["rows_per_s"] = round(sum(rows.values()) / span) if span > 0 else None
            result["mysql"] = mysql
            log(f"MySQL: {mysql}")
        return result, procs

    async def mysql_catch_up(self, dep: Deployment, expected: ref.Reference,
                             run_seconds: float) -> dict[str, Any]:
        """Poll MySQL until its markets hold the reference's count and version sum (for at
        most ``--mysql-timeout`` or twice the run so far, whichever is longer)."""
        want = (expected.market_count, expected.version_sum)
        limit = max(self.args.mysql_timeout, 2 * run_seconds)
        deadline = time.monotonic() + limit
        polls = 0
        last: tuple[int, int] = (0, 0)
        while time.monotonic() < deadline:
            last = await self.mysql_totals(dep)
            if last == want:
                return {"caught_up_at": time.time(), "polls_before_match": polls,
                        "markets": last[0], "version_sum": last[1]}
            polls += 1
            await asyncio.sleep(0.25)
        return {"caught_up_at": None, "polls_before_match": polls, "markets": last[0],
                "version_sum": last[1], "expected": list(want),
                "error": f"not caught up within {limit:.0f}s"}

    def start_profile(self, worker: WorkerProcess) -> subprocess.Popen[bytes] | None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(py_spy).exists():
            self.notes.append("py-spy not installed: no profile")
            return None
        out = self.tmp / "worker-profile.txt"
        log(f"profiling worker {worker.pid} for {self.args.profile}s with py-spy")
        return spawn([py_spy, "record", "--pid", str(worker.pid), "--duration",
                      str(self.args.profile), "--rate", "100", "--nonblocking", "--format",
                      "raw", "--output", str(out)], dict(os.environ),
                     self.tmp / "py-spy.log")

    def finish_profile(self, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(self.args.profile + 30)
        stop_process(proc, 5)
        raw = self.tmp / "worker-profile.txt"
        if not raw.exists():
            return {"error": log_tail(self.tmp / "py-spy.log")}
        stamp = self.results.get("stamp", "profile")
        kept = RESULTS / f"{stamp}-worker-profile.txt"
        RESULTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(raw, kept)
        return {"file": str(kept.relative_to(ROOT)), **report_profile(raw)}

    async def correctness(self, dep: Deployment, expected: ref.Reference) -> dict[str, Any]:
        started = time.perf_counter()
        found: dict[str, Any] = {}
        for name, wanted in (("markets", expected.markets), ("events", expected.events)):
            topic = dep.topic(f"{name}.v1")
            ends = await self.kafka.end_offsets(topic)
            latest, records = await self.kafka.read_latest(topic, ends)
            comparison = ref.compare(wanted, latest)
            found[name] = {**comparison.summary(), "records_read": records}
        totals = await self.mysql_totals(dep)
        found["mysql_ok"] = totals == (expected.market_count, expected.version_sum)
        found["mysql"] = list(totals)
        found["seconds"] = round(time.perf_counter() - started, 1)
        log(f"correctness {dep.name}: markets {found['markets']['ok']} "
            f"({found['markets']['matched']:,}/{found['markets']['compared']:,}), events "
            f"{found['events']['ok']}, MySQL {found['mysql_ok']}")
        return found

    # -- latency ---------------------------------------------------------------------------

    async def idle(self, dep: Deployment, what: str) -> None:
        """Wait (bounded) until the worker has committed the feed and the sink its input."""

        async def sink_idle() -> bool:
            return await self.sink_backlog(dep) == 0

        try:
            await self.wait_consumed(dep.group, dep.topic("feed.v1"), 300)
            await wait_for(sink_idle, 600, "the MySQL sink to catch up", 1.0)
        except TimeoutError as exc:
            self.notes.append(f"{what}: started while the worker was still busy ({exc})")
            log(f"{what}: {exc}; measuring anyway")

    async def latency(self, dep: Deployment, workload: Workload, rate: float, label: str,
                      nominal: bool) -> dict[str, Any]:
        args = self.args
        await self.idle(dep, f"latency {label}")
        feed = workload.generate(int(rate * (args.warmup + args.latency_seconds)))
        await self.quiet(f"latency {label}")
        consumer = LatencyConsumer(dep.topic("markets.v1"))
        await consumer.start(await self.kafka.partitions(dep.topic("markets.v1")))
        meter = CpuMeter(service_pids() | {"worker0": dep.workers[0].pid}
                         | {f"sink{i}": p.pid for i, p in enumerate(dep.sinks)}).start()
        before = await dep.workers[0].metrics()
        saturated = False
        try:
            paced = await paced_produce(dep.topic("feed.v1"), feed, rate)
            sent_at = time.monotonic()
            drain = max(30.0, 3 * (args.warmup + args.latency_seconds))
            try:
                await self.wait_consumed(dep.group, dep.topic("feed.v1"), drain)
            except TimeoutError:
                saturated = True
            drained_s = time.monotonic() - sent_at
            markets_ends = await self.kafka.end_offsets(dep.topic("markets.v1"))

            async def arrived() -> bool:
                return consumer.reached(markets_ends)

            with contextlib.suppress(TimeoutError):
                await wait_for(arrived, 30, "markets.v1 records at the latency consumer", 0.2)
        finally:
            await consumer.stop()
        cpu = meter.stop()
        inside = worker_histograms(before, await dep.workers[0].metrics())
        window_start = paced.first_ts + int(args.warmup * 1000)
        latencies = [lat for ts, lat in consumer.samples
                     if window_start <= ts <= paced.last_ts]
        result = {"label": label, "nominal": nominal, "offered_rate": rate,
                  "achieved_rate": round(paced.rate), "sent": paced.sent,
                  "warmup_s": args.warmup, "measured_s": args.latency_seconds,
                  "drain_s": round(drained_s, 2), "saturated": saturated,
                  "records_seen": consumer.records, "cpu": cpu, "worker": inside,
                  **report.latency_summary(latencies)}
        log(f"latency {label}: {result}")
        return result

    # -- scenarios -------------------------------------------------------------------------

    def prepare(self) -> None:
        """Generate the workload and compute the reference (before any event loop runs, so
        the reference can fork from the main thread)."""
        args = self.args
        self.results["stamp"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        log(f"run {self.run_id}; temporary files in {self.tmp}")
        started = time.perf_counter()
        self.workload = Workload(args.events, seed=args.seed)
        self.feed = self.workload.generate(args.messages)
        generated = time.perf_counter() - started
        log(f"generated {len(self.feed):,} records in {generated:.1f}s: {dict(self.feed.stats)}")
        self.results["workload"] = {"stats": dict(self.feed.stats),
                                    "generate_s": round(generated, 1)}
        if "correctness" in args.skip:
            return
        log("computing the reference state with models.memory.replay ...")
        expected = self.expected = ref.compute(self.feed, args.partitions, 2)
        log(f"reference: {expected.market_count:,} markets, version sum "
            f"{expected.version_sum:,} in {expected.seconds:.0f}s")
        self.results["reference"] = {"markets": expected.market_count,
                                     "events": len(expected.events),
                                     "version_sum": expected.version_sum,
                                     "seconds": round(expected.seconds, 1),
                                     "processes": expected.processes}

    async def run(self) -> None:
        args = self.args
        self.kafka = Kafka()
        await self.kafka.start()
        self.results["machine"] = await machine()
        if self.results["machine"]["load_average_at_start"][0] > 0.5:
            self.notes.append(
                f"load average at start was {self.results['machine']['load_average_at_start']}"
                ": something else was using the CPU; numbers may be low.")
        self.results["options"] = {k: (sorted(v) if isinstance(v, set) else v)
                                   for k, v in vars(args).items()}

        workload, feed, expected = self.workload, self.feed, self.expected
        one = self.deployment("a")
        await one.create()
        self.results["workload"]["produce"] = await self.produce(one, feed)
        await self.scenario("ceilings", self.ceilings(one, len(feed)))
        if "platform" not in args.skip:
            await self.scenario("throughput", self.one_worker(one, feed, workload, expected))
        await one.destroy(self.kafka)
        if "scaleout" not in args.skip:
            await self.scenario("scale_out", self.scale_out(feed, expected))
        if "state" not in args.skip:
            await self.scenario("state", self.state())
        if "ingest" not in args.skip:
            await self.scenario("ingest", self.ingest())
        if "history" not in args.skip:
            await self.scenario("history", self.history())

    async def ingest(self) -> dict[str, Any]:
        """Each ingestor alone, from its provider's protocol into Kafka: rate and CPU."""
        messages = self.args.ingest_messages
        uof = await ingest_uof.run(messages, self.tmp / "ingest-uof.log")
        betfair = await ingest_betfair.run(messages, self.args.partitions)
        return {"uof": report.ingest_summary(uof), "betfair": report.ingest_summary(betfair)}

    async def history(self) -> dict[str, Any]:
        """Price history reads from MySQL over HTTP (``bench.history_bench``)."""
        dep = self.deployment("h")
        try:
            await self.quiet("history")
            found = await history_bench.run(dep, self.args.history_versions,
                                            self.args.history_requests, self.args.seed)
        finally:
            await dep.destroy(self.kafka)
        log(f"history: windows {found['window']}, at {found['at']}")
        return found

    async def scenario(self, name: str, work: Awaitable[Any]) -> None:
        """Run one part; a failure is recorded in the results and the next part still runs."""
        try:
            found = await work
            if found is not None:
                self.results[name] = found
        except (TimeoutError, RuntimeError, OSError, ValueError, KeyError) as exc:
            traceback.print_exc()
            log(f"{name} FAILED: {type(exc).__name__}: {exc}")
            self.results.setdefault(name, {})["error"] = f"{type(exc).__name__}: {exc}"[:3000]
            self.notes.append(f"{name} failed: {type(exc).__name__}: {str(exc)[:300]}")
            for dep in self.deployments:
                for worker in list(dep.workers):
                    dep.stop_worker(worker, 30)
        self.save()

    async def scale_out(self, feed: Feed, expected: ref.Reference | None) -> dict[str, Any]:
        args = self.args
        two = self.deployment("b")
        try:
            await two.create()
            if args.scaleout_start != "settled":
                await self.produce(two, feed)
            scale, _ = await self.throughput(two, 2, feed, expected, args.scaleout_start)
            scale["group"] = await self.group_state(two.group)
            scale["start"] = args.scaleout_start
            if expected is not None:
                scale["correctness"] = await self.correctness(two, expected)
            return scale
        finally:
            await two.destroy(self.kafka)

    async def one_worker(self, dep: Deployment, feed: Feed, workload: Workload,
                         expected: ref.Reference | None) -> None:
        """Throughput, correctness, then latency with the same warm worker."""
        result, workers = await self.throughput(dep, 1, feed, expected)
        self.results["throughput"] = result
        self.save()
        await self.scenario("correctness_and_latency",
                            self.after_throughput(dep, workload, expected, result))
        for worker in workers:
            dep.stop_worker(worker)

    async def after_throughput(self, dep: Deployment, workload: Workload,
                               expected: ref.Reference | None, result: dict[str, Any]) -> None:
        args = self.args
        if expected is not None:
            self.results["correctness"] = await self.correctness(dep, expected)
            self.save()
        if "latency" not in args.skip:
            runs = []
            for rate in args.rates:
                runs.append(await self.latency(dep, workload, rate, f"{rate:,.0f} msg/s", True))
                self.results["latency"] = runs
                self.save()
            if result.get("rate_msgs"):
                rate = round(0.8 * result["rate_msgs"])
                runs.append(await self.latency(dep, workload, rate, "80% of measured max",
                                               False))
            self.results["latency"] = runs
            self.save()
        if "graphql" not in args.skip:
            await self.scenario("graphql", self.graphql_interference(dep, workload))
        if "bets" not in args.skip:
            await self.scenario("bets", self.bets_beside_feed(dep, workload))

    async def bets_beside_feed(self, dep: Deployment, workload: Workload) -> dict[str, Any]:
        """Bet checks at ``--bets-rate`` per second, singles and 3-leg multiples
        (``bench.bets_load``), while the same warm worker takes 1,000 feed msg/s: the checks'
        latency, and the feed's beside them."""
        rate, checks, worker = 1000.0, self.args.bets_rate, dep.workers[0]
        found: dict[str, Any] = {"rate": rate, "checks_per_s": checks}
        found["feed"], found["load_cpu_s"], found["checks"] = await self.latency_beside(
            dep, workload, rate, f"{checks:,.0f} bet checks/s", "bets",
            ["bench.bets_load", "--url", worker.url, "--events", str(self.args.events),
             "--rate", str(checks)])
        log(f"bets: {found['checks']}; feed p99 {found['feed'].get('p99_ms')} ms")
        return found

    async def latency_beside(self, dep: Deployment, workload: Workload, rate: float,
                             what: str, name: str, module: list[str]
                             ) -> tuple[dict[str, Any], float, dict[str, Any]]:
        """Feed latency at ``rate`` while ``python -m module`` loads the worker in a process
        of its own: the latency run, the load's CPU seconds, and the result it wrote."""
        result = self.tmp / f"{name}-load.json"
        load = spawn([sys.executable, "-m", *module, "--result", str(result)],
                     dict(os.environ), self.tmp / f"{name}-load.log")
        load_cpu = cpu_seconds(load.pid) or 0.0
        try:
            latency = await self.latency(dep, workload, rate, f"{rate:,.0f} msg/s, {what}",
                                         False)
            spent = round((cpu_seconds(load.pid) or 0.0) - load_cpu, 1)
        finally:
            stop_process(load, 30)
        answers = (_read_json(result) if result.exists()
                   else {"error": log_tail(self.tmp / f"{name}-load.log")})
        return latency, spent, answers

    async def graphql_interference(self, dep: Deployment, workload: Workload) -> dict[str, Any]:
        """Feed latency at 1,000 msg/s without, then with, clients that send the costliest
        GraphQL request the worker allows, back to back on the same warm worker."""
        rate, clients, worker = 1000.0, self.args.graphql_clients, dep.workers[0]
        documents = graphql_bench.candidates(workload.event_ids)
        await self.idle(dep, "graphql calibration")
        calibration = await graphql_bench.calibrate(worker.url, documents)
        name = graphql_bench.slowest(calibration)
        log(f"graphql requests, one at a time: {calibration}; the clients send {name!r}")
        if name is None:
            raise RuntimeError(f"no GraphQL request was answered whole: {calibration}")
        found: dict[str, Any] = {"rate": rate, "clients": clients, "request": name,
                                 "calibration": calibration}
        found["without"] = await self.latency(dep, workload, rate,
                                              f"{rate:,.0f} msg/s, no GraphQL clients", False)
        self.results["graphql"] = found
        body = self.tmp / "graphql-request.json"
        body.write_text(json.dumps({"query": documents[name]}))
        before = await worker.metrics()
        found["with"], found["load_cpu_s"], found["load"] = await self.latency_beside(
            dep, workload, rate, f"{clients} GraphQL clients", "graphql",
            ["bench.graphql_load", "--url", worker.url, "--body", str(body),
             "--clients", str(clients)])
        after = await worker.metrics()
        found["worker_outcomes"] = {key.split('"')[1]: int(value - before.get(key, 0.0))
                                    for key, value in after.items()
                                    if key.startswith("odds_graphql_requests_total{")}
        found["p99_ratio"] = report.ratio(found["with"].get("p99_ms"),
                                          found["without"].get("p99_ms"))
        log(f"graphql: p99 {found['without'].get('p99_ms')} ms without, "
            f"{found['with'].get('p99_ms')} ms with {clients} clients; {found['load']}")
        return found

    async def group_state(self, group: str) -> tuple[str, int] | None:
        """The group's state (``Stable``, ...) and how many members it has."""
        with contextlib.suppress(Exception):
            (response,) = await self.kafka.admin.describe_consumer_groups([group])
            # (error, group id, state, protocol type, protocol, members, ...)
            found = response.groups[0]
            return str(found[2]), len(found[5])
        return None

    async def state(self) -> None:
        """Hold ``state_events`` x 40 markets; measure memory, disk and restarts."""
        dep = self.deployment("c")
        try:
            await self._state(dep)
        finally:
            await dep.destroy(self.kafka)

    async def _state(self, dep: Deployment) -> None:
        args = self.args
        await dep.create()
        book = Workload(args.state_events, seed=args.seed + 1,
                        first_event=5_000_000).book()
        markets = args.state_events * 40
        found: dict[str, Any] = {"events": args.state_events, "markets": markets,
                                 "messages": len(book)}
        self.results["state"] = found  # filled in as it goes: partial results survive
        log(f"state: {len(book):,} records for {markets:,} markets")
        await self.produce(dep, book)
        await self.quiet("state")
        worker = dep.spawn_worker(0)
        dep.spawn_sink()
        await worker.wait_ready(300)
        started = time.time()
        await self.wait_consumed(dep.group, dep.topic("feed.v1"), max(900, len(book) / 100))
        ingested = time.time() - started
        found["rate_msgs"] = round(len(book) / ingested)
        try:
            async def mysql_has_all() -> bool:
                return (await self.mysql_totals(dep))[0] >= markets

            await wait_for(mysql_has_all, args.mysql_timeout * 5, "MySQL to hold every market", 1)
            found["mysql_caught_up_s"] = round(time.time() - started - ingested, 1)
        except TimeoutError as exc:
            self.notes.append(f"state: {exc}")
        await asyncio.sleep(2)
        found["rss_bytes"] = rss_bytes(worker.pid)
        found["datadir_bytes"] = dir_bytes(worker.datadir)
        known = book.keys[-1].decode()
        found["probe_event"] = known
        log(f"state held: RSS {(found['rss_bytes'] or 0) / 2**20:,.0f} MiB, disk "
            f"{found['datadir_bytes'] / 2**20:,.0f} MiB")
        found["stop_s"] = round(dep.stop_worker(worker), 1)
        self.save()

        worker = dep.spawn_worker(0)
        ready = await worker.wait_ready(args.ready_timeout, known, 40)
        found["restart_local"] = {"ready_s": round(ready, 2), "rss_bytes": rss_bytes(worker.pid)}
        log(f"restart from the local store: ready in {ready:.1f}s")
        dep.stop_worker(worker)
        self.save()

        shutil.rmtree(worker.datadir, ignore_errors=True)
        worker = dep.spawn_worker(0)
        ready = await worker.wait_ready(args.ready_timeout, known, 40)
        found["restart_changelog"] = {"ready_s": round(ready, 2),
                                      "rss_bytes": rss_bytes(worker.pid),
                                      "datadir_bytes": dir_bytes(worker.datadir)}
        log(f"restart from the changelog alone: ready in {ready:.1f}s")
        dep.stop_worker(worker)

    # -- output ----------------------------------------------------------------------------

    def save(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.results['stamp']}.json"
        path.write_text(json.dumps(self.results, indent=2, default=str))
        return path

    async def cleanup(self) -> None:
        stop_all()
        if self.kafka is None:
            return
        for dep in self.deployments:
            with contextlib.suppress(Exception):
                await dep.destroy(self.kafka)
        with contextlib.suppress(Exception):
            await self.kafka.delete_topics(self.run_id)
            await self.kafka.delete_groups(self.run_id)
        await self.kafka.stop()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def gc_series(part: str, generation: int, le: str | None = None) -> str:
    """One generation's ``_sum``, ``_count`` or ``_bucket`` series of the worker's GC pauses."""
    bound = f',le="{le}"' if le else ""
    return f'odds_gc_pause_seconds_{part}{{generation="{generation}"{bound}}}'


def batch_sizes(delta: Callable[[str], float], after: dict[str, float]) -> dict[int, int]:
    """Batches of at most n messages, for each bucket bound n of ``odds_batch_messages``."""
    prefix = 'odds_batch_messages_bucket{le="'
    bounds = {float(key[len(prefix):-2]): key for key in after if key.startswith(prefix)}
    return {int(le): int(delta(key)) for le, key in sorted(bounds.items()) if le != math.inf}


def worker_histograms(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """What the worker's own histograms saw between two scrapes: batches, their mean time,
    their planning and transaction wait, and the mean from feed ts to the batch's commit
    (the rest of a latency is delivery to the reader)."""
    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    def mean(total: str, count: float, scale: float = 1000.0) -> float | None:
        """``total``'s increase per observation (x ``scale``: seconds to ms by default)."""
        return round(scale * delta(total) / count, 1) if count else None

    def mean_ms(histogram: str, count: float) -> float | None:
        return mean(f"{histogram}_sum", count)

    batches = delta("odds_batch_processing_seconds_count")
    published = delta("odds_end_to_end_latency_seconds_count")
    # Histogram buckets count observations at or under ``le``: what lies above is the tail.
    long_batches = batches - delta('odds_batch_processing_seconds_bucket{le="0.05"}')
    late = published - delta('odds_end_to_end_latency_seconds_bucket{le="0.1"}')
    collections = [delta(gc_series("count", g)) for g in range(3)]
    return {
        "batches": int(batches),
        "batch_mean_ms": mean_ms("odds_batch_processing_seconds", batches),
        # Of which waiting for the batch's transaction (the event loop is free meanwhile).
        "transaction_mean_ms": mean_ms("odds_transaction_seconds", batches),
        "batch_seconds": round(delta("odds_batch_processing_seconds_sum"), 1),
        "planning_seconds": round(delta("odds_batch_planning_seconds_sum"), 1),
        "transaction_seconds": round(delta("odds_transaction_seconds_sum"), 1),
        "ts_to_commit_mean_ms": mean_ms("odds_end_to_end_latency_seconds", published),
        "batches_over_50ms": int(long_batches),
        "batch_messages_mean": mean("odds_batch_messages_sum", batches, scale=1),
        # Batches of at most ``le`` messages, for each bucket bound (cumulative).
        "batch_messages_le": batch_sizes(delta, after),
        "ts_to_commit_over_100ms_pct": round(100 * late / published, 2) if published else None,
        # Collections by generation (0, 1, 2) and their mean pause: all threads stop meanwhile.
        "gc_collections": [int(count) for count in collections],
        "gc_mean_pause_ms": [mean(gc_series("sum", g), count)
                             for g, count in enumerate(collections)],
        "gc_pauses_over_25ms": int(sum(
            count - delta(gc_series("bucket", g, "0.025"))
            for g, count in enumerate(collections))),
    }


def report_profile(raw: Path, top: int = 25) -> dict[str, Any]:
    """Summarize py-spy's collapsed stacks: the functions with the most samples."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        own[frames[-1]] += samples
        packages[_package(frames[-1])] += samples
        for frame in set(frames):
            inclusive[frame] += samples

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, round(100 * n / total, 1)) for frame, n in counter.most_common(top)]

    return {"samples": total, "self_by_package_pct": share(packages),
            "self_pct": share(own), "inclusive_pct": share(inclusive)}


def _package(frame: str) -> str:
    """``fn (aiokafka/consumer/fetcher.py:311)`` -> ``aiokafka``."""
    location = frame.rpartition("(")[2].rstrip(")")
    path = location.rsplit(":", 1)[0]
    return path.split("/", 1)[0] if "/" in path else path


def log_count(path: Path, text: str) -> int:
    """How many lines of a log contain ``text``."""
    try:
        return sum(text in line for line in path.read_text(errors="replace").splitlines())
    except OSError:
        return 0


def _exists(path: Path) -> bool:
    return path.exists()


def _read_json(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(path.read_text())
    return found


def _round(value: float | None) -> int | None:
    return round(value) if value is not None else None


#: Where the rendered run starts in docs/performance.md; everything before it is hand-written.
RUN_HEADING = "\n### Run "


def docs_with_run(text: str | None, markdown: str, json_path: str) -> str:
    """``text`` with its rendered run (from the last ``### Run`` heading on) replaced.

    The hand-written sections before it stay. Without a rendered run, the template.
    """
    rendered = f"{markdown}\n\nFull numbers: `{json_path}` (not committed).\n"
    if text is None or RUN_HEADING not in text:
        return DOCS_TEMPLATE.format(results=rendered)
    return text[:text.rindex(RUN_HEADING) + 1] + rendered


def write_docs(results: dict[str, Any], markdown: str) -> None:
    text = DOCS.read_text() if DOCS.exists() else None
    DOCS.write_text(docs_with_run(text, markdown, f"bench/results/{results['stamp']}.json"))
    print(f"wrote {DOCS.relative_to(ROOT)} (the rendered run at its end; the prose of "
          "'Latest results' and the full-runs table are written by hand)")


DOCS_TEMPLATE = """# Performance

Measured by `make bench` (`python -m bench.run`): real Kafka, MariaDB and `faust -A app worker`
processes on one machine. The latest full run is below; every run also writes
`bench/results/<timestamp>.json` (git-ignored) with every number, the machine and versions.

## How to reproduce

```console
make up                                   # Kafka 4.0.2 and MariaDB on this machine
.venv/bin/python -m bench.run             # full run: 1,000,000 messages, ~30-60 minutes
.venv/bin/python -m bench.run --quick     # smoke test: 50,000 messages, a few minutes
.venv/bin/python -m bench.run --help      # counts, rates, --skip, --profile SECONDS
.venv/bin/python -m bench.planning        # the rules alone, in process: us and bytes per message
```

Nothing else should run on the machine meanwhile: the broker, MariaDB, the worker and the load
generator share its cores, so every ratio is measured in the same run on the same broker.

## What is measured

- **Workload** (`bench/workload.py`): a seeded canonical feed, 2,000 events x 40 markets with
  specifiers (1X2, totals 0.5-6.5, handicaps, both teams to score, next goal, European
  handicap, team and half totals, odd/even, a correct-score-like market with two specifiers),
  2-3 outcomes each; one `fixture_change` per event, then `odds_change`s touching 1-5 markets
  (random-walk prices, ~5% margin, odds in [1.01, 1000]), ~2% `bet_stop`s and ~2% markets sent
  suspended or deactivated, live scores on ~3%. Keyed by event id, uniform over events (the
  least favourable case for coalescing). Sequential `ts` for throughput runs; latency runs
  stamp `ts` at send time. No `alive` messages: producer health depends on the worker's wall
  clock, which would make the final state timing-dependent.
- **Throughput**: the feed is pre-produced to a fresh `feed.v1`; each program then reads the
  same topic with a fresh consumer group. Rate = messages / (last - first output timestamp)
  for the platform (`markets.v1` record timestamps), and from first to last record seen for
  the ceilings. "Steady" is the slope of committed offsets between 10% and 90%.
- **Ceilings and baseline**: raw aiokafka passthrough (`getmany`, produce every value to
  another topic, acks awaited per batch); a do-nothing Faust agent iterating `take_events`
  batches with the platform's Faust tuning copied from `app.faust_app`; a naive Faust agent
  as Faust's documentation shows (one event at a time, `faust.Record` models, a RocksDB table,
  `table[key] = value` per market, default settings) on the first 100,000 messages.
- **MySQL**: rows the sink wrote per second, and how long after the last feed record was
  processed MySQL's `markets` held the reference's row count and version sum.
- **Correctness**: the latest `markets.v1` value per key and `events.v1` per event equal
  `public_market` / `public_event` of `models.memory.replay` over the same records.
- **Latency**: feed `ts` (stamped when sent) to the arrival of the `markets.v1` record whose
  `updated_ts` it is, at a separate consumer, after a warm-up, at fixed offered rates.
- **State and recovery**: 25,000 events x 40 markets = 1,000,000 markets (every market once,
  a quarter twice): worker RSS, RocksDB size on disk, restart to ready (`/ready` 200 and a
  known event served with its 40 markets) from the local store and from the changelog alone.
- **Scale-out**: the throughput run with two workers (same app id) on a copy of the feed.

## Latest results

{results}"""


def default_loop() -> str:
    """The platform's event loop setting (``EVENT_LOOP``), or asyncio if it has none."""
    from config import get_settings

    loop = str(getattr(get_settings(), "event_loop", "asyncio"))
    return loop if loop in ("uvloop", "asyncio") else "asyncio"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small counts (50k messages, 100k markets) for a smoke test")
    parser.add_argument("--messages", type=int, help="throughput run messages (1,000,000)")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--naive-messages", type=int, help="messages for the naive baseline "
                                                           "(100,000)")
    parser.add_argument("--state-events", type=int, help="events x 40 markets held (25,000)")
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")],
                        default=[1000.0, 5000.0], help="latency offered rates, msg/s")
    parser.add_argument("--latency-seconds", type=float, help="measured seconds per rate (25)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per rate (5)")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default=default_loop(),
                        help="event loop of the workers, the passthrough and the do-nothing "
                             "agent (EVENT_LOOP, faust -L); default: the platform's setting")
    parser.add_argument("--sink", choices=("separate", "inline"), default="separate",
                        help="the MySQL sink as its own process (SINK_MODE=separate, as "
                             "deployed) or inside the worker")
    parser.add_argument("--skip", type=lambda s: set(s.split(",")), default=set(),
                        help="comma list of: passthrough,noop,naive,correctness,platform "
                             "(the one-worker run, latency, graphql and bets),latency,"
                             "graphql,bets,scaleout,state,ingest,history")
    parser.add_argument("--ingest-messages", type=int, default=200_000,
                        help="provider messages per ingestor run (200,000)")
    parser.add_argument("--history-versions", type=int, default=10_000,
                        help="versions of the market the price history stage reads")
    parser.add_argument("--history-requests", type=int, default=1000,
                        help="timed history windows, and as many instants (stage 'history')")
    parser.add_argument("--bets-rate", type=float, default=500,
                        help="bet checks per second beside the feed (stage 'bets')")
    parser.add_argument("--graphql-clients", type=int, default=20,
                        help="clients sending the costliest allowed GraphQL request while "
                             "the feed latency is measured at 1,000 msg/s")
    parser.add_argument("--scaleout-start", choices=("settled", "backlog", "join"),
                        default="settled",
                        help="two workers: start them on an empty feed and produce once the "
                             "group is stable (settled); start both on the pre-produced feed "
                             "(backlog); or start one and add the other at 30%% (join: a "
                             "rebalance under load, for the correctness check)")
    parser.add_argument("--profile", type=int, default=0,
                        help="py-spy the one-worker run for this many seconds")
    parser.add_argument("--mysql-timeout", type=float, default=120)
    parser.add_argument("--max-other-load", type=float, default=0.3,
                        help="before each measurement wait until processes outside the "
                             "benchmark use at most this many cores (0: do not wait)")
    parser.add_argument("--quiet-timeout", type=float, default=120,
                        help="longest wait for the machine to quiet down, seconds")
    parser.add_argument("--ready-timeout", type=float, help="restart to ready limit (900)")
    parser.add_argument("--docs", action=argparse.BooleanOptionalAction, default=None,
                        help="replace the rendered run in docs/performance.md "
                             "(default: full runs only)")
    parser.add_argument("--keep", action="store_true", help="keep worker logs in /tmp")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                        help="measure nothing: print (and with --docs write) the markdown of a "
                             "saved results file")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {"messages": (50_000, 1_000_000), "naive_messages": (10_000, 100_000),
                "state_events": (2_500, 25_000), "latency_seconds": (10.0, 25.0),
                "warmup": (3.0, 5.0), "ready_timeout": (300.0, 900.0)}
    for name, (small, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    if args.docs is None:
        args.docs = not quick and not args.render
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        results = _read_json(args.render)
        markdown = report.render(results)
        print(markdown)
        if args.docs:
            write_docs(results, markdown)
        return 0
    bench = Bench(args)

    async def run() -> None:
        task = asyncio.current_task()
        if task is not None:  # SIGTERM cancels like Ctrl-C does: cleanup below still runs
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            await bench.run()
        finally:
            await bench.cleanup()

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    status = 0
    previous = signal.signal(signal.SIGTERM, interrupt)  # until the event loop takes over
    try:
        bench.prepare()
        signal.signal(signal.SIGTERM, previous)
        asyncio.run(run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; processes stopped and deployments removed")
        status = 130
    except Exception as exc:  # noqa: BLE001 - reported; partial results are still written
        traceback.print_exc()
        log(f"FAILED: {type(exc).__name__}: {exc}")
        bench.results["error"] = f"{type(exc).__name__}: {exc}"
        status = 1
    finally:
        stop_all()
        if not args.keep:
            shutil.rmtree(bench.tmp, ignore_errors=True)
    if "stamp" in bench.results:
        path = bench.save()
        markdown = report.render(bench.results)
        print(markdown)
        print(f"\nresults: {path.relative_to(ROOT)}")
        if args.docs and status == 0:
            write_docs(bench.results, markdown)
    return status


if __name__ == "__main__":
    sys.exit(main())
