"""Where the committed records of transactionally written changelogs end.

Faust's table recovery reads a changelog until it has seen the record at ``end - 1`` (its
"highwater"). In a partition written in transactions the entry at ``end - 1`` is a commit
marker, a control record no consumer is ever handed, and entries before it may belong to
aborted transactions, also never handed over; recovery would wait for them forever. Here
the end of each partition is one past its last committed data record, found by reading the
tail of the partition read-committed: what Faust then waits for is a record it will see.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

#: How far back from the end the first look goes; each further look goes 16 times as far.
FIRST_WINDOW = 64
#: A tail read that makes no progress for this long fails (the broker is away).
STALL_SECONDS = 30.0


@asynccontextmanager
async def committed_reader(**client: Any) -> AsyncIterator[AIOKafkaConsumer]:
    """A started read-committed consumer in no group, made from ``client`` (servers, auth)."""
    consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False,
                                isolation_level="read_committed", **client)
    await consumer.start()
    # aiokafka's group-less coordinator awaits its cancelled task on stop: one that has not
    # run yet raises CancelledError there (which would cancel a table recovery).
    await asyncio.sleep(0)
    try:
        yield consumer
    finally:
        await consumer.stop()


async def read_committed_ends(ends: Mapping[Any, int], **client: Any) -> dict[Any, int]:
    """``committed_ends`` with a consumer of its own, made from ``client`` (servers, auth)."""
    async with committed_reader(**client) as tail:
        return await committed_ends(tail, ends)


async def committed_ends(consumer: AIOKafkaConsumer,
                         ends: Mapping[Any, int]) -> dict[Any, int]:
    """Return one past the last committed record before ``ends[tp]``, for every partition.

    ``consumer`` is started, read-committed and in no group; it is assigned the partitions.
    ``ends`` are read-committed end offsets (last stable offsets). A partition with no
    committed record at all ends at 0.
    """
    found: dict[Any, int] = {tp: 0 for tp, end in ends.items() if end <= 0}
    ranges = {tp: (max(0, end - FIRST_WINDOW), end) for tp, end in ends.items() if end > 0}
    window = FIRST_WINDOW
    if not ranges:
        return found
    consumer.assign([TopicPartition(tp.topic, tp.partition) for tp in ranges])
    while ranges:
        last = await _last_records(consumer, ranges)
        window *= 16
        wider = {}
        for tp, (start, _end) in ranges.items():
            if tp in last:
                found[tp] = last[tp] + 1
            elif start == 0:
                found[tp] = 0
            else:
                wider[tp] = (max(0, start - window), start)
        ranges = wider
    return found


async def _last_records(consumer: AIOKafkaConsumer,
                        ranges: Mapping[Any, tuple[int, int]]) -> dict[Any, int]:
    """Read each ``[start, end)`` range; return the offset of the last record handed over."""
    parts = {tp: TopicPartition(tp.topic, tp.partition) for tp in ranges}
    for tp, (start, _end) in ranges.items():
        consumer.seek(parts[tp], start)
    last: dict[Any, int] = {}
    waiting = set(ranges)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STALL_SECONDS
    while waiting:
        fetched = await consumer.getmany(*(parts[tp] for tp in waiting), timeout_ms=200)
        if fetched:
            deadline = loop.time() + STALL_SECONDS
        by_part = {part: tp for tp, part in parts.items()}
        for part, records in fetched.items():
            tp = by_part[part]
            end = ranges[tp][1]
            for record in records:
                if record.offset < end:
                    last[tp] = max(last.get(tp, -1), record.offset)
        for tp in list(waiting):
            if await consumer.position(parts[tp]) >= ranges[tp][1]:
                waiting.discard(tp)
        if waiting and loop.time() > deadline:
            raise TimeoutError(f"reading the tail of {sorted(map(str, waiting))} stalled")
    return last
