"""The retry policy (app.retry): its waits, its log lines and its stops, on a fake clock."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from app.retry import Retry

log = logging.getLogger("tests.retry")


class FakeTime:
    """A clock that only the policy's sleeps move; records each sleep."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[], None] = lambda: None

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.on_sleep()


def policy(fake: FakeTime, *, first: float = 0.2, cap: float = 10.0,
           rand: Callable[[], float] = random.random, **kwargs: Any) -> Retry:
    return Retry("MySQL write", log, first=first, cap=cap, sleep=fake.sleep,
                 clock=fake.clock, rand=rand, **kwargs)


async def test_waits_grow_to_the_cap_and_restart_after_a_success() -> None:
    fake = FakeTime()
    retry = policy(fake, rand=lambda: 1.0)  # the top of each jitter range
    for _ in range(8):
        assert await retry.wait("down")
    # The range doubles, capped; slept through, not polled (no stop condition).
    assert fake.sleeps == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0])
    retry.succeeded()
    assert await retry.wait("down again")
    assert fake.sleeps[-1] == pytest.approx(0.2)


def test_jitter_stays_between_first_and_the_doubling_ceiling() -> None:
    rng = random.Random(7)
    retry = policy(FakeTime(), first=0.5, cap=30.0, rand=rng.random)
    for attempt in range(1, 13):
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        seen = [retry.delay(attempt) for _ in range(500)]
        assert all(0.5 <= d <= ceiling for d in seen), attempt
        # The range is used: spread over the ceiling's upper half as well as near the floor.
        assert ceiling == 0.5 or (min(seen) < 0.5 + ceiling / 4 and max(seen) > ceiling * 0.9)
    # Never below ``first``, even when every draw is at the bottom of its range.
    low = policy(FakeTime(), first=0.5, cap=30.0, rand=lambda: 0.0)
    assert {low.delay(attempt) for attempt in range(1, 100)} == {0.5}


async def test_a_cap_equal_to_first_is_a_fixed_wait() -> None:
    fake = FakeTime()
    retry = policy(fake, first=1.0, cap=1.0)
    for _ in range(5):
        assert await retry.wait("down")
    assert fake.sleeps == [1.0] * 5


def test_first_and_cap_are_checked() -> None:
    for first, cap in [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)]:
        with pytest.raises(ValueError, match="first"):
            policy(FakeTime(), first=first, cap=cap)


async def test_first_failure_warns_later_ones_thin_out_recovery_is_one_info_line(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=log.name)
    fake = FakeTime()
    retry = policy(fake, rand=lambda: 0.0)  # every wait 0.2 s
    for attempt in range(1, 11):
        assert await retry.wait(f"OperationalError: ({2000 + attempt},)")
    retry.succeeded()
    retry.succeeded()  # nothing failed since: nothing to log
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    warned = [m for level, m in records if level == logging.WARNING]
    assert [int(m.split("attempt ")[1].split(",")[0]) for m in warned] == [1, 2, 4, 8]
    assert warned[0] == ("MySQL write failed (OperationalError: (2001,)); attempt 1, 0.0s "
                         "since the first failure, retrying in 0.2s")
    assert warned[3] == ("MySQL write failed (OperationalError: (2008,)); attempt 8, 1.4s "
                         "since the first failure, retrying in 0.2s")
    assert sum(level == logging.DEBUG for level, _m in records) == 6
    assert [m for level, m in records if level == logging.INFO] == [
        "MySQL write recovered on attempt 11, 2.0s after the first failure"]


async def test_a_stop_ends_the_wait_within_a_poll() -> None:
    fake = FakeTime()
    stopped = False
    retry = policy(fake, first=5.0, cap=5.0, stopping=lambda: stopped, poll=0.1)

    def stop_after_three_polls() -> None:
        nonlocal stopped
        stopped = len(fake.sleeps) >= 3

    fake.on_sleep = stop_after_three_polls
    assert not await retry.wait("down")
    assert fake.sleeps == pytest.approx([0.1, 0.1, 0.1])


async def test_stopping_already_means_no_wait_and_no_line(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=log.name)
    fake = FakeTime()
    retry = policy(fake, stopping=lambda: True)
    assert not await retry.wait("down")
    assert fake.sleeps == [] and caplog.records == []


async def test_a_deadline_gives_up_before_a_wait_that_would_pass_it() -> None:
    fake = FakeTime()
    retry = policy(fake, first=1.0, cap=1.0, deadline=fake.now + 2.5)
    assert await retry.wait("down")
    assert await retry.wait("down")
    assert not await retry.wait("down")  # the next attempt would begin at +3 s
    assert fake.sleeps == [1.0, 1.0]


def test_the_defaults_are_asyncio_sleep_and_the_monotonic_clock() -> None:
    retry = Retry("op", log, first=0.01, cap=0.01)
    assert (retry.sleep, retry.clock) == (asyncio.sleep, time.monotonic)
