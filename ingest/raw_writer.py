"""The Kafka side of an ingestor: provider messages to one raw topic, acknowledged."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from app import metrics
from app.kafka_security import client_kwargs
from config.settings import Settings
from models.placement import partition_for

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]
RETRY_BACKOFF_S = 1.0


class RawTopicWriter:
    """Sends each message to the raw topic in its key's partition and calls back once Kafka
    holds it; a failed send is sent again until Kafka takes it (at least once)."""

    def __init__(self, settings: Settings, topic: str, provider: str) -> None:
        self.topic = topic
        self.partitions = settings.topic_partitions
        self.provider = provider
        self._acked = metrics.INGEST_ACKED.labels(provider)
        self.producer = AIOKafkaProducer(
            **client_kwargs(settings), acks="all", enable_idempotence=True, linger_ms=5,
            max_batch_size=512 * 1024, max_request_size=8 * 1024 * 1024)
        self.in_flight = 0
        self.last_ack = time.monotonic()
        self.failing_since: float | None = None
        self._resends: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def send(self, key: bytes, value: bytes, headers: Headers,
                   on_acked: Callable[[], None]) -> None:
        """Queue one record; ``on_acked`` runs when Kafka has acknowledged it.

        Returns once the record is in the producer's buffer: a full buffer makes the caller
        wait, which is the backpressure that stops the ingestor reading faster than Kafka takes.
        """
        partition = partition_for(key, self.partitions)
        self.in_flight += 1
        while True:
            try:
                future = await self.producer.send(self.topic, value, key=key,
                                                  partition=partition, headers=list(headers))
            except KafkaError as exc:
                await self._failed(exc)
                continue
            break
        future.add_done_callback(
            lambda done: self._done(done, key, value, headers, on_acked))

    def _done(self, done: asyncio.Future[Any], key: bytes, value: bytes, headers: Headers,
              on_acked: Callable[[], None]) -> None:
        if done.cancelled() or done.exception() is not None:
            problem = "cancelled" if done.cancelled() else done.exception()
            log.warning("%s: Kafka did not take a record (%r); sending it again",
                        self.provider, problem)
            self.failing_since = self.failing_since or time.monotonic()
            self.in_flight -= 1
            task = asyncio.get_running_loop().create_task(
                self._resend(key, value, headers, on_acked))
            self._resends.add(task)
            task.add_done_callback(self._resends.discard)
            return
        self.in_flight -= 1
        self.last_ack = time.monotonic()
        self.failing_since = None
        self._acked.inc()
        on_acked()

    async def _resend(self, key: bytes, value: bytes, headers: Headers,
                      on_acked: Callable[[], None]) -> None:
        await asyncio.sleep(RETRY_BACKOFF_S)
        await self.send(key, value, headers, on_acked)

    async def _failed(self, exc: KafkaError) -> None:
        self.failing_since = self.failing_since or time.monotonic()
        log.warning("%s: Kafka refused a record (%r); again in %.1fs", self.provider, exc,
                    RETRY_BACKOFF_S)
        await asyncio.sleep(RETRY_BACKOFF_S)

    async def flush(self) -> None:
        """Wait until every record handed over so far is acknowledged, resends included."""
        while True:
            await self.producer.flush()
            if not self._resends:
                return
            await asyncio.gather(*self._resends, return_exceptions=True)
