"""Garbage-collection pause timing."""

from __future__ import annotations

import gc

from prometheus_client import CollectorRegistry, Histogram

from app.gc_pauses import PauseTimer, time_collections, tune_collector


def sample(registry: CollectorRegistry, name: str, generation: str) -> float:
    value = registry.get_sample_value(name, {"generation": generation})
    return 0.0 if value is None else value


def test_each_collection_is_observed_under_its_generation() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("pause_seconds", "test", ["generation"], registry=registry)
    timer = PauseTimer(histogram)
    gc.callbacks.append(timer)
    try:
        gc.collect(1)
        gc.collect(2)
        gc.collect(2)
    finally:
        gc.callbacks.remove(timer)
    # Generation 0 may also run meanwhile, on its own threshold: count only 1 and 2.
    assert sample(registry, "pause_seconds_count", "1") == 1
    assert sample(registry, "pause_seconds_count", "2") == 2
    assert sample(registry, "pause_seconds_sum", "2") > 0


def test_timing_is_installed_once() -> None:
    before = list(gc.callbacks)
    try:
        first = time_collections()
        assert time_collections() is first
        assert sum(isinstance(c, PauseTimer) for c in gc.callbacks) == 1
    finally:
        gc.callbacks[:] = before


def test_tuning_raises_the_thresholds_freezes_and_times() -> None:
    before, thresholds = list(gc.callbacks), gc.get_threshold()
    try:
        timer = tune_collector()
        assert gc.get_threshold() == (50_000, 50, 1000)
        assert gc.get_freeze_count() > 0
        assert timer in gc.callbacks
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        gc.callbacks[:] = before
