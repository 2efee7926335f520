"""A worker service that reads Kafka for as long as the worker runs (no consumer group)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.errors import KafkaError
from mode import Service

log = logging.getLogger(__name__)


class KafkaFollower(Service):
    """Runs ``follow`` until the worker stops; a Kafka error starts it again after a pause."""

    #: What is followed, for the log line of a failure.
    what = "follower"
    retry_seconds = 1.0

    def __post_init__(self) -> None:
        self.stopping = asyncio.Event()

    async def follow(self, stopping: asyncio.Event) -> None:
        """Consume until ``stopping`` is set."""
        raise NotImplementedError

    async def on_stop(self) -> None:
        self.stopping.set()

    @Service.task
    async def _follow(self) -> None:
        while not self.stopping.is_set():
            try:
                await self.follow(self.stopping)
            except KafkaError as exc:
                log.warning("%s consumer failed (%r); retrying", self.what, exc)
                await asyncio.sleep(self.retry_seconds)
