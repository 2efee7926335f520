"""Feed this worker's replica from Kafka: a plain consumer, no group, every partition."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from app import metrics, topics
from app.faust_app import app, settings
from app.following import KafkaFollower, caught_up, topic_partitions
from app.kafka_security import client_kwargs
from web.replica import REPLICA, Replica

log = logging.getLogger(__name__)


async def _partitions(consumer: Any, topic: str) -> list[TopicPartition]:
    def waiting(_seconds: float) -> None:
        log.info("read model waiting for topic %s to exist", topic)

    return await topic_partitions(consumer, topic, settings.topic_partitions, waiting)


async def _place(consumer: Any, replica: Replica) -> None:
    """Assign every partition and seek: first start from the topics, later from the replica."""
    if not replica.changes.started:
        changes, events = topics.odds_changes.get_topic_name(), topics.events.get_topic_name()
        change_parts = await _partitions(consumer, changes)
        event_parts = await _partitions(consumer, events)
        starts = await consumer.end_offsets(change_parts)
        ends = await consumer.end_offsets(event_parts)
        replica.setup(changes, {tp.partition: starts[tp] for tp in change_parts},
                      events, {tp.partition: ends[tp] for tp in event_parts})
        consumer.assign([*change_parts, *event_parts])
        await consumer.seek_to_beginning(*event_parts)
        for tp in change_parts:
            consumer.seek(tp, starts[tp])
        return
    # After a consumer failure: carry on from what the replica has applied; an index that
    # was still loading loads again (bootstrap records never reach the buffer's head).
    positions = replica.positions()
    consumer.assign([TopicPartition(t, p) for t, p in positions])
    for (topic, partition), offset in positions.items():
        consumer.seek(TopicPartition(topic, partition), offset)
    if not replica.ready:
        await consumer.seek_to_beginning(
            *(TopicPartition(replica.events_topic, p) for p in replica.bootstrap_end))


async def follow(replica: Replica, stopping: asyncio.Event) -> None:
    """Consume into ``replica`` until ``stopping`` is set."""
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings), group_id=None, enable_auto_commit=False, fetch_max_wait_ms=100,
        isolation_level="read_committed",
        client_id=f"{settings.app_id}-read-model", max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    try:
        await consumer.start()
        await _place(consumer, replica)
        short = {replica.changes_topic: "odds-changes.v2", replica.events_topic: "events.v1"}
        bootstrap = {TopicPartition(replica.events_topic, partition): end
                     for partition, end in replica.bootstrap_end.items()}
        while not stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, records in batches.items():
                for record in records:
                    replica.apply(tp.topic, tp.partition, record.offset, record.key,
                                  record.value)
                metrics.READ_MODEL_RECORDS.labels(short.get(tp.topic, tp.topic)).inc(
                    len(records))
            if not replica.ready and await caught_up(consumer, bootstrap):
                replica.ready = True
                log.info("read model ready: %d events", len(replica.events))
            if batches:
                replica.changes.notify()
    finally:
        await consumer.stop()


@app.service
class ReadModelFollower(KafkaFollower):
    """Keeps ``web.replica.REPLICA`` current for as long as the worker runs."""

    what = "read model"

    async def follow(self, stopping: asyncio.Event) -> None:
        await follow(REPLICA, stopping)

    async def on_stop(self) -> None:
        await super().on_stop()
        REPLICA.changes.close()
