"""One retry policy for the loops that wait out an outage (MySQL, the Kafka broker).

Waits follow full jitter above a floor: the ``n``-th is drawn between ``first`` and
``first * 2 ** (n - 1)``, never more than ``cap``. The range doubles each attempt, so the
waits grow however the draws fall; the jitter keeps a fleet of workers from retrying in step;
the floor keeps a retry from following a failure at once. With ``cap == first`` every wait
is ``first``.

Logging is the same for every loop: the first failure at WARNING, later ones at WARNING
only on attempts 2, 4, 8, ... and at DEBUG otherwise (a long outage writes a few lines, not
one per attempt), each with the attempt count, the reason and the next wait; the recovery
once at INFO with the attempt that worked and how long after the first failure it began.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable


def _never() -> bool:
    return False


class Retry:
    """The backoff and the log lines of one retried operation; one instance per outage."""

    def __init__(self, what: str, log: logging.Logger, *, first: float, cap: float,
                 stopping: Callable[[], bool] = _never, deadline: float | None = None,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = random.random, poll: float = 0.1) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"need 0 < first <= cap, got first={first} cap={cap}")
        self.what, self.log, self.first, self.cap = what, log, first, cap
        self.stopping, self.deadline, self.poll = stopping, deadline, poll
        self.sleep, self.clock, self.rand = sleep, clock, rand
        #: Failures since the last success.
        self.attempts = 0
        self._failed_at = 0.0
        self._resumed_at = 0.0

    def delay(self, attempt: int) -> float:
        """Draw the wait after failed attempt ``attempt`` (1-based)."""
        # The exponent is bounded: past the cap a larger ceiling changes nothing.
        ceiling = min(self.cap, self.first * 2.0 ** min(attempt - 1, 64))
        return max(self.first, self.rand() * ceiling)

    async def wait(self, reason: str) -> bool:
        """Count a failure, log it and wait before the next attempt.

        Return False, at once or as soon as it happens, when ``stopping()`` is true or the
        next attempt would begin after ``deadline``: the caller gives up then.
        """
        self.attempts += 1
        now = self.clock()
        if self.attempts == 1:
            self._failed_at = now
        delay = self.delay(self.attempts)
        if self.stopping() or (self.deadline is not None and now + delay > self.deadline):
            return False
        # Powers of two: a long outage is logged at WARNING a logarithmic number of times.
        level = logging.WARNING if self.attempts & (self.attempts - 1) == 0 else logging.DEBUG
        self.log.log(level, "%s failed (%s); attempt %d, %.1fs since the first failure, "
                     "retrying in %.1fs", self.what, reason, self.attempts,
                     now - self._failed_at, delay)
        end = now + delay
        polled = self.stopping is not _never
        while (left := end - self.clock()) > 0:
            # A stop is noticed within ``poll`` seconds.
            await self.sleep(min(left, self.poll) if polled else left)
            if self.stopping():
                return False
        self._resumed_at = self.clock()
        return True

    def succeeded(self) -> None:
        """The attempt after the last wait worked: log the recovery once and start afresh."""
        if self.attempts:
            self.log.info("%s recovered on attempt %d, %.1fs after the first failure",
                          self.what, self.attempts + 1, self._resumed_at - self._failed_at)
        self.attempts = 0
