"""The SSE writer of GET /stream, with the buffer driven by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from web.changes import ChangeBuffer, Subscription
from web.stream import frame, serve


class Client:
    """Collects what the stream writes."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.wrote = asyncio.Event()

    async def write(self, data: bytes) -> None:
        self.chunks.append(data)
        self.wrote.set()

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode()

    async def next_write(self) -> None:
        self.wrote.clear()
        await asyncio.wait_for(self.wrote.wait(), 2)


def started(capacity: int = 100) -> ChangeBuffer:
    changes = ChangeBuffer(capacity)
    changes.start([0, 0])
    return changes


def add(changes: ChangeBuffer, slot: int, offset: int, event_id: str = "sr:match:1") -> None:
    changes.append(slot, offset, "price", event_id, b'{"offset": %d}' % offset)


class Ends:
    """Kafka's end offsets as the stream asks for them, with the ids it asked about."""

    def __init__(self, *ends: int) -> None:
        self.ends = ends
        self.asked: list[tuple[int, ...]] = []

    async def past(self, positions: Sequence[int]) -> bool:
        self.asked.append(tuple(positions))
        return any(p > end for p, end in zip(positions, self.ends, strict=True))


async def run(changes: ChangeBuffer, event_id: str | None = None,
              last_id: tuple[int, ...] | None = None, keepalive: float = 5.0,
              ends: Ends | None = None) -> tuple[Client, asyncio.Task[None]]:
    client = Client()
    past_end = (ends or Ends()).past
    task = asyncio.create_task(serve(Subscription(changes, event_id), last_id, client.write,
                                     keepalive, past_end))
    await client.next_write()
    return client, task


def test_frame_format() -> None:
    assert frame("price", "1.2", b"{}") == b"event: price\nid: 1.2\ndata: {}\n\n"


async def test_live_changes_then_close() -> None:
    changes = started()
    client, task = await run(changes)
    assert client.text == "retry: 1000\n: connected\n\nid: 0.0\n\n"
    add(changes, 1, 0)
    add(changes, 0, 0)
    changes.notify()
    await client.next_write()
    assert client.chunks[-1] == (b'event: price\nid: 0.1\ndata: {"offset": 0}\n\n'
                                 b'event: price\nid: 1.1\ndata: {"offset": 0}\n\n')
    changes.close()
    await asyncio.wait_for(task, 2)


async def test_resume_replays_and_reset_when_too_old() -> None:
    changes = started(capacity=3)
    for offset in range(4):
        add(changes, 0, offset)
    client, task = await run(changes, last_id=(2, 0))
    assert "id: 3.0\ndata: {\"offset\": 2}" in client.text
    assert "id: 4.0\ndata: {\"offset\": 3}" in client.text and "offset\": 1" not in client.text
    changes.close()
    await asyncio.wait_for(task, 2)
    client, task = await run(changes, last_id=(0, 0))
    assert 'event: reset\nid: 4.0\ndata: {"reason": "position no longer buffered"}' in client.text
    changes.closed = False
    client, task = await run(changes, last_id=(1,))
    assert "event: reset" in client.text
    changes.close()
    await asyncio.wait_for(task, 2)


async def test_an_id_past_the_end_of_the_topics_is_reset_then_streamed_live() -> None:
    changes = started()
    add(changes, 0, 0)
    ends = Ends(2, 5)  # a commit marker after offset 0 of slot 0: its end is 2, not 1
    client, task = await run(changes, last_id=(1, 0), ends=ends)
    assert ends.asked == [] and "event: reset" not in client.text  # not ahead: resumed
    changes.close()
    await asyncio.wait_for(task, 2)
    changes.closed = False
    client, task = await run(changes, last_id=(2, 5), ends=ends)
    assert ends.asked == [(2, 5)] and "event: reset" not in client.text  # ahead, not past
    add(changes, 1, 5)
    changes.notify()
    await client.next_write()
    assert client.chunks[-1] == b'event: price\nid: 2.6\ndata: {"offset": 5}\n\n'
    changes.close()
    await asyncio.wait_for(task, 2)
    changes.closed = False
    client, task = await run(changes, last_id=(2, 10**12), ends=ends)
    assert client.text.endswith('event: reset\nid: 1.6\n'
                                'data: {"reason": "position past the end of the stream"}\n\n')
    add(changes, 1, 6)
    changes.notify()
    await client.next_write()
    assert client.chunks[-1] == b'event: price\nid: 1.7\ndata: {"offset": 6}\n\n'
    changes.close()
    await asyncio.wait_for(task, 2)


async def test_keepalive_moves_the_resume_point_past_filtered_changes() -> None:
    changes = started()
    client, task = await run(changes, event_id="sr:match:2", keepalive=0.05)
    add(changes, 0, 0, "sr:match:1")
    changes.notify()
    await client.next_write()
    assert client.chunks[-1] == b": keepalive\nid: 1.0\n\n"
    await client.next_write()
    assert client.chunks[-1] == b": keepalive\n\n"
    changes.close()
    await asyncio.wait_for(task, 2)


async def test_a_client_that_falls_behind_is_reset() -> None:
    changes = started(capacity=2)
    client, task = await run(changes)
    for offset in range(5):  # more than the buffer holds before the writer runs
        add(changes, 1, offset)
    changes.notify()
    await client.next_write()
    assert client.chunks[-1].startswith(b"event: reset\nid: 0.5\n")
    changes.close()
    await asyncio.wait_for(task, 2)
