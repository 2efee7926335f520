"""Helpers for integration tests: isolated worker processes, Kafka and MySQL access."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiomysql
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from app.kafka_security import bootstrap_servers
from config.settings import MySQLConfig

ROOT = Path(__file__).resolve().parents[2]
BROKER_URL = os.environ.get("BROKER_URL", "kafka://127.0.0.1:9092")
BOOTSTRAP = bootstrap_servers(BROKER_URL)
BASE_DSN = os.environ.get("MYSQL_DSN", "mysql://betting:betting@127.0.0.1:3306/betting")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Platform:
    """One isolated deployment: its own app id, topic prefix, database and data dir."""

    tmp: Path
    name: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    partitions: int = 8
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def database(self) -> str:
        return f"betting_{self.name}"

    @property
    def mysql(self) -> MySQLConfig:
        base = MySQLConfig.from_dsn(BASE_DSN)
        return MySQLConfig(base.host, base.port, base.user, self.database, base.password)

    def topic(self, name: str) -> str:
        return f"{self.name}.{name}"

    def env(self, web_port: int, index: int = 0) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        mysql = self.mysql
        env.update({
            "BROKER_URL": BROKER_URL,
            "MYSQL_DSN": f"mysql://{mysql.user}:{mysql.password}@{mysql.host}:{mysql.port}/"
                         f"{mysql.database}",
            "APP_ID": f"odds-{self.name}",
            "TOPIC_PREFIX": f"{self.name}.",
            "TOPIC_PARTITIONS": str(self.partitions),
            "WEB_PORT": str(web_port),
            "WEB_HOST": "127.0.0.1",
            "APP_DATADIR": str(self.tmp / f"data{index}"),
            # Stable per worker index, like a StatefulSet pod's: a restarted worker aborts
            # the transaction its predecessor left open instead of waiting for its timeout.
            "TRANSACTIONAL_ID": f"odds-{self.name}-worker{index}",
            "APP_STORE": "rocksdb://",
            "EVENT_LOOP": "uvloop",
        })
        env.update(self.extra_env)
        return env

    def run_command(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "faust", "-A", "app", *args],
            env=self.env(free_port()), cwd=ROOT, capture_output=True, timeout=120, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"faust {' '.join(args)} failed: {result.stderr.decode()[-2000:]}")
        return result.stdout.decode()

    async def create(self) -> None:
        base = MySQLConfig.from_dsn(BASE_DSN)
        conn = await aiomysql.connect(host=base.host, port=base.port, user=base.user,
                                      password=base.password, autocommit=True)
        async with conn.cursor() as cur:
            await cur.execute(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        conn.close()
        await asyncio.to_thread(self.run_command, "create-topics")

    def spawn_worker(self, index: int = 0) -> Worker:
        port = free_port()
        with open(self.tmp / f"worker{index}.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "faust", "-A", "app", "worker", "-l", "info"],
                env=self.env(port, index), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )
        self.workers.append(proc)
        return Worker(proc, f"http://127.0.0.1:{port}", self.tmp / f"worker{index}.log")

    def spawn_sink(self, index: int = 0) -> Worker:
        """Start ``faust -A app mysql-sink`` (for SINK_MODE=separate); its URL serves the
        sink's ``/health``, ``/ready`` and ``/metrics``."""
        port = free_port()
        env = {**self.env(free_port(), index), "SINK_WEB_PORT": str(port)}
        with open(self.tmp / f"sink{index}.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "faust", "-A", "app", "mysql-sink"],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )
        self.workers.append(proc)
        return Worker(proc, f"http://127.0.0.1:{port}", self.tmp / f"sink{index}.log")

    def spawn_ingestor(self, provider: str, extra_env: Mapping[str, str] | None = None,
                       index: int = 0) -> Worker:
        """Start ``faust -A app ingest <provider>`` with this platform's env plus ``extra_env``
        (the provider's URL and credentials); its URL serves the ingestor's ``/health``,
        ``/ready`` and ``/metrics``, its output goes to ``ingest-<provider><index>.log``."""
        port = free_port()
        name = f"ingest-{provider}{index}"
        env = {**self.env(free_port(), index), "INGEST_WEB_PORT": str(port),
               "APP_DATADIR": str(self.tmp / name), **(extra_env or {})}
        with open(self.tmp / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "faust", "-A", "app", "ingest", provider],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )
        self.workers.append(proc)
        return Worker(proc, f"http://127.0.0.1:{port}", self.tmp / f"{name}.log")

    async def start_worker(self, index: int = 0) -> Worker:
        worker = self.spawn_worker(index)
        await worker.wait_serving()
        return worker

    async def destroy(self) -> None:
        for proc in self.workers:
            stop_process(proc)
        base = MySQLConfig.from_dsn(BASE_DSN)
        with contextlib.suppress(aiomysql.Error, OSError):
            conn = await aiomysql.connect(host=base.host, port=base.port, user=base.user,
                                          password=base.password, autocommit=True)
            async with conn.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
            conn.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
        await admin.start()
        try:
            names = [t for t in await admin.list_topics() if t.startswith(f"{self.name}.")]
            if names:
                await admin.delete_topics(names)
        finally:
            await admin.close()


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@dataclass
class Worker:
    """A running worker process and its HTTP address."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def rss_kib(self) -> int:
        """The worker process's resident memory, in KiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError(f"no VmRSS for worker {self.proc.pid}")

    def rss_mib(self) -> float:
        """The worker process's resident memory, in MiB."""
        return self.rss_kib() / 1024

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    async def wait_serving(self, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"worker exited early:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.url}/events/none:none:0") as resp:
                        if resp.status == 404:
                            return
                await asyncio.sleep(0.5)
        raise RuntimeError(f"worker did not serve within {seconds}s:\n{self.log_tail()}")

    async def ready(self) -> bool:
        """``/ready`` answers 200 (a worker not answering yet is not ready)."""
        return await self.answers("/ready")

    async def answers(self, path: str) -> bool:
        """``path`` answers 200; False while the process does not answer at all."""
        try:
            return await self.status(path) == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def status(self, path: str) -> int:
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}{path}") as resp:
            return resp.status

    async def get(self, path: str) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}{path}") as resp:
            return resp.status, await resp.json(content_type=None)

    async def metric(self, name: str, **labels: str) -> float:
        """One sample of ``/metrics`` (0.0 when it is not there)."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/metrics") as resp:
            text = await resp.text()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0


async def event_body(worker: Worker, event_id: str) -> dict[str, Any] | None:
    """``GET /events/{event_id}``'s body, None unless it answered 200."""
    status, body = await worker.get(f"/events/{event_id}")
    return body if status == 200 else None


