"""A worker service that reads Kafka for as long as the worker runs (no consumer group)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from mode import Service

from app.retry import Retry

log = logging.getLogger(__name__)

#: How often a follower looks again for a topic that does not exist yet.
TOPIC_WAIT_SECONDS = 1.0


async def topic_partitions(consumer: Any, topic: str, partitions: int,
                           waiting: Callable[[float], None]) -> list[TopicPartition]:
    """Return the partitions of ``topic`` once it exists; until then call ``waiting`` with
    the seconds waited so far, once a ``TOPIC_WAIT_SECONDS``."""
    waited = 0.0
    while topic not in await consumer.topics():
        waiting(waited)
        await asyncio.sleep(TOPIC_WAIT_SECONDS)
        waited += TOPIC_WAIT_SECONDS
    # Every topic of the platform has the same number of partitions (cli/admin.py).
    return [TopicPartition(topic, p) for p in range(partitions)]


async def caught_up(consumer: Any, ends: Mapping[TopicPartition, int]) -> bool:
    """Return whether ``consumer`` has read each partition up to its end in ``ends``."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


class KafkaFollower(Service):
    """Runs ``follow`` until the worker stops; a Kafka error starts it again after a pause."""

    #: What is followed, for the log line of a failure.
    what = "follower"
    retry_seconds = 1.0
    held_seconds = 5.0

    def __post_init__(self) -> None:
        self.stopping = asyncio.Event()

    async def follow(self, stopping: asyncio.Event) -> None:
        """Consume until ``stopping`` is set."""
        raise NotImplementedError

    async def on_stop(self) -> None:
        self.stopping.set()

    @Service.task
    async def _follow(self) -> None:
        retry = Retry(f"{self.what} consumer", log, first=self.retry_seconds,
                      cap=self.retry_seconds, stopping=self.stopping.is_set)
        while not self.stopping.is_set():
            # ``follow`` returns only when stopped: one that has run ``held_seconds`` without
            # a Kafka error counts as recovered.
            held = asyncio.get_running_loop().call_later(self.held_seconds, retry.succeeded)
            try:
                await self.follow(self.stopping)
            except KafkaError as exc:
                held.cancel()
                await retry.wait(repr(exc))
            finally:
                held.cancel()
