"""Ask Kafka whether any broker answers: the readiness probes' Kafka check."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

#: Readiness fails when no broker answers a metadata request within this long.
BROKER_PROBE_SECONDS = 2.0


async def broker_problem(client: Any, topic: str,
                         within: float = BROKER_PROBE_SECONDS) -> str | None:
    """Return why no known broker answered a metadata request for ``topic``, or None.

    Every known broker is asked at once, so silent ones cost ``within`` in all, not each:
    the probe answers inside the pod's probe timeout whatever the cluster's size.
    """
    nodes = [broker.nodeId for broker in client.cluster.brokers()]
    if not nodes:
        return "Kafka unreachable: no broker known yet"
    asks = {asyncio.ensure_future(
        asyncio.wait_for(client.send(node, MetadataRequest([topic])), within)): node
        for node in nodes}
    errors: dict[int, str] = {}
    try:
        while asks:
            done, _ = await asyncio.wait(asks, return_when=asyncio.FIRST_COMPLETED)
            answers = {asks.pop(ask): ask.exception() for ask in done}
            if any(exc is None for exc in answers.values()):
                return None
            for node, exc in answers.items():
                if not isinstance(exc, KafkaError | TimeoutError):
                    raise cast(BaseException, exc)
                errors[node] = type(exc).__name__
    finally:
        for ask in asks:
            ask.cancel()
    listed = ", ".join(f"broker {node}: {errors[node]}" for node in sorted(errors))
    return f"Kafka unreachable ({listed})"