async def produce(topic: str, records: Iterable[tuple[bytes, bytes]], *,
                  bootstrap: str = BOOTSTRAP) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10, acks="all",
                                enable_idempotence=True)
    await producer.start()
    count = 0
    try:
        batch = []
        for key, value in records:
            batch.append(await producer.send(topic, key=key, value=value))
            count += 1
        await asyncio.gather(*batch)
    finally:
        await producer.stop()
    return count


class FeedProducer:
    """One idempotent producer whose sends keep their order, for tests that interleave."""

    def __init__(self, *, bootstrap: str = BOOTSTRAP) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all",
                                         enable_idempotence=True)
        self.lock = asyncio.Lock()

    async def __aenter__(self) -> FeedProducer:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send(self, topic: str, records: Iterable[tuple[bytes, bytes]]) -> None:
        sent = [await self.producer.send(topic, key=k, value=v) for k, v in records]
        await asyncio.gather(*sent)


async def partitions(topic: str, *, bootstrap: str = BOOTSTRAP) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (description,) = await admin.describe_topics([topic])
        return [TopicPartition(topic, p["partition"]) for p in description["partitions"]]
    finally:
        await admin.close()


async def end_offsets(topic: str, *, bootstrap: str = BOOTSTRAP,
                      isolation: str = "read_committed") -> dict[int, int]:
    """End offsets per partition; read-committed (like every reader of the worker's
    transactional output) they are the last stable offsets."""
    parts = await partitions(topic, bootstrap=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(parts)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def read_compacted(topic: str, *, bootstrap: str = BOOTSTRAP) -> dict[str, Any]:
    """Read a topic from the start to its current end; return the latest value per key."""
    latest: dict[str, Any] = {}
    for key, value in await read_all(topic, bootstrap=bootstrap):
        latest[key] = value
    return latest


async def read_records(topic: str, *, bootstrap: str = BOOTSTRAP) -> list[Any]:
    """Read a topic from the start to its current end (committed records, as stored), in
    partition order."""
    ends = await end_offsets(topic, bootstrap=bootstrap)
    records: list[Any] = []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                isolation_level="read_committed")
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in ends]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        remaining = {tp for tp in parts if ends[tp.partition] > 0}
        while remaining:
            batches = await consumer.getmany(timeout_ms=1000)
            for batch in batches.values():
                records.extend(batch)
            # By position, not by the last record: a transaction's commit marker, never
            # handed over, is the last entry of the log.
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp.partition]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return records


