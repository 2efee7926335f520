"""Kafka over SASL/SCRAM-SHA-512, and secrets that never reach logs, errors or /metrics.

``scripts/kafka.sh up`` gives the local broker a second listener, SASL_PLAINTEXT with
SCRAM-SHA-512, on the same data (default 127.0.0.1:9094, user ``odds``). Here a worker and
the CLI connect through it with the settings a deployment would use, the password read from a
mounted file.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiomysql
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from feeds.generator import OddsGenerator
from models.memory import MemoryState, replay
from tests.integration.support import (
    ROOT,
    Platform,
    Worker,
    eventually,
    free_port,
    mysql_rows,
)
from web.shapes import event_view

pytestmark = pytest.mark.timeout(300)

SASL_BOOTSTRAP = os.environ.get("KAFKA_SASL_BOOTSTRAP", "127.0.0.1:9094")
SCRAM_USER = os.environ.get("KAFKA_SCRAM_USER", "odds")
SCRAM_PASSWORD = os.environ.get("KAFKA_SCRAM_PASSWORD", "odds-secret")
WRONG_KAFKA_PASSWORD = "Wr0ng-kafka-pw-5b1e"
WRONG_MYSQL_PASSWORD = "Wr0ng-mysql-pw-9c4d"
AUTH_FAILED = ("Authentication failed during authentication due to invalid credentials with SASL "
               "mechanism SCRAM-SHA-512")


def sasl_kwargs(password: str = SCRAM_PASSWORD) -> dict[str, Any]:
    return {"bootstrap_servers": SASL_BOOTSTRAP, "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": SCRAM_USER,
            "sasl_plain_password": password}


def secret_file(folder: Path, name: str, text: str) -> Path:
    """A secret as Kubernetes mounts one: a file only its owner reads."""
    path = folder / name
    path.write_text(text + "\n")
    path.chmod(stat.S_IRUSR)
    return path


@pytest.fixture(scope="module", autouse=True)
def sasl_listener() -> None:
    """Fail (never skip) with the way out when the broker has no SASL listener."""

    async def check() -> None:
        admin = AIOKafkaAdminClient(**sasl_kwargs(), request_timeout_ms=5000)
        try:
            await asyncio.wait_for(admin.start(), 20)
        except Exception as exc:  # noqa: BLE001 - reported as a failure below
            pytest.fail(f"no SASL/SCRAM-SHA-512 listener for user {SCRAM_USER} at "
                        f"{SASL_BOOTSTRAP} ({exc!r}); run `scripts/kafka.sh up`, which adds it "
                        f"(restarting a broker it started without it)", pytrace=False)
        finally:
            await admin.close()

    asyncio.run(check())


@pytest.fixture
async def sasl_platform(tmp_path: Path) -> AsyncIterator[Platform]:
    """A platform whose worker and CLI reach Kafka only through the SASL listener."""
    password = secret_file(tmp_path, "kafka-password", SCRAM_PASSWORD)
    deployment = Platform(tmp_path, extra_env={
        "BROKER_URL": f"kafka://{SASL_BOOTSTRAP}",
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": SCRAM_USER,
        "KAFKA_SASL_PASSWORD_FILE": str(password),
    })
    await deployment.create()  # faust create-topics, over SASL
    try:
        yield deployment
    finally:
        await deployment.destroy()


async def http_text(worker: Worker, path: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{worker.url}{path}") as resp:
        return await resp.text()


async def assert_no_secret(worker: Worker, *secrets: str) -> None:
    """Neither the worker's log nor any of its HTTP answers contains a secret."""
    texts = {"worker log": worker.log.read_text(errors="replace")}
    for path in ("/metrics", "/ready", "/health", "/events/sr:match:0"):
        texts[path] = await http_text(worker, path)
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret appears in {where}"


async def read_markets(platform: Platform) -> dict[str, Any]:
    """The latest value per key of markets.v1, read over SASL."""
    topic = platform.topic("markets.v1")
    consumer = AIOKafkaConsumer(**sasl_kwargs(), enable_auto_commit=False,
                                isolation_level="read_committed")
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(platform.partitions)]
        ends = await consumer.end_offsets(parts)
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        latest: dict[str, Any] = {}
        remaining = {tp for tp in parts if ends[tp]}
        while remaining:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                for record in batch:
                    latest[(record.key or b"").decode()] = orjson.loads(record.value or b"null")
            for tp in list(remaining):  # by position: the log ends with a commit marker
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return latest
    finally:
        await consumer.stop()


