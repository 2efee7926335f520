"""The MySQL sink's commit after a rebalance: refused, logged, and the consumer carries on."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaConnectionError

from config import Settings
from sinks.consumer import SinkConsumer


class RefusingConsumer:
    """A consumer whose commit raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.commits: list[dict[Any, int]] = []

    async def commit(self, offsets: dict[Any, int]) -> None:
        self.commits.append(offsets)
        raise self.error


class Message:
    offset = 41
    value = None  # a tombstone: nothing to write, only an offset to commit


def sink_on(partition: int) -> tuple[SinkConsumer, TopicPartition]:
    """A sink that writes nothing to MySQL, and one of its input partitions."""
    settings = Settings.from_env({})
    sink = SinkConsumer(settings, None, {})  # type: ignore[arg-type]  # no MySQL write
    return sink, TopicPartition(settings.topic("markets.v1"), partition)


@pytest.mark.parametrize("error", [
    CommitFailedError("rebalanced"),
    IllegalStateError("Partition TopicPartition(topic='markets.v1', partition=3) is not assigned"),
    IllegalStateError("No partitions assigned"),
])
async def test_a_commit_refused_after_a_rebalance_is_not_a_consumer_failure(
        error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    sink, tp = sink_on(3)
    consumer = RefusingConsumer(error)
    await sink._write_and_commit(consumer, {tp: [Message()]})  # type: ignore[arg-type]
    assert consumer.commits == [{tp: 42}]
    assert f"sink commit refused after a rebalance ({type(error).__name__})" in caplog.text


async def test_other_kafka_errors_still_propagate_to_the_consumer_restart() -> None:
    sink, tp = sink_on(0)
    consumer = RefusingConsumer(KafkaConnectionError("broker gone"))
    with pytest.raises(KafkaConnectionError):
        await sink._write_and_commit(consumer, {tp: [Message()]})  # type: ignore[arg-type]