async def read_all(topic: str, *, bootstrap: str = BOOTSTRAP) -> list[tuple[str, Any]]:
    """Read a topic from the start to its current end: (key, JSON value) in partition order."""
    return [(record.key.decode("utf-8", "replace") if record.key else "",
             orjson.loads(record.value) if record.value else None)
            for record in await read_records(topic, bootstrap=bootstrap)]


async def committed_offsets(group: str, topic: str, *,
                            bootstrap: str = BOOTSTRAP) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
    finally:
        await admin.close()


async def consumed(group: str, topic: str, ends: dict[int, int]) -> bool:
    """Whether ``group`` has committed every partition of ``topic`` up to ``ends``."""
    committed = await committed_offsets(group, topic)
    return all(committed.get(p, -1) >= end for p, end in ends.items() if end)


async def drained(group: str, topics: Iterable[str], seconds: float, *,
                  bootstrap: str = BOOTSTRAP) -> None:
    """Wait until ``group`` has committed each of ``topics``, in the order given, up to the
    end it has when its turn comes; fail after ``seconds`` for one topic.

    Give a pipeline's topics upstream first: a worker commits a record's offset only once
    what it wrote for it is acknowledged (the odds agent's output: committed), so when the
    last topic is drained, everything written for the records read so far can be read.
    """
    for topic in topics:
        ends = await end_offsets(topic, bootstrap=bootstrap)

        async def caught_up(topic: str = topic, ends: dict[int, int] = ends) -> bool:
            committed = await committed_offsets(group, topic, bootstrap=bootstrap)
            return all(committed.get(p, -1) >= end for p, end in ends.items() if end)

        await eventually(caught_up, seconds, f"{group} to commit {topic} up to {ends}",
                         interval=0.2)


@contextlib.asynccontextmanager
async def scratch_database(prefix: str) -> AsyncIterator[MySQLConfig]:
    """A new, empty database on the test server for one test, dropped afterwards."""
    base = MySQLConfig.from_dsn(BASE_DSN)
    database = f"{prefix}_{uuid.uuid4().hex[:10]}"
    server = await aiomysql.connect(host=base.host, port=base.port, user=base.user,
                                    password=base.password, autocommit=True)
    try:
        async with server.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{database}`")
        try:
            yield dataclasses.replace(base, database=database)
        finally:
            async with server.cursor() as cur:
                await cur.execute(f"DROP DATABASE `{database}`")
    finally:
        server.close()


async def mysql_rows(config: MySQLConfig, sql: str) -> list[tuple[Any, ...]]:
    conn = await aiomysql.connect(host=config.host, port=config.port, user=config.user,
                                  password=config.password, db=config.database)
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql)
            return list(await cur.fetchall())
    finally:
        conn.close()


async def eventually(check: Any, seconds: float, what: str, interval: float = 0.5) -> Any:
    """Call ``check()`` (awaiting what it returns when that is awaitable) until it gives a
    truthy value, and return that value; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}; last: {last!r}"[:3000])
