"""Heavy HTTP work in short stretches, with the event loop free between them.

The odds agent, ``/health`` and every request share one event loop, and one GIL with
Faust's consumer thread. Work that grows with an event's size (reading its markets,
building and encoding its view, completing a GraphQL answer) calls ``TURNS.tick()`` between
small steps: a task keeps going while its slice lasts, then queues for another turn. Work
that cannot be cut (checking a GraphQL document) runs whole in one turn, ``TURNS.run``.
Turns are granted one at a time, to slices and to work run whole in alternation, and after
each stretch the loop rests twice as long as the stretch took: however many heavy requests
run, heavy work has at most a third of the loop, a ready callback of the agent waits for at
most one stretch, and while the loop rests the GIL is free for the consumer thread.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from time import perf_counter
from typing import TypeVar

#: Longest stretch of heavy work between two turns of the event loop, in seconds.
SLICE_SECONDS = 0.001
#: Rest after a stretch: this many times as long as the stretch, at least ``REST_SECONDS``.
#: Heavy work gets at most 1 / (1 + REST_RATIO) of the loop.
REST_RATIO = 2.0
REST_SECONDS = 0.001
#: Longest rest: a holder that awaited I/O within its turn did not use the CPU meanwhile.
MAX_REST_SECONDS = 0.05

T = TypeVar("T")


class Turns:
    """A queue of tasks doing heavy work, granted one stretch at a time."""

    def __init__(self, slice_seconds: float = SLICE_SECONDS,
                 rest_seconds: float = REST_SECONDS, rest_ratio: float = REST_RATIO) -> None:
        self.slice_seconds = slice_seconds
        self.rest_seconds = rest_seconds
        self.rest_ratio = rest_ratio
        #: Tasks waiting for a slice, and work waiting to run whole.
        self.slices: deque[asyncio.Future[bool]] = deque()
        self.whole: deque[asyncio.Future[bool]] = deque()
        self.whole_next = True
        #: The loop whose timer grants turns, None while nobody waits.
        self.granting: asyncio.AbstractEventLoop | None = None
        self.holder: asyncio.Task[object] | None = None
        self.granted_at = 0.0
        #: No turn is granted before this (``perf_counter``): the loop's rest.
        self.free_at = 0.0

    async def tick(self, until: float = math.inf) -> None:
        """Go on while this task's slice lasts; otherwise wait for its next turn, or until
        ``until`` (``time.monotonic``) if that comes first."""
        if asyncio.current_task() is self.holder:
            busy = perf_counter() - self.granted_at
            if busy < self.slice_seconds:
                return
            self._rest(busy)
        await self._turn(self.slices, until)

    async def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` whole in a turn of its own, then rest twice as long as it took."""
        await self._turn(self.whole)
        try:
            return work()
        finally:
            self._rest(perf_counter() - self.granted_at)

    async def _turn(self, queue: deque[asyncio.Future[bool]],
                    until: float = math.inf) -> None:
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[bool] = loop.create_future()
        if self.granting is not loop:  # nobody waits, or a test's loop came and went
            self.slices.clear()
            self.whole.clear()
            self.granting = loop
            loop.call_soon(self._grant)
        queue.append(turn)
        expiry = (None if until == math.inf else
                  loop.call_later(max(0.0, until - time.monotonic()), _expire, turn))
        try:
            granted = await turn
        finally:
            if expiry is not None:
                expiry.cancel()
        if granted:
            self.holder = asyncio.current_task()
            self.granted_at = perf_counter()

    def _rest(self, busy: float) -> None:
        self.holder = None
        rest = max(self.rest_seconds, min(busy * self.rest_ratio, MAX_REST_SECONDS))
        self.free_at = perf_counter() + rest

    def _grant(self) -> None:
        loop = asyncio.get_running_loop()
        resting = self.free_at - perf_counter()
        if resting > 0:
            loop.call_later(resting, self._grant)
            return
        # Work run whole and slices take turns, so that a request's checks never queue
        # behind every slice of the requests already running, nor these behind checks.
        queues = (self.whole, self.slices) if self.whole_next else (self.slices, self.whole)
        for queue in queues:
            while queue:
                turn = queue.popleft()
                if not turn.done():  # a cancelled or expired waiter has given up its turn
                    turn.set_result(True)
                    self.whole_next = queue is self.slices
                    # Unless the holder says when its stretch ended, assume a whole slice.
                    period = self.slice_seconds * (1 + self.rest_ratio)
                    self.free_at = perf_counter() + period
                    loop.call_later(period, self._grant)
                    return
        self.granting = None
        self.holder = None


def _expire(turn: asyncio.Future[bool]) -> None:
    if not turn.done():
        turn.set_result(False)


#: The turns of this worker process's event loop.
TURNS = Turns()
