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


@pytest.mark.parametrize("error", [
    CommitFailedError("rebalanced"),
    IllegalStateError("Partition TopicPartition(topic='markets.v1', partition=3) is not assigned"),
    IllegalStateError("No partitions assigned"),
])
async def test_a_commit_refused_after_a_rebalance_is_not_a_consumer_failure(
        error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.from_env({})
    sink = SinkConsumer(settings, None, {})  # type: ignore[arg-type]  # no MySQL write
    consumer = RefusingConsumer(error)
    tp = TopicPartition(settings.topic("markets.v1"), 3)
    await sink._write_and_commit(consumer, {tp: [Message()]})  # type: ignore[arg-type]
    assert consumer.commits == [{tp: 42}]
    assert f"sink commit refused after a rebalance ({type(error).__name__})" in caplog.text


async def test_other_kafka_errors_still_propagate_to_the_consumer_restart() -> None:
    settings = Settings.from_env({})
    sink = SinkConsumer(settings, None, {})  # type: ignore[arg-type]
    consumer = RefusingConsumer(KafkaConnectionError("broker gone"))
    tp = TopicPartition(settings.topic("markets.v1"), 0)
    with pytest.raises(KafkaConnectionError):
        await sink._write_and_commit(consumer, {tp: [Message()]})  # type: ignore[arg-type]
