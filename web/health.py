"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import time
from typing import Any

from faust.types import AppT
from faust.web import Blueprint, Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app import topics
from app.broker_probe import broker_problem
from app.faust_app import settings
from app.liveness import LIVENESS
from web.replica import REPLICA
from web.scrape import fetched_to, partition_lag

#: Liveness fails when the odds agent made no progress for this long while records waited.
STALL_SECONDS = settings.health_stall_seconds


def feed_lag() -> int:
    """Return how many ``feed.v1`` records this worker's partitions have not read yet."""
    name = topics.feed.get_topic_name()
    return sum(lag for (topic, _), lag in partition_lag().items() if topic == name)


def feed_waiting(faust_app: AppT) -> int:
    """Return how many ``feed.v1`` records of this worker's partitions the odds agent has not
    finished: not read yet, or read and still waiting in the stream buffer or in a batch.

    The consumer's read position is not enough: it runs ahead of a stalled agent by up to
    the stream buffer (``stream_buffer_maxsize`` records per partition), so a stuck agent
    behind a full buffer would look idle. The finished position is the committed offset, or
    past the last acknowledged record when acks are waiting for the next commit.
    """
    consumer: Any = faust_app.consumer
    name = topics.feed.get_topic_name()
    committed = consumer._committed_offset  # Faust keeps no public finished position.
    acked = consumer._acked
    waiting = 0
    for tp in consumer.assignment():
        if tp.topic != name:
            continue
        highwater = consumer.highwater(tp)
        if highwater is None:
            continue
        done = committed.get(tp) or 0
        pending = acked.get(tp)
        if pending:
            done = max(done, max(pending) + 1)
        read = consumer._read_offset.get(tp)
        if read is None or read + 1 <= done:
            # Everything handed over is finished: what lies between it and the fetch
            # position are transaction markers, never handed over, not waiting records.
            done = max(done, fetched_to(tp))
        waiting += max(0, highwater - done)
    return waiting


class Waiting:
    """When a probe last saw nothing waiting, and first saw records waiting after that
    (monotonic)."""

    idle_at: float = time.monotonic()
    since: float | None = None


WAITING = Waiting()


def liveness_problem(faust_app: AppT) -> str | None:
    """Return why the worker is not alive, or None."""
    now = time.monotonic()
    lag = feed_waiting(faust_app)
    if lag == 0:
        WAITING.idle_at = now
        WAITING.since = None
        return None
    if WAITING.since is None:
        # Idleness is only seen by probes: a worker idle and unprobed for longer than the
        # window, whose agent has just been handed records, is not stalled. The window
        # starts at the first probe that sees records waiting, at the latest.
        WAITING.since = now
    stalled = now - max(LIVENESS.last_batch_at, WAITING.idle_at, WAITING.since)
    if stalled > STALL_SECONDS:
        return f"odds agent made no progress for {stalled:.0f}s with {lag} records waiting"
    return None


async def transactions_problem() -> str | None:
    """Return why the odds agent's producer cannot reach Kafka now, or None."""
    producer = LIVENESS.producer()
    if producer is None:
        return "Kafka producer not running (starting, or restarting after a failed transaction)"
    return await broker_problem(producer.client, topics.feed.get_topic_name())


async def readiness_problems(faust_app: AppT) -> list[str]:
    """Return why the worker should not get traffic yet (empty when ready)."""
    problems = []
    if not faust_app.consumer.assignment():
        problems.append("no partitions assigned yet")
    if faust_app.in_recovery or faust_app.rebalancing:
        problems.append("table recovery or rebalance in progress")
    if LIVENESS.mysql_ping is not None and not await LIVENESS.mysql_ping():
        problems.append("MySQL unreachable")
    if not REPLICA.ready:
        problems.append("read model still loading events.v1")
    # Without Kafka, this worker's state stops moving and silent producers cannot be
    # suspended (that goes through the feed topic): serve no odds rather than stale ones.
    if LIVENESS.transactional and (problem := await transactions_problem()):
        problems.append(problem)
    return problems


blueprint = Blueprint("probes")


@blueprint.route("/health")
class Health(View):
    """Liveness: the event loop answers and the odds agent is not stuck behind lag."""

    async def get(self, request: Request) -> Response:
        problem = liveness_problem(self.app)
        if problem:
            return self.json({"status": "unhealthy", "reason": problem}, status=503)
        return self.json({"status": "ok"})


@blueprint.route("/ready")
class Ready(View):
    """Readiness: partitions assigned, tables recovered, MySQL and Kafka reachable."""

    async def get(self, request: Request) -> Response:
        problems = await readiness_problems(self.app)
        if problems:
            return self.json({"status": "not_ready", "reasons": problems}, status=503)
        return self.json({"status": "ready"})


@blueprint.route("/metrics")
class Metrics(View):
    """Prometheus text exposition of the platform's metrics."""

    async def get(self, request: Request) -> Response:
        # aiohttp refuses a charset inside content_type=, so the header is set whole.
        response: Response = self.bytes(generate_latest(), content_type=None,
                                        headers={"Content-Type": CONTENT_TYPE_LATEST})
        return response
