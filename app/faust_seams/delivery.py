"""Failed sends stop the offset commit: the records that caused them are read again.

Faust publishes what an agent sends (and every table's changelog) without waiting, and a
send that fails is only a warning from its callback; the next commit then passes the input
whose output was lost, and a table's changelog no longer matches the table. The sensor here
remembers the first failed send of the process; the consumer refuses every commit after it
and stops the worker (``LeanConsumer._commit``), so a restart reads those inputs again
(at least once: the odds agent drops what it has already applied).
"""

from __future__ import annotations

import logging
from typing import Any

from faust.exceptions import ProducerSendError
from faust.sensors import Sensor
from faust.types import ProducerT

from app import metrics

log = logging.getLogger(__name__)


class DeliverySensor(Sensor):
    """Remembers the first send of this process that failed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failure: ProducerSendError | None = None

    def on_send_error(self, producer: ProducerT, exc: BaseException, state: Any) -> None:
        """Count the failure; the first one stops every later commit."""
        metrics.SEND_FAILURES.inc()
        if self.failure is None:
            self.failure = ProducerSendError(f"a send failed ({type(exc).__name__}: "
                                             f"{str(exc)[:300]})")
            log.error("%s: no offset is committed from now on and the worker stops; its "
                      "inputs are read again after the restart", self.failure)


DELIVERIES = DeliverySensor()
