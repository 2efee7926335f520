"""UOF routing keys and record keys: what an AMQP delivery is, and which Kafka key it gets."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: A message that names neither an event nor a producer; it ends as a dead letter downstream.
UNKEYED = b"unkeyed"
ROUTING_KEY_PARTS = 8
_PRODUCT = re.compile(rb'\sproduct="(\d{1,9})"')
_TIMESTAMP = re.compile(rb'\stimestamp="(\d{1,15})"')
#: Root attributes come first; a message's first bytes hold them, however long it is.
HEAD_BYTES = 1024


@dataclass(frozen=True, slots=True)
class RoutingKey:
    """``{priority}.{prematch}.{live}.{message_type}.{sport_id}.{urn_type}.{event_id}.{node_id}``."""

    priority: str
    prematch: str
    live: str
    message_type: str
    sport_id: str
    urn_type: str
    event_id: str
    node_id: str

    def event_urn(self) -> str | None:
        """Return the event's URN (``sr:match:123``), or None for a system message."""
        if self.urn_type in ("", "-") or self.event_id in ("", "-"):
            return None
        return f"{self.urn_type}:{self.event_id}"


def parse_routing_key(routing_key: str) -> RoutingKey | None:
    """Return the parts of a UOF routing key, or None when it has not eight parts."""
    parts = routing_key.split(".")
    if len(parts) != ROUTING_KEY_PARTS:
        return None
    return RoutingKey(*parts)


def record_key(routing_key: str, body: bytes) -> bytes:
    """Return the raw topic key: the event URN, ``producer:{id}`` for system messages, or
    ``unkeyed``; the same keys a replay of recorded messages gives."""
    parsed = parse_routing_key(routing_key)
    if parsed is not None:
        urn = parsed.event_urn()
        if urn is not None:
            return urn.encode()
    product = _PRODUCT.search(body, 0, HEAD_BYTES)
    if product is not None:
        return b"producer:" + product.group(1)
    return UNKEYED


def message_timestamp_ms(body: bytes) -> int | None:
    """Return the root element's ``timestamp`` (ms since the epoch), or None without one."""
    found = _TIMESTAMP.search(body, 0, HEAD_BYTES)
    return int(found.group(1)) if found is not None else None
