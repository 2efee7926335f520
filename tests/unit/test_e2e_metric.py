"""The end-to-end latency histogram stays readable after a replay of an old recorded feed."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from app import metrics

THREE_YEARS = 3 * 365 * 86_400.0
SUM = "odds_end_to_end_latency_seconds_sum"


def histogram_sum() -> float:
    return REGISTRY.get_sample_value(SUM) or 0.0


def test_observations_are_clamped_to_zero_and_the_cap() -> None:
    before = histogram_sum()
    metrics.observe_end_to_end(-5.0)  # a feed ts ahead of this host's clock
    metrics.observe_end_to_end(THREE_YEARS)
    metrics.observe_end_to_end(0.25)
    assert histogram_sum() - before == pytest.approx(metrics.E2E_CAP_SECONDS + 0.25)


def test_live_latencies_still_add_up_after_a_million_replayed_old_records() -> None:
    for _ in range(1_000_000):
        metrics.observe_end_to_end(THREE_YEARS)
    before = histogram_sum()
    for _ in range(1000):
        metrics.observe_end_to_end(0.016)
    # Uncapped, the sum would be ~9.5e13 s, where float64 steps are 1/64 s: each 16 ms
    # observation would add 15.625 ms, and the thousand 15.625 s.
    assert histogram_sum() - before == pytest.approx(16.0, abs=1e-3)