async def test_odds_flow_end_to_end_over_sasl_scram(sasl_platform: Platform) -> None:
    platform = sasl_platform
    messages = list(OddsGenerator(5, seed=11).messages(300, start_ts=1_700_000_000_000))
    reference = MemoryState()
    replay(reference, messages, platform.partitions)
    event_ids = sorted(reference.events)

    worker = await platform.start_worker()
    producer = AIOKafkaProducer(**sasl_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = [await producer.send(platform.topic("feed.v1"), key=m["event_id"].encode(),
                                    value=orjson.dumps(m)) for m in messages]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()

    expected_views = {
        e: event_view(reference.events[e],
                      [s for s in reference.markets.values() if s["event_id"] == e])
        for e in event_ids}

    async def http_matches() -> bool:
        for event_id in event_ids:
            status, body = await worker.get(f"/events/{event_id}")
            if status != 200 or body != expected_views[event_id]:
                return False
        return True

    await eventually(http_matches, 90, "GET /events/{id} to show odds sent over SASL")
    expected_topic = dict(reference.markets)
    await eventually(lambda: _equal(read_markets(platform), expected_topic), 30,
                     "markets.v1, read over SASL, to hold the latest snapshots")
    await eventually(lambda: _rows(platform), 30, "the MySQL sink to write the markets")
    assert worker.proc.poll() is None
    await assert_no_secret(worker, SCRAM_PASSWORD, f":{platform.mysql.password}@")


async def _equal(found: Any, expected: Any) -> bool:
    return bool(await found == expected)


async def _rows(platform: Platform) -> bool:
    try:
        return bool(await mysql_rows(platform.mysql, "SELECT 1 FROM markets LIMIT 1"))
    except aiomysql.ProgrammingError as exc:
        if exc.args and exc.args[0] == 1146:  # the sink has not created its schema yet
            return False
        raise


async def test_wrong_kafka_password_fails_clearly_without_leaking_it(
        sasl_platform: Platform) -> None:
    platform = sasl_platform
    wrong = secret_file(platform.tmp, "wrong-kafka-password", WRONG_KAFKA_PASSWORD)
    platform.extra_env["KAFKA_SASL_PASSWORD_FILE"] = str(wrong)

    # The CLI: a non-zero exit, and the cause in what it prints.
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "faust", "-A", "app", "create-topics"],
        env=platform.env(free_port()), cwd=ROOT, capture_output=True, timeout=120, check=False)
    output = (result.stdout + result.stderr).decode(errors="replace")
    assert result.returncode != 0
    assert f"SaslAuthenticationFailed: {AUTH_FAILED}" in output, output[-3000:]
    assert WRONG_KAFKA_PASSWORD not in output

    # The worker: says why in its log, without the password, and exits non-zero, so that its
    # supervisor restarts it (with backoff) rather than it sitting there serving nothing.
    worker = platform.spawn_worker()

    async def exited() -> bool:
        return worker.proc.poll() is not None

    await eventually(exited, 90, "the worker to exit on the failed authentication")
    assert worker.proc.returncode != 0
    log = worker.log.read_text(errors="replace")
    assert AUTH_FAILED in log, worker.log_tail()
    assert WRONG_KAFKA_PASSWORD not in log


async def test_mysql_password_never_in_logs_errors_or_metrics(sasl_platform: Platform) -> None:
    platform = sasl_platform
    mysql = platform.mysql
    dsn = secret_file(platform.tmp, "mysql-dsn", f"mysql://{mysql.user}:{WRONG_MYSQL_PASSWORD}@"
                                                 f"{mysql.host}:{mysql.port}/{mysql.database}")
    platform.extra_env["MYSQL_DSN_FILE"] = str(dsn)  # wins over MYSQL_DSN
    worker = await platform.start_worker()
    message = OddsGenerator(1, seed=3).message(1_700_000_000_000)
    producer = AIOKafkaProducer(**sasl_kwargs())
    await producer.start()
    try:
        await producer.send_and_wait(platform.topic("feed.v1"),
                                     key=message["event_id"].encode(),
                                     value=orjson.dumps(message))
    finally:
        await producer.stop()

    async def sink_failing() -> bool:
        return "MySQL write failed" in worker.log.read_text(errors="replace")

    await eventually(sink_failing, 60, "the sink to report MySQL refusing it")
    status, body = await worker.get("/ready")
    assert status == 503 and "MySQL unreachable" in body["reasons"], body
    # Odds are still served from the tables while MySQL refuses the sink.
    status, _body = await worker.get(f"/events/{message['event_id']}")
    assert status == 200
    await assert_no_secret(worker, WRONG_MYSQL_PASSWORD, SCRAM_PASSWORD)
    # What was refused is said (1045: access denied), how to get in is not.
    assert "MySQL write failed (OperationalError: (1045,))" in worker.log.read_text(
        errors="replace")
    # The sink retries for as long as MySQL refuses it, which also holds up a graceful stop
    # (SIGTERM): end the worker here rather than wait out the platform's stop timeout.
    worker.proc.kill()
    worker.proc.wait(30)
