"""The ``feed.dlq.v1`` record: why a record was rejected, where it came from, its bytes."""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson

#: Original bytes kept in a dead letter; more would not fit in one Kafka record.
MAX_ORIGINAL = 256 * 1024


def dead_letter(message: Any, reason: str) -> bytes:
    """Encode the dead letter of a Faust ``message`` rejected for ``reason``."""
    raw: bytes = message.value or b""
    kept = raw[:MAX_ORIGINAL]
    return orjson.dumps({
        "reason": reason,
        "source": {"topic": message.topic, "partition": message.partition,
                   "offset": message.offset},
        "key": message.key.decode("utf-8", "replace") if message.key else None,
        "original": kept.decode("utf-8", "replace")[:65536],
        "original_base64": base64.b64encode(kept).decode("ascii"),
        "original_size": len(raw),
        "truncated": len(raw) > MAX_ORIGINAL,
        "received_ts": int(time.time() * 1000),
    })
