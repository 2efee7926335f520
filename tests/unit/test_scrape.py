"""``/metrics`` parts read from the worker's state, in a process whose consumer is not running."""

from __future__ import annotations

import logging

import pytest

from web.scrape import PlatformCollector, partition_lag


def test_no_consumer_means_no_lag_rather_than_an_error(caplog: pytest.LogCaptureFixture) -> None:
    # As in the separate MySQL sink process (it runs no Faust consumer) or a worker starting.
    assert partition_lag() == {}
    with caplog.at_level(logging.ERROR, logger="web.scrape"):
        families = {family.name: family for family in PlatformCollector().collect()}
    assert "metric lag not collected" not in caplog.text
    assert families["odds_consumer_lag_records"].samples == []
