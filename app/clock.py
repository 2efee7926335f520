"""The wall clock, in the feed's unit."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Return wall-clock milliseconds since the Unix epoch."""
    return int(time.time() * 1000)
