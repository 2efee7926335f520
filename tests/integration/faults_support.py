"""Helpers for the fault-injection tests: dedicated Kafka and MariaDB instances, a platform
that can point at them, the pure reference computed in a separate process, the comparison of
every output with it, and the recovery timings the tests measure.

Run as ``python -m tests.integration.faults_support reference SPEC OUT``, it computes the
reference of a generated feed (``models.memory.replay``) and writes it to ``OUT``: the test
process starts it while the worker runs, so the two overlap on the machine's two cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import aiomysql
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from app.kafka_security import bootstrap_servers
from config.settings import MySQLConfig
from tests.integration.support import (
    BASE_DSN,
    BROKER_URL,
    ROOT,
    Platform,
    Worker,
    end_offsets,
    free_port,
    mysql_rows,
    read_compacted,
)

#: Faust's defaults wait 60 s for a dead member's session to expire before its partitions
#: move (and before a restarted worker's rebalance completes). The fault tests run with the
#: shorter values a deployment that wants fast takeover would set (Faust reads them from
#: these environment variables); docs/reliability.md gives the timings with both.
FAST_FAILOVER_ENV = {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}


# -- timings ---------------------------------------------------------------------------------


class Timings:
    """Seconds measured by one test: printed, and merged into a JSON file under the
    (git-ignored) pytest cache, ``.pytest_cache/d/faults/timings.json``."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.test = request.node.name
        self.values: dict[str, Any] = {}
        self.started = time.monotonic()
        cache = getattr(request.config, "cache", None)
        self.path = (cache.mkdir("faults") / "timings.json") if cache is not None else None

    def __setitem__(self, name: str, value: Any) -> None:
        self.values[name] = round(value, 2) if isinstance(value, float) else value

    def save(self, outcome: str) -> None:
        self.values["test_seconds"] = round(time.monotonic() - self.started, 1)
        self.values["outcome"] = outcome
        self.values["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        print(f"\n[faults] {self.test}: {orjson.dumps(self.values).decode()}")  # noqa: T201
        if self.path is None:
            return
        runs: dict[str, Any] = {}
        with contextlib.suppress(OSError, orjson.JSONDecodeError):
            runs = orjson.loads(self.path.read_bytes())
        runs[self.test] = self.values
        self.path.write_bytes(orjson.dumps(runs, option=orjson.OPT_INDENT_2))


# -- dedicated services ----------------------------------------------------------------------


async def run_script(script: str, command: str, env: dict[str, str], limit: float) -> str:
    """Run ``scripts/<script> <command>`` with ``env``; return its output, raise on failure."""
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / "scripts" / script), command, env={**os.environ, **env}, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"scripts/{script} {command} did not finish in {limit}s") from None
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/{script} {command} failed ({proc.returncode}):\n{text}")
    return text


