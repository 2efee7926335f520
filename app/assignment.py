"""Which partitions this worker owns."""

from __future__ import annotations

from faust.types import TopicT

from app.faust_app import app


def active_partitions(topic: TopicT) -> set[int]:
    """Return the partitions of ``topic`` this worker actively owns (standbys excluded)."""
    name = topic.get_topic_name()
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == name}
