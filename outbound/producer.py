"""The odds agent's transactional producer, and the fault that kills a worker mid-commit."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from aiokafka import AIOKafkaProducer
from faust.types import AppT

from config import Settings

log = logging.getLogger(__name__)


def transactional_id(settings: Settings) -> str:
    """Name this worker's producer: stable across its restarts, unique among live workers."""
    return settings.transactional_id or (
        f"{settings.app_id}-odds-{socket.gethostname()}-{settings.web_port}")


def new_transactional_producer(faust_app: AppT, settings: Settings) -> AIOKafkaProducer:
    """Return a transactional producer configured like Faust's own (servers, security)."""
    producer: Any = faust_app.producer
    return AIOKafkaProducer(
        **{**producer._settings_default(), **producer._settings_auth(),
           # The batches are built whole (BatchSender): lingering only delays them, and a
           # transaction waits for every partition's send (docs/decisions/0011).
           "linger_ms": 0},
        transactional_id=transactional_id(settings),
        transaction_timeout_ms=int(settings.transaction_timeout * 1000))


class ExitBeforeCommit:
    """Test-only fault: ``FAULT_EXIT_BEFORE_COMMIT=n`` kills the worker once the n-th batch
    is acknowledged, before its commit."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.transactions = 0

    async def before_commit(self) -> None:
        """Count a batch about to commit; exit (code 70) at the n-th."""
        self.transactions += 1
        if self.transactions == self.after:
            log.error("FAULT_EXIT_BEFORE_COMMIT=%d reached: exiting before the commit",
                      self.transactions)
            logging.shutdown()
            os._exit(70)