def service_dir(prefix: str) -> Path:
    """A fresh directory every user can traverse (mariadbd runs as user mysql)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


class DedicatedService:
    """A service started by one of the project's scripts with an environment of its own;
    ``down`` and ``destroy`` stop it (and remove its directory). Times are seconds."""

    script: ClassVar[str]
    home: Path

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    async def _script(self, command: str, env: dict[str, str], limit: float) -> float:
        started = time.monotonic()
        await run_script(self.script, command, env, limit)
        return time.monotonic() - started

    async def down(self) -> float:
        return await self._script("down", self.env(), 60)

    async def destroy(self) -> None:
        try:
            await self.down()
        finally:
            shutil.rmtree(self.home, ignore_errors=True)


@dataclass
class DedicatedKafka(DedicatedService):
    """A single-node KRaft broker of its own (scripts/kafka.sh with KAFKA_STATE_DIR), on
    free ports: the test may stop it without touching the shared broker on 9092."""

    script: ClassVar[str] = "kafka.sh"

    home: Path = field(default_factory=lambda: service_dir("odds-faults-kafka-"))
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    sasl_port: int = field(default_factory=free_port)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def broker_url(self) -> str:
        return f"kafka://{self.bootstrap}"

    def env(self) -> dict[str, str]:
        return {"KAFKA_STATE_DIR": str(self.home), "KAFKA_HOST": "127.0.0.1",
                "KAFKA_PORT": str(self.port), "KAFKA_CONTROLLER_PORT": str(self.controller_port),
                "KAFKA_SASL_PORT": str(self.sasl_port), "KAFKA_HEAP_OPTS": "-Xmx512m -Xms256m"}

    async def up(self) -> float:
        return await self._script("up", self.env(), 120)


@dataclass
class DedicatedMariaDB(DedicatedService):
    """A mariadbd of its own (scripts/mariadb.sh with its own datadir, socket, pid file and
    port): the test may stop it without touching the shared server on 3306."""

    script: ClassVar[str] = "mariadb.sh"

    home: Path = field(default_factory=lambda: service_dir("odds-faults-mariadb-"))
    port: int = field(default_factory=free_port)

    @property
    def dsn(self) -> str:
        return f"mysql://betting:betting@127.0.0.1:{self.port}/betting"

    def env(self, port: int | None = None) -> dict[str, str]:
        return {"MYSQL_DSN": f"mysql://betting:betting@127.0.0.1:{port or self.port}/betting",
                "MARIADB_DATADIR": str(self.home / "data"),
                "MARIADB_SOCKET": str(self.home / "run" / "mysqld.sock"),
                "MARIADB_PIDFILE": str(self.home / "run" / "mysqld.pid"),
                "MARIADB_LOG_ERROR": str(self.home / "log" / "error.log")}

    async def up(self, port: int | None = None) -> float:
        """Start it (on ``port`` instead of its own to read it while workers cannot)."""
        return await self._script("up", self.env(port), 120)


# -- a platform on any broker and MySQL server -----------------------------------------------


@dataclass
class FaultPlatform(Platform):
    """``support.Platform`` that may use a dedicated broker and MySQL server."""

    broker_url: str = BROKER_URL
    base_dsn: str = BASE_DSN

    @property
    def bootstrap(self) -> str:
        return bootstrap_servers(self.broker_url)

    @property
    def group(self) -> str:
        return f"odds-{self.name}"

    @property
    def mysql(self) -> MySQLConfig:
        base = MySQLConfig.from_dsn(self.base_dsn)
        return MySQLConfig(base.host, base.port, base.user, self.database, base.password)

    def env(self, web_port: int, index: int = 0) -> dict[str, str]:
        env = super().env(web_port, index)
        env["BROKER_URL"] = self.broker_url
        env.update(self.extra_env)
        return env

    async def _server(self) -> Any:
        base = MySQLConfig.from_dsn(self.base_dsn)
        return await aiomysql.connect(host=base.host, port=base.port, user=base.user,
                                      password=base.password, autocommit=True,
                                      connect_timeout=5)

    async def create(self) -> None:
        conn = await self._server()
        async with conn.cursor() as cur:
            await cur.execute(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        conn.close()
        await asyncio.to_thread(self.run_command, "create-topics")

    async def destroy(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.kill()  # a graceful stop is not what these tests measure
                proc.wait(10)
        with contextlib.suppress(aiomysql.Error, OSError):
            conn = await self._server()
            async with conn.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
            conn.close()
        with contextlib.suppress(Exception):
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap,
                                        request_timeout_ms=10_000)
            await asyncio.wait_for(admin.start(), 15)
            try:
                names = [t for t in await admin.list_topics() if t.startswith(f"{self.name}.")]
                if names:
                    await admin.delete_topics(names)
                await admin.delete_consumer_groups([self.group])
            finally:
                await admin.close()
        # The data dirs and worker logs stay in pytest's tmp_path (kept for 3 runs).

    def kill(self, worker: Worker) -> None:
        worker.proc.kill()
        worker.proc.wait(30)


# -- feeds and the reference -----------------------------------------------------------------


@dataclass(frozen=True)
class FeedSpec:
    """A deterministic feed: ``bench.workload.Workload(events, seed).generate(count)``."""

    events: int
    seed: int
    count: int
    first_event: int = 1_000_000

    def records(self) -> list[tuple[bytes, bytes]]:
        from bench.workload import Workload

        workload = Workload(self.events, seed=self.seed, first_event=self.first_event)
        return list(workload.generate(self.count).records())


@dataclass
class Expected:
    """The reference's final state: raw snapshots, as the worker's tables hold them."""

    markets: dict[str, Any]
    events: dict[str, Any]
    price_changes: int
    settlements: int
    seconds: float

    def published_markets(self) -> dict[str, Any]:
        """The ``markets.v1`` values: the snapshots themselves."""
        return dict(self.markets)

    def published_events(self) -> dict[str, Any]:
        """The ``events.v1`` values."""
        from models.event import published_event

        return {k: published_event(v) for k, v in self.events.items()}

    def views(self) -> dict[str, Any]:
        from web.shapes import event_view

        by_event: defaultdict[str, list[Any]] = defaultdict(list)
        for market in self.markets.values():
            by_event[market["event_id"]].append(market)
        return {e: event_view(state, by_event[e]) for e, state in self.events.items()}


def compute_reference(spec: FeedSpec, partitions: int) -> dict[str, Any]:
    """Replay the feed with the pure rules, one message at a time (``models.memory``)."""
    from models.memory import MemoryState, replay

    started = time.perf_counter()
    state = MemoryState()
    price_changes = settlements = 0
    records = spec.records()
    for start in range(0, len(records), 5000):
        chunk = [orjson.loads(value) for _key, value in records[start:start + 5000]]
        for plan in replay(state, chunk, partitions, now_ms=0):
            price_changes += sum(1 for r in plan.odds_changes for c in r.value["changes"]
                                 if c["kind"] == "price")
            settlements += len(plan.settlements)
    return {"markets": state.markets, "events": state.events, "price_changes": price_changes,
            "settlements": settlements, "seconds": time.perf_counter() - started}


async def reference(spec: FeedSpec, partitions: int, tmp: Path) -> Expected:
    """Compute the reference in a child process (it takes a core while the worker runs)."""
    out = tmp / f"reference-{spec.seed}-{spec.count}.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.faults_support", "reference",
        orjson.dumps({**spec.__dict__, "partitions": partitions}).decode(), str(out),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), 600)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"reference computation failed:\n{output.decode()[-3000:]}")
    data = orjson.loads(out.read_bytes())
    return Expected(data["markets"], data["events"], data["price_changes"],
                    data["settlements"], data["seconds"])


# -- comparing every output with the reference -----------------------------------------------


async def _get_all(url: str, paths: Iterable[str], concurrency: int = 8
                   ) -> dict[str, tuple[int, Any]]:
    found: dict[str, tuple[int, Any]] = {}
    limit = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as http:

        async def one(path: str) -> None:
            async with limit:
                try:
                    async with http.get(f"{url}{path}") as resp:
                        found[path] = (resp.status, await resp.json(content_type=None))
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    found[path] = (0, repr(exc))

        await asyncio.gather(*(one(p) for p in paths))
    return found


async def http_mismatches(worker: Worker, views: dict[str, Any]) -> list[str]:
    """Return the events whose ``GET /events/{id}`` differs from the reference (all of them
    are requested)."""
    found = await _get_all(worker.url, [f"/events/{e}" for e in views])
    return [e for e, view in views.items() if found[f"/events/{e}"] != (200, view)]


async def http_served(worker: Worker, event_ids: Iterable[str]) -> list[str]:
    """Return the events ``GET /events/{id}`` does not answer with 200."""
    ids = list(event_ids)
    found = await _get_all(worker.url, [f"/events/{e}" for e in ids])
    return [e for e in ids if found[f"/events/{e}"][0] != 200]


async def mysql_tables(config: MySQLConfig) -> dict[str, set[tuple[Any, ...]]]:
    """The markets, outcomes and events tables, in the column order of ``sinks.mysql``."""
    return {
        "markets": set(await mysql_rows(config, (
            "SELECT event_id, market_id, specifiers, name, status, producer, margin,"
            " certainty, void_reason, cancelled, cancels, outcomes, updated_ts, version"
            " FROM markets"))),
        "outcomes": set(await mysql_rows(config, (
            "SELECT event_id, market_id, specifiers, outcome_id, name, odds, active,"
            " probability, result, void_factor, dead_heat_factor, version FROM outcomes"))),
        "events": set(await mysql_rows(config, (
            "SELECT event_id, status, match_status, home_score, away_score, clock, start_time,"
            " sport, competition, home, away, updated_ts, version FROM events"))),
    }


def expected_tables(expected: Expected) -> dict[str, set[tuple[Any, ...]]]:
    """The rows the sink must hold for the reference, built by the sink's own row functions
    from the published forms (what the sink reads)."""
    from sinks.mysql import event_rows, market_rows

    markets = list(expected.published_markets().values())
    outcomes = {(s["event_id"], s["market_id"], s["specifiers"], o["id"], o.get("name"),
                 o["odds"], o["active"], o["probability"], o.get("result"),
                 o.get("void_factor"), o.get("dead_heat_factor"), s["version"])
                for s in markets for o in s["outcomes"]}  # the columns of the outcomes view
    return {"markets": set(market_rows(markets)), "outcomes": outcomes,
            "events": set(event_rows(list(expected.published_events().values())))}


async def mysql_counts(config: MySQLConfig) -> tuple[int, int]:
    ((history,),) = await mysql_rows(config, "SELECT COUNT(*) FROM odds_history")
    ((settled,),) = await mysql_rows(config, "SELECT COUNT(*) FROM settlements")
    return int(history), int(settled)


def table_diff(got: dict[str, set[tuple[Any, ...]]], want: dict[str, set[tuple[Any, ...]]]
               ) -> dict[str, Any]:
    """Per table: how many rows are missing or unexpected, and a few examples."""
    diff: dict[str, Any] = {}
    for name, rows in want.items():
        missing, extra = rows - got[name], got[name] - rows
        if missing or extra:
            diff[name] = {"missing": len(missing), "unexpected": len(extra),
                          "examples": sorted(map(str, missing))[:2] + sorted(map(str, extra))[:2]}
    return diff


@dataclass
class Raw:
    partition: int
    offset: int
    key: str
    value: Any


async def read_records(topic: str, bootstrap: str) -> list[Raw]:
    """Every record of a topic, from the start to its current end, in offset order."""
    ends = await end_offsets(topic, bootstrap=bootstrap)
    found: list[Raw] = []
    parts = [TopicPartition(topic, p) for p, end in ends.items() if end > 0]
    if not parts:
        return found
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                isolation_level="read_committed",
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        remaining = set(parts)
        while remaining:
            for tp, batch in (await consumer.getmany(timeout_ms=1000, max_records=20000)
                              ).items():
                for rec in batch:
                    found.append(Raw(tp.partition, rec.offset,
                                     rec.key.decode() if rec.key else "",
                                     orjson.loads(rec.value) if rec.value else None))
            for tp in list(remaining):  # by position: the log ends with a commit marker
                if await consumer.position(tp) >= ends[tp.partition]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return sorted(found, key=lambda r: (r.partition, r.offset))


def _versioned(value: dict[str, Any]) -> dict[str, Any]:
    """A record without the fields that may change under the same version (marks)."""
    from models.event import UNVERSIONED_EVENT
    from models.market import UNVERSIONED_MARKET

    unversioned = UNVERSIONED_MARKET if "market_id" in value else UNVERSIONED_EVENT
    return {k: v for k, v in value.items() if k not in unversioned}


def regressions(records: Iterable[Raw]) -> list[str]:
    """Keys whose published versions ever go back, or whose repeated version (an
    at-least-once re-publication, or marks moved on) carries other content."""
    latest: dict[str, tuple[int, Any]] = {}
    bad: list[str] = []
    for rec in records:
        version = rec.value["version"]
        held = latest.get(rec.key)
        if held is not None and (version < held[0] or (
                version == held[0] and _versioned(rec.value) != _versioned(held[1]))):
            bad.append(f"{rec.key}@{rec.partition}:{rec.offset} v{version} after v{held[0]}")
        if held is None or version >= held[0]:
            latest[rec.key] = (version, rec.value)
    return bad


@dataclass
class StateCheck:
    """Compares a deployment's whole output with the reference, as often as asked."""

    platform: FaultPlatform
    expected: Expected
    views: dict[str, Any] = field(init=False)
    markets: dict[str, Any] = field(init=False)
    events: dict[str, Any] = field(init=False)
    tables: dict[str, set[tuple[Any, ...]]] = field(init=False)
    last: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.views = self.expected.views()
        self.markets = self.expected.published_markets()
        self.events = self.expected.published_events()
        self.tables = expected_tables(self.expected)

    async def http(self, workers: Iterable[Worker]) -> bool:
        for worker in workers:
            wrong = await http_mismatches(worker, self.views)
            if wrong:
                self.last["http"] = f"{len(wrong)} events differ on {worker.url}, e.g. {wrong[:3]}"
                return False
        self.last.pop("http", None)
        return True

    async def diagnose(self, workers: Iterable[Worker]) -> dict[str, Any]:
        """Say how each output differs from the reference, market by market: missing, an
        older version (an update lost), a newer one (applied twice), or other content."""
        report: dict[str, Any] = {}
        for worker in workers:
            found = await _get_all(worker.url, [f"/events/{e}" for e in self.views])
            kinds: defaultdict[str, int] = defaultdict(int)
            examples: list[str] = []
            for event_id, view in self.views.items():
                status, body = found[f"/events/{event_id}"]
                if (status, body) == (200, view):
                    continue
                if status != 200:
                    kinds[f"status {status}"] += 1
                    continue
                got = {(m["market_id"], m["specifiers"]): m for m in body["markets"]}
                for market in view["markets"]:
                    held = got.get((market["market_id"], market["specifiers"]))
                    kind = ("missing" if held is None
                            else "older" if held["version"] < market["version"]
                            else "newer" if held["version"] > market["version"]
                            else "same version, other content" if held != market else "")
                    if kind:
                        kinds[kind] += 1
                        if len(examples) < 4:
                            examples.append(f"{event_id}/{market['market_id']}/"
                                            f"{market['specifiers']}: want v{market['version']}"
                                            f" got {held and held['version']}")
                event_fields = {k: v for k, v in body.items() if k != "markets"}
                if event_fields != {k: v for k, v in view.items() if k != "markets"}:
                    kinds["event fields"] += 1
            report[worker.url] = {"markets": dict(kinds), "examples": examples}
        markets = await read_compacted(self.platform.topic("markets.v1"),
                                       bootstrap=self.platform.bootstrap)
        kinds = defaultdict(int)
        for key, want in self.markets.items():
            held = markets.get(key)
            kind = ("missing" if held is None else "older" if held["version"] < want["version"]
                    else "newer" if held["version"] > want["version"]
                    else "other content" if held != want else "")
            if kind:
                kinds[kind] += 1
        report["markets.v1"] = dict(kinds)
        await self.mysql()
        report["mysql"] = self.last.get("mysql")
        return report

    async def topics(self) -> bool:
        bootstrap = self.platform.bootstrap
        markets = await read_compacted(self.platform.topic("markets.v1"), bootstrap=bootstrap)
        events = await read_compacted(self.platform.topic("events.v1"), bootstrap=bootstrap)
        problems = {}
        for name, got, want in (("markets.v1", markets, self.markets),
                                ("events.v1", events, self.events)):
            if got != want:
                different = [k for k in want if got.get(k) != want[k]]
                problems[name] = {"different_or_missing": len(different),
                                  "unexpected": len(set(got) - set(want)),
                                  "examples": different[:3]}
        self.last["topics"] = problems
        return not problems

    async def mysql(self) -> bool:
        try:
            diff = table_diff(await mysql_tables(self.platform.mysql), self.tables)
            counts = await mysql_counts(self.platform.mysql)
        except (aiomysql.Error, OSError) as exc:
            self.last["mysql"] = repr(exc)
            return False
        want = (self.expected.price_changes, self.expected.settlements)
        if counts != want:
            diff["odds_history, settlements"] = {"rows": counts, "expected": want}
        self.last["mysql"] = diff
        return not diff

    async def wait(self, check: Callable[[], Awaitable[bool]], seconds: float, what: str,
                   workers: Iterable[Worker], interval: float = 2.0) -> float:
        """``until(check)``; on time out, say how every output differs (``diagnose``)."""
        try:
            return await until(check, seconds, what, lambda: self.last, interval)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{await self.diagnose(workers)}") from None

    async def no_regressions(self) -> None:
        """No older snapshot was ever published after a newer one for the same key."""
        for name in ("markets.v1", "events.v1"):
            records = await read_records(self.platform.topic(name), self.platform.bootstrap)
            bad = regressions(records)
            assert not bad, f"{name}: {len(bad)} regressions, e.g. {bad[:5]}"


