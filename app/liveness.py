"""What the probes need to know about the services of this process, told by those services.

The odds agent reports each finished batch and names its transactional producer; the inline
MySQL sink names its connection check. ``/health`` and ``/ready`` read this module, never the
services' own state, so the web layer depends on no agent.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


def _nothing() -> Any:
    return None


@dataclass
class Liveness:
    """Progress and handles the probes read (monotonic seconds)."""

    #: When the odds agent last finished a batch.
    last_batch_at: float = field(default_factory=time.monotonic)
    #: The odds agent's Kafka producer while it runs (None: starting or restarting), when
    #: the worker publishes through its own transactions (the RocksDB store).
    producer: Callable[[], Any] = _nothing
    transactional: bool = False
    #: Whether MySQL answers, when this process runs the MySQL sink.
    mysql_ping: Callable[[], Awaitable[bool]] | None = None

    def batch_done(self) -> None:
        """The odds agent finished a batch."""
        self.last_batch_at = time.monotonic()


#: This process's services, as the probes see them.
LIVENESS = Liveness()
