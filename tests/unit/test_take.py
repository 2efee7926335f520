"""``LeanStream.take_events``: a batch goes once nothing more is queued, not after ``within``."""

import asyncio
from typing import cast

import pytest
from faust.types import StreamT

from app.faust_app import app
from app.faust_seams.take import LeanStream

#: Far longer than the test may take: a batch that waited for it would time the test out.
WITHIN = 60.0
batches: list[list[int]] = []
batched = asyncio.Event()


@app.agent(app.channel(), name="take_probe")
async def take_probe(stream: StreamT[int]) -> None:
    """Record each batch's values."""
    assert isinstance(stream, LeanStream)
    async for events in stream.take_events(100, within=WITHIN):
        batches.append([cast(int, event.value) for event in events])
        batched.set()


@pytest.fixture(autouse=True)
def fresh() -> None:
    app.finalize()
    batches.clear()


async def test_a_lone_record_is_a_batch_without_waiting_within() -> None:
    async with take_probe.test_context() as agent:
        for value in range(3):
            await asyncio.wait_for(agent.put(value), 10)  # waits until the batch is acked
    assert batches == [[0], [1], [2]]


async def seen(count: int) -> list[int]:
    """Wait (well under ``WITHIN``) until ``count`` values were batched; return them."""
    async def wait() -> None:
        while sum(map(len, batches)) < count:
            batched.clear()
            await batched.wait()

    await asyncio.wait_for(wait(), 10)
    return [value for batch in batches for value in batch]


async def test_records_queued_faster_than_taken_come_in_order_in_batches_of_at_most_max(
) -> None:
    async with take_probe.test_context() as agent:
        for value in range(250):
            await agent.put(value, wait=False)
        assert await seen(250) == list(range(250))
    assert all(0 < len(batch) <= 100 for batch in batches)