async def until(check: Callable[[], Awaitable[bool]], seconds: float, what: str,
                details: Callable[[], Any] | None = None, interval: float = 1.0) -> float:
    """Await ``check()`` until it is true; return the seconds it took; fail after
    ``seconds`` with ``details()`` in the message."""
    started = time.monotonic()
    deadline = started + seconds
    while True:
        if await check():
            return time.monotonic() - started
        if time.monotonic() > deadline:
            shown = details() if details is not None else None
            raise AssertionError(f"timed out after {seconds}s waiting for {what}: {shown!r}"
                                 [:4000])
        await asyncio.sleep(interval)


async def feed_lag(worker: Worker, platform: Platform) -> int | None:
    """Records of ``feed.v1`` the worker has not read yet, from its metrics (None if it
    does not answer or owns no feed partition yet)."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http, \
                http.get(f"{worker.url}/metrics") as resp:
            text = await resp.text()
    except (aiohttp.ClientError, TimeoutError):
        return None
    marker = f'topic="{platform.topic("feed.v1")}"'
    lags = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith("odds_consumer_lag_records{") and marker in line]
    return int(sum(lags)) if lags else None


async def feed_partitions(worker: Worker, platform: Platform) -> set[int]:
    """The ``feed.v1`` partitions a worker's agents consume, from its lag metrics."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http, \
                http.get(f"{worker.url}/metrics") as resp:
            text = await resp.text()
    except (aiohttp.ClientError, TimeoutError):
        return set()
    marker = f'topic="{platform.topic("feed.v1")}"'
    return {int(line.split('partition="')[1].split('"')[0]) for line in text.splitlines()
            if line.startswith("odds_consumer_lag_records{") and marker in line}


