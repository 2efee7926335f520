"""Sportradar's side of the AMQP feed for the tests: a publisher to the ``unifiedfeed``
exchange of the local RabbitMQ, with the routing keys Sportradar's broker uses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from dataclasses import dataclass, field

import aiormq
from aiormq.abc import AbstractChannel, AbstractConnection
from yarl import URL

from tests.integration.support import ROOT, read_records

AMQP_URL = os.environ.get("UOF_AMQP_URL", "amqp://odds:odds@127.0.0.1:5672/unifiedfeed")
AMQP_URL_SHOWN = str(URL(AMQP_URL).with_password("***"))
EXCHANGE = "unifiedfeed"
RABBITMQ_SCRIPT = ROOT / "scripts" / "rabbitmq.sh"


def event_routing_key(message_type: str, event: str, *, live: bool = True,
                      priority: str = "hi", sport_id: int = 1) -> str:
    """``{priority}.{prematch}.{live}.{message_type}.{sport_id}.{urn_type}.{event_id}.{node}``."""
    urn_type, _, event_id = event.rpartition(":")
    return (f"{priority}.{'-' if live else 'pre'}.{'live' if live else '-'}.{message_type}."
            f"{sport_id}.{urn_type}.{event_id}.-")


def system_routing_key(message_type: str) -> str:
    """A message of no event (alive, snapshot_complete)."""
    return f"-.-.-.{message_type}.-.-.-.-"


def rabbitmq(action: str) -> None:
    """Run ``scripts/rabbitmq.sh up|down`` (the broker the tests and ``make up`` use)."""
    subprocess.run([str(RABBITMQ_SCRIPT), action], check=True, capture_output=True, timeout=180)


@dataclass
class UofPublisher:
    """Publishes with publisher confirms; while the broker is away, ``publish`` says False."""

    url: str = AMQP_URL
    refused: int = 0
    #: Confirmed but routed to no queue (no consumer bound): a provider's feed moves on.
    unroutable: int = 0
    #: Every body the broker confirmed and queued for a consumer, in order.
    confirmed: list[bytes] = field(default_factory=list)
    _connection: AbstractConnection | None = None
    _channel: AbstractChannel | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def connect(self) -> None:
        """Open the connection now (``publish`` opens it when needed)."""
        await self._open()

    async def _open(self) -> AbstractChannel:
        if self._channel is None or self._channel.is_closed:
            await self.close()
            self._connection = await asyncio.wait_for(aiormq.connect(self.url), 10)
            self._channel = await self._connection.channel(publisher_confirms=True)
        return self._channel

    async def publish(self, routing_key: str, body: bytes) -> bool:
        """Publish one message; True once the broker confirmed it was queued for a consumer."""
        async with self._lock:
            try:
                channel = await self._open()
                await asyncio.wait_for(
                    channel.basic_publish(body, exchange=EXCHANGE, routing_key=routing_key,
                                          mandatory=True), 10)
            except aiormq.exceptions.PublishError:
                self.unroutable += 1
                return False
            except (aiormq.exceptions.AMQPError, OSError, TimeoutError, ConnectionError):
                self.refused += 1
                await self.close()
                return False
            self.confirmed.append(body)
            return True

    async def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(aiormq.exceptions.AMQPError, OSError, ConnectionError):
                await connection.close()


@dataclass(frozen=True)
class RawRecord:
    """A record of a raw topic as an ingestor wrote it."""

    partition: int
    key: bytes
    value: bytes
    headers: dict[str, bytes]


async def read_raw(topic: str) -> list[RawRecord]:
    """Every record of ``topic`` up to its current end, in partition order, bytes as stored."""
    return [RawRecord(r.partition, r.key or b"", r.value or b"", dict(r.headers))
            for r in await read_records(topic)]
