"""Every Kafka topic of the platform, declared once with its partitions and configs."""

from __future__ import annotations

from faust.types import TopicT

from app.faust_app import app, settings

COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
RETAINED_7D = {"cleanup.policy": "delete", "retention.ms": str(7 * 24 * 3600 * 1000)}


def _topic(name: str, config: dict[str, str]) -> TopicT:
    return app.topic(
        settings.topic(name),
        partitions=settings.topic_partitions,
        key_serializer="raw",
        value_serializer="raw",
        config=config,
    )


feed = _topic("feed.v1", RETAINED_7D)
markets = _topic("markets.v1", COMPACTED)
dead_letters = _topic("feed.dlq.v1", RETAINED_7D)

ALL_TOPICS: tuple[TopicT, ...] = (feed, markets, dead_letters)