async def group_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    """Committed offsets of a consumer group, by (topic, partition)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()
                if meta.offset >= 0}
    finally:
        await admin.close()


async def group_assignment(bootstrap: str, group: str) -> list[int]:
    """How many partitions each member of a consumer group holds now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        held = []
        for response in await admin.describe_consumer_groups([group]):
            for described in response.to_object()["groups"]:
                for member in described["members"]:
                    raw = member["member_assignment"]
                    assignment = ConsumerProtocolMemberAssignment.decode(raw) if raw else None
                    held.append(sum(len(partitions) for _topic, partitions
                                    in (assignment.assignment if assignment else [])))
        return held
    finally:
        await admin.close()


class Feeder:
    """Sends records in order at about ``per_second`` in the background (one idempotent
    producer, every chunk acknowledged before the next)."""

    def __init__(self, platform: FaultPlatform, records: list[tuple[bytes, bytes]],
                 per_second: float, chunk: int = 200) -> None:
        self.platform = platform
        self.records = records
        self.per_second = per_second
        self.chunk = chunk
        self.sent = 0
        self.task: asyncio.Task[None] | None = None

    async def _run(self, upto: int) -> None:
        from tests.integration.support import FeedProducer

        topic = self.platform.topic("feed.v1")
        async with FeedProducer(bootstrap=self.platform.bootstrap) as producer:
            while self.sent < upto:
                started = time.monotonic()
                chunk = self.records[self.sent:min(self.sent + self.chunk, upto)]
                await producer.send(topic, chunk)
                self.sent += len(chunk)
                await asyncio.sleep(max(0.0, len(chunk) / self.per_second
                                        - (time.monotonic() - started)))

    def start(self, upto: int | None = None) -> None:
        self.task = asyncio.create_task(self._run(len(self.records) if upto is None else upto))

    async def wait(self) -> None:
        if self.task is not None:
            await self.task

    async def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class Supervisor:
    """Keeps one worker process running, as a container runtime would: a worker that exits
    is started again (same index, so the same data dir), and each exit is recorded."""

    def __init__(self, platform: FaultPlatform, index: int = 0) -> None:
        self.platform = platform
        self.index = index
        self.worker = platform.spawn_worker(index)
        self.exits: list[tuple[float, int]] = []
        self.task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            code = self.worker.proc.poll()
            if code is not None:
                self.exits.append((time.monotonic(), code))
                self.worker = self.platform.spawn_worker(self.index)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[1] != "reference":
        print("usage: python -m tests.integration.faults_support reference SPEC OUT",  # noqa: T201
              file=sys.stderr)
        return 2
    args = orjson.loads(argv[2])
    partitions = args.pop("partitions")
    result = compute_reference(FeedSpec(**args), partitions)
    Path(argv[3]).write_bytes(orjson.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
