"""The MySQL sink's consumer: outbound topics in batches, committed only after they land.

It reads with a plain aiokafka consumer in its own group (``{APP_ID}-mysql-sink``) rather
than a Faust agent: a sink needs no tables or per-event context, and Faust's per-message
machinery cost the worker more CPU than the writes themselves (11 outbound records per feed
message; docs/decisions/0012). It runs inside the worker (``SINK_MODE=inline``) or as its
own process (``faust -A app mysql-sink``, ``SINK_MODE=separate`` on the workers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    ConsumerStoppedError,
    IllegalStateError,
    KafkaError,
)
from mode import Service

from app import metrics
from app.broker_probe import broker_problem
from app.retry import Retry
from config import Settings
from sinks.mysql import MySQLSink, SinkBatch, SinkStopped

log = logging.getLogger(__name__)

#: Seconds to wait before retrying after the consumer itself failed.
RETRY_SECONDS = 1.0
#: A fetch answers once this much is waiting, or after ``FETCH_MAX_WAIT_MS`` (aiokafka: 1 byte,
#: 500 ms). With the defaults the broker answered each transaction's commit with its own small
#: response, each decoded here for a batch that waits for ``SINK_WITHIN`` anyway (the
#: measurements: docs/decisions/0011).
FETCH_MIN_BYTES = 256 * 1024
FETCH_MAX_WAIT_MS = 100


def sink_group(settings: Settings) -> str:
    """Return the consumer group of the MySQL sink."""
    return f"{settings.app_id}-mysql-sink"


def sink_topics(settings: Settings) -> dict[str, str]:
    """Return the outbound topics the sink reads, each with its ``SinkBatch`` field."""
    return {settings.topic("markets.v1"): "markets", settings.topic("events.v1"): "events",
            settings.topic("settlements.v1"): "settlements",
            settings.topic("odds-changes.v2"): "odds_changes"}


def decode_batch(records: Mapping[Any, list[Any]], fields: Mapping[str, str]
                 ) -> tuple[SinkBatch, dict[TopicPartition, int]]:
    """Decode fetched records into a batch; return it with the offsets to commit after it."""
    batch = SinkBatch()
    offsets: dict[TopicPartition, int] = {}
    loads = orjson.loads
    for tp, messages in records.items():
        target = getattr(batch, fields[tp.topic])
        for message in messages:
            if message.value is not None:
                target.append(loads(message.value))
        if messages:
            offsets[tp] = messages[-1].offset + 1
    return batch, offsets


class SinkConsumer(Service):
    """Fetch, write with retry, then commit: offsets never run ahead of MySQL."""

    def __init__(self, settings: Settings, sink: MySQLSink, client: Mapping[str, Any],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.sink = sink
        self.client = dict(client)
        self.fields = sink_topics(settings)
        self.consumer: AIOKafkaConsumer | None = None
        #: Monotonic time of the last batch written or of the last empty fetch.
        self.last_progress = time.monotonic()
        self.batches = 0

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *self.fields, group_id=sink_group(self.settings), enable_auto_commit=False,
            auto_offset_reset="earliest", isolation_level="read_committed",
            max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=16 * 1024 * 1024,
            fetch_min_bytes=FETCH_MIN_BYTES, fetch_max_wait_ms=FETCH_MAX_WAIT_MS, **self.client)

    async def kafka_problem(self) -> str | None:
        """Return why this sink cannot read from Kafka now, or None."""
        consumer = self.consumer
        if consumer is None:
            return "Kafka consumer not running (starting, or restarting after a failure)"
        return await broker_problem(consumer._client, next(iter(self.fields)))

    async def on_stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None
        await self.sink.close()

    async def _fetch(self, consumer: AIOKafkaConsumer) -> dict[Any, list[Any]]:
        """Collect up to SINK_BATCH_SIZE records, waiting at most SINK_WITHIN for more."""
        size, deadline = self.settings.sink_batch_size, time.monotonic() + self.settings.sink_within
        found: dict[Any, list[Any]] = {}
        count = 0
        while count < size:
            left = deadline - time.monotonic()
            if left <= 0 and count:
                break
            fetched = await consumer.getmany(timeout_ms=max(0, int(left * 1000)),
                                             max_records=size - count)
            for tp, messages in fetched.items():
                found.setdefault(tp, []).extend(messages)
                count += len(messages)
            if not fetched and left <= 0:
                break
        return found

    async def _write_and_commit(self, consumer: AIOKafkaConsumer,
                                records: dict[Any, list[Any]]) -> None:
        batch, offsets = decode_batch(records, self.fields)
        metrics.SINK_BATCH_SIZE.observe(sum(len(m) for m in records.values()))
        if len(batch):
            # Retries until MySQL takes it; a stop cancels it here, before the commit.
            await self.sink.write_with_retry(batch, stopping=lambda: self.should_stop)
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # A rebalance took these partitions: the group refused the commit, or aiokafka
            # did (IllegalStateError: not assigned now, or the rebalance is still under
            # way). Whoever owns them next writes them again (the writes are idempotent),
            # so nothing is lost, and this consumer carries on with what it holds.
            log.warning("sink commit refused after a rebalance (%s); the new owner re-writes",
                        type(exc).__name__)

    @Service.task
    async def _run(self) -> None:
        retry = Retry("MySQL sink consumer", log, first=RETRY_SECONDS, cap=RETRY_SECONDS,
                      stopping=lambda: self.should_stop)
        while not self.should_stop:
            try:
                consumer = self.consumer = self._new_consumer()
                await consumer.start()
                while not self.should_stop:
                    records = await self._fetch(consumer)
                    # A fetch that answered is the recovery (a start alone may fail next).
                    retry.succeeded()
                    if records:
                        await self._write_and_commit(consumer, records)
                        self.batches += 1
                    self.last_progress = time.monotonic()
            except ConsumerStoppedError:
                if self.should_stop:
                    return  # on_stop closed it under a fetch
                raise
            except SinkStopped:
                # Stopping while MySQL is down: the batch stays uncommitted and is written
                # by whoever reads it next.
                log.warning("stopping with a batch MySQL did not take; it stays uncommitted")
                return
            except KafkaError as exc:
                if self.consumer is not None:
                    await self.consumer.stop()
                    self.consumer = None
                await retry.wait(f"{type(exc).__name__}; restarting it")
