"""Heavy work in turns (``web.slices``): others run between stretches, which earn rests."""

from __future__ import annotations

import asyncio
import itertools
import time
from time import perf_counter

from web.slices import Turns


def spin(seconds: float) -> None:
    """Use the CPU for ``seconds`` (heavy work that cannot be cut)."""
    end = perf_counter() + seconds
    while perf_counter() < end:
        pass


async def test_other_callbacks_run_between_stretches_of_heavy_work() -> None:
    turns = Turns(slice_seconds=0.002, rest_seconds=0.001)
    log: list[str] = []
    heavy_done = asyncio.Event()

    async def heavy(name: str) -> None:
        for _ in range(15):
            await turns.tick()
            log.append(name)
            spin(0.0007)

    async def light() -> None:
        while not heavy_done.is_set():
            log.append("-")
            await asyncio.sleep(0)

    watcher = asyncio.create_task(light())
    await asyncio.gather(heavy("a"), heavy("b"))
    heavy_done.set()
    await watcher
    stretches = ["".join(group) for light, group in itertools.groupby(log, lambda e: e == "-")
                 if not light]
    # One task at a time, for about a slice (three steps of 0.7 ms), then the loop is free.
    assert all(len(set(stretch)) == 1 and len(stretch) <= 4 for stretch in stretches), stretches
    assert "".join(stretches).count("a") == 15 and "".join(stretches).count("b") == 15


async def test_work_run_whole_earns_a_rest_longer_than_itself() -> None:
    turns = Turns(slice_seconds=0.001, rest_seconds=0.001, rest_ratio=2.0)
    ended: list[float] = []
    granted: list[float] = []

    async def long_work() -> None:
        await turns.run(lambda: spin(0.02))
        ended.append(perf_counter())

    async def next_work() -> None:
        await asyncio.sleep(0)  # queue behind long_work
        await turns.tick()
        granted.append(perf_counter())

    await asyncio.gather(long_work(), next_work())
    assert granted[0] - ended[0] >= 0.035, granted[0] - ended[0]


async def test_a_cancelled_waiter_gives_up_its_turn() -> None:
    turns = Turns()
    first = asyncio.create_task(turns.run(lambda: spin(0.005)))
    second = asyncio.create_task(turns.tick())
    third = asyncio.create_task(turns.run(lambda: "third"))
    await asyncio.sleep(0)
    second.cancel()
    assert await third == "third"
    await first
    assert second.cancelled()


def test_turns_outlive_an_event_loop() -> None:
    turns = Turns()

    async def work() -> str:
        await turns.tick()
        return "done"

    async def abandon() -> None:
        waiting = asyncio.create_task(turns.tick())
        await asyncio.sleep(0)
        waiting.cancel()

    asyncio.run(abandon())
    assert asyncio.run(work()) == "done"


async def test_work_run_whole_does_not_queue_behind_every_slice() -> None:
    turns = Turns(slice_seconds=0.001, rest_seconds=0.0005, rest_ratio=0.5)
    order: list[str] = []

    async def sliced(name: str) -> None:
        for _ in range(3):
            await turns.tick()
            order.append(name)
            spin(0.0012)

    async def whole() -> None:
        await asyncio.sleep(0)  # ten tasks queue for slices first
        await turns.run(lambda: order.append("whole"))

    await asyncio.gather(*(sliced(f"s{i}") for i in range(10)), whole())
    assert order.index("whole") <= 1, order


async def test_a_wait_for_a_turn_ends_at_its_deadline() -> None:
    # The rest after the hog (0.5 s) is far longer than the waiter's deadline (5 ms): a
    # waiter that gave up returns long before a turn could have come.
    turns = Turns(slice_seconds=0.001, rest_seconds=0.5, rest_ratio=2.0)
    started = time.monotonic()

    async def hog() -> None:
        await turns.run(lambda: spin(0.01))  # then a rest of 0.5 s

    async def late() -> float:
        await asyncio.sleep(0)
        await turns.tick(until=time.monotonic() + 0.005)
        return time.monotonic() - started

    _, waited = await asyncio.gather(hog(), late())
    assert waited < 0.25, waited
    assert turns.holder is None  # it gave up; it was not granted a turn
