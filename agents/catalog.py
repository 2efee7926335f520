"""This worker's copy of the market descriptions: every record of ``market-descriptions.v1``.

The topic is compacted and small; each worker reads all of it from the beginning into
``CATALOG`` and follows it. The odds agent waits for ``CATALOG_READY`` (the topic read to
the end it had at start) before its first batch, so that a restarted worker never publishes
a market without the name it had before.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from app import topics
from app.faust_app import app, settings
from app.following import KafkaFollower, caught_up, topic_partitions
from app.kafka_security import client_kwargs
from models.catalog import Catalog

log = logging.getLogger(__name__)

CATALOG = Catalog()
CATALOG_READY = asyncio.Event()
#: How long a worker waits for the topic to exist before it runs without descriptions.
MISSING_TOPIC_SECONDS = 10.0


def apply_record(catalog: Catalog, key: bytes | None, value: bytes | None) -> bool:
    """Apply one topic record; False (and the catalog unchanged) when it is malformed."""
    if key is None:
        return False
    try:
        description = None if value is None else orjson.loads(value)
    except orjson.JSONDecodeError:
        return False
    if description is not None and not isinstance(description, dict):
        return False
    try:
        catalog.put(key.decode("utf-8", "replace"), description)
    except ValueError:
        return False
    return True


async def _assign(consumer: Any, topic: str) -> dict[TopicPartition, int]:
    """Assign every partition from the beginning; return each one's end offset now."""

    def waiting(seconds: float) -> None:
        if seconds >= MISSING_TOPIC_SECONDS and not CATALOG_READY.is_set():
            log.warning("topic %s does not exist: running without market descriptions "
                        "(create it with `faust -A app create-topics`)", topic)
            CATALOG_READY.set()

    assigned = await topic_partitions(consumer, topic, settings.topic_partitions, waiting)
    consumer.assign(assigned)
    await consumer.seek_to_beginning(*assigned)
    return dict(await consumer.end_offsets(assigned))


async def follow(catalog: Catalog, stopping: asyncio.Event) -> None:
    """Read the descriptions topic into ``catalog`` until ``stopping`` is set."""
    topic = topics.market_descriptions.get_topic_name()
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings), group_id=None, enable_auto_commit=False,
        client_id=f"{settings.app_id}-descriptions", isolation_level="read_committed")
    try:
        await consumer.start()
        ends = await _assign(consumer, topic)
        while not stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                for record in records:
                    if not apply_record(catalog, record.key, record.value):
                        log.warning("skipped a malformed market description at %s[%d]@%d",
                                    topic, record.partition, record.offset)
            if not CATALOG_READY.is_set() and await caught_up(consumer, ends):
                log.info("market descriptions loaded: %d", len(catalog))
                CATALOG_READY.set()
    finally:
        await consumer.stop()


@app.service
class CatalogFollower(KafkaFollower):
    """Keeps ``CATALOG`` current for as long as the worker runs."""

    what = "market descriptions"

    async def follow(self, stopping: asyncio.Event) -> None:
        await follow(CATALOG, stopping)
