"""The collector tuned for the hot path, and its pauses timed (rare collections are longer)."""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram

from app.metrics import GC_PAUSE_SECONDS


class PauseTimer:
    """A ``gc.callbacks`` entry observing each collection's duration, by generation."""

    def __init__(self, histogram: Histogram = GC_PAUSE_SECONDS) -> None:
        # Children resolved once: the callback should allocate as little as it can.
        self._children = [histogram.labels(str(generation)) for generation in range(3)]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        # The collector holds the GIL from start to stop, so pairs never interleave.
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._children[info["generation"]].observe(time.perf_counter() - self._started)


def time_collections() -> PauseTimer:
    """Start timing every collection in this process (once; later calls return the same timer)."""
    for callback in gc.callbacks:
        if isinstance(callback, PauseTimer):
            return callback
    timer = PauseTimer()
    gc.callbacks.append(timer)
    return timer


def tune_collector() -> PauseTimer:
    """Collect less often and stop scanning start-up objects (a hot path that makes many
    small objects otherwise sets off frequent full collections over every start-up object);
    time what collections remain."""
    gc.set_threshold(50_000, 50, 1000)
    gc.freeze()
    return time_collections()
