"""Create the platform's topics with explicit partitions and configs (idempotent)."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faust.types import TopicT

from app.kafka_security import bootstrap_servers, client_kwargs
from config import Settings

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36

__all__ = ["bootstrap_servers", "create_topics", "topic_specs"]


def topic_specs(settings: Settings) -> list[NewTopic]:
    """Every topic the platform uses, with its configs."""
    from app.topics import ALL_TOPICS
    from tables import state

    # The markets and events tables' changelogs are output topics: each declared once.
    declared: list[TopicT] = [*ALL_TOPICS, *(t.changelog_topic for t in state.TABLES)]
    specs: dict[str, NewTopic] = {}
    for topic in declared:
        config = dict(topic.config or {})
        if topic.compacting:
            config["cleanup.policy"] = "compact"
        for name in topic.topics:
            specs.setdefault(name, NewTopic(name, settings.topic_partitions,
                                            settings.topic_replication, topic_configs=config))
    return list(specs.values())


async def create_topics(settings: Settings) -> list[str]:
    """Create missing topics; return the names created now."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        specs = topic_specs(settings)
        response = await admin.create_topics(specs)
        created = []
        for name, code, *rest in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code != TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"cannot create topic {name}: error {code} {rest}")
        return created
    finally:
        await admin.close()
