"""UOF routing keys and record keys: what an AMQP delivery is, and which Kafka key it gets."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

#: A message that names neither an event nor a producer; it ends as a dead letter downstream.
UNKEYED = b"unkeyed"
ROUTING_KEY_PARTS = 8
# Searched for from their literal start (several times faster than from a leading \s, which
# the regex engine tries at every position); the whitespace before is checked on a match.
_PRODUCT = re.compile(rb'product="(\d{1,9})"')
_TIMESTAMP = re.compile(rb'timestamp="(\d{1,15})"')
_WHITESPACE = frozenset(b" \t\n\r\f\v")
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


# An event's messages share their routing key (and a live match sends many): parsed once.
@functools.lru_cache(maxsize=65_536)
def event_key(routing_key: str) -> bytes | None:
    """Return the event URN of a routing key as a record key, or None (a system message)."""
    parsed = parse_routing_key(routing_key)
    if parsed is None:
        return None
    urn = parsed.event_urn()
    return urn.encode() if urn is not None else None


def record_key(routing_key: str, body: bytes) -> bytes:
    """Return the raw topic key: the event URN, ``producer:{id}`` for system messages, or
    ``unkeyed``; the same keys a replay of recorded messages gives."""
    event = event_key(routing_key)
    if event is not None:
        return event
    product = _attribute(_PRODUCT, body)
    if product is not None:
        return b"producer:" + product
    return UNKEYED


def message_timestamp_ms(body: bytes) -> int | None:
    """Return the root element's ``timestamp`` (ms since the epoch), or None without one."""
    found = _attribute(_TIMESTAMP, body)
    return int(found) if found is not None else None


def _attribute(pattern: re.Pattern[bytes], body: bytes) -> bytes | None:
    """The first value of ``pattern`` (an attribute) preceded by whitespace in the head."""
    at = 0
    while (found := pattern.search(body, at, HEAD_BYTES)) is not None:
        start = found.start()
        if start and body[start - 1] in _WHITESPACE:
            return found.group(1)
        at = start + 1
    return None
