"""CLI command ``migrate-tables``: carry the table state of a release whose markets and events
tables had changelogs of their own over to ``markets.v1`` and ``events.v1``, which are now
those tables' changelogs.

Earlier releases published only the public part of each value; the worker's bookkeeping (stale
marks, pre-settlement outcomes, each event's markets) was in ``{APP_ID}-markets-changelog`` and
``{APP_ID}-events-changelog``. This republishes the latest value of each key there, whole, in
its partition, so that the latest record of every key on the output topics is a table value.
Run it once, with every worker of the old release stopped, before the new release starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from app import topics
from app.faust_app import app, settings
from app.kafka_security import client_kwargs
from models.event import published_event
from models.market import Snapshot

EXIT_FAILURE = 1
#: A consumer group in one of these states has no running member.
STOPPED_GROUP_STATES = frozenset({"Empty", "Dead"})


def _as_is(value: Snapshot) -> Snapshot:
    return value


#: Old changelog suffix -> (output topic, the record published for a stored value).
MIGRATIONS: dict[str, tuple[str, Callable[[Snapshot], Snapshot]]] = {
    "markets": (topics.markets.get_topic_name(), _as_is),
    "events": (topics.events.get_topic_name(), published_event),
}


def old_changelog(table: str) -> str:
    """The name of an earlier release's changelog of ``table``."""
    return settings.topic(f"{settings.app_id}-{table}-changelog")


async def _group_state(admin: AIOKafkaAdminClient) -> str:
    described: Any = await admin.describe_consumer_groups([settings.app_id])
    for response in described:
        for group in response.groups:
            return str(group[2])  # (error_code, group_id, state, ...)
    return "Dead"


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` (none: it does not exist)."""
    (described,) = await admin.describe_topics([topic])
    if described["error_code"]:
        return []
    return [TopicPartition(topic, p["partition"]) for p in described["partitions"]]


async def latest_values(admin: AIOKafkaAdminClient, topic: str
                        ) -> dict[int, dict[bytes, bytes]]:
    """The committed latest value of each key of ``topic``, per partition (no tombstones)."""
    parts = await _partitions(admin, topic)
    if not parts:
        return {}
    consumer = AIOKafkaConsumer(**client_kwargs(settings), isolation_level="read_committed",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        latest: dict[int, dict[bytes, bytes]] = {tp.partition: {} for tp in parts}
        waiting = {tp for tp in parts if ends[tp] > 0}
        while waiting:
            fetched = await consumer.getmany(*waiting, timeout_ms=1000)
            for tp, records in fetched.items():
                held = latest[tp.partition]
                for record in records:
                    if record.value is None:
                        held.pop(record.key, None)
                    else:
                        held[record.key] = record.value
            for tp in list(waiting):
                if await consumer.position(tp) >= ends[tp]:
                    waiting.discard(tp)
        return latest
    finally:
        await consumer.stop()


async def migrate_table(admin: AIOKafkaAdminClient, producer: AIOKafkaProducer,
                        table: str) -> int:
    """Republish the latest values of ``table``'s old changelog; return how many."""
    topic, to_record = MIGRATIONS[table]
    sends = []
    for partition, values in (await latest_values(admin, old_changelog(table))).items():
        for key, raw in values.items():
            record = orjson.dumps(to_record(orjson.loads(raw)))
            sends.append(await producer.send(topic, record, key=key, partition=partition))
    for sent in sends:
        await sent
    return len(sends)


@app.command()
async def migrate_tables(self: Any) -> None:
    """Republish the markets and events state of an earlier release on markets.v1/events.v1."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        state = await _group_state(admin)
        if state not in STOPPED_GROUP_STATES:
            self.say(f"migrate-tables: consumer group {settings.app_id} is {state}: stop "
                     "every worker first", file=self.stderr)
            raise SystemExit(EXIT_FAILURE)
        producer = AIOKafkaProducer(**client_kwargs(settings), acks="all",
                                    enable_idempotence=True)
        await producer.start()
        try:
            for table in MIGRATIONS:
                count = await migrate_table(admin, producer, table)
                self.say(f"migrate-tables: {count} {table} from {old_changelog(table)} to "
                         f"{MIGRATIONS[table][0]}")
        finally:
            await producer.stop()
    finally:
        await admin.close()
