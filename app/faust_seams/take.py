"""``take_events`` that does not sit idle while records are waiting (set as the app's Stream).

Faust's ``take_events(max_, within)`` waits for a full buffer or for ``within`` after every
batch, even when the records that arrived while the last batch was processed are already
queued: under live traffic (1,000 msg/s) every batch began with ``within`` of idling, and
the batches grew until processing caught up with the traffic they let build up. Here a batch
goes as soon as the buffer is full, or it holds records and the stream's queue has none
left to add, or ``within`` after the first record at the latest. Under a backlog the
buffer still fills to ``max_`` first; acking, stopping and the buffer are Faust's, unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any, cast

import faust
from faust.streams import _tracks_buffer_agen
from faust.types import ChannelT, EventT
from mode import Seconds, want_seconds
from mode.utils.futures import notify

#: How long an empty buffer waits for its first record before checking whether to stop.
IDLE_CHECK_SECONDS = 1.0


class LeanStream(faust.Stream):  # type: ignore[type-arg]  # faust's Stream is generic
    """Faust's stream with a ``take_events`` that starts the next batch without idling."""

    async def _batch_ready(self, buffer: Sequence[Any], full: asyncio.Event,
                           added: asyncio.Event, within: float) -> None:
        """Return when ``buffer`` is full, or holds what the queue had, or has waited."""
        while not buffer:
            added.clear()
            if await self.wait_for_stopped(added,  # type: ignore[arg-type]  # has .wait()
                                           timeout=IDLE_CHECK_SECONDS):
                return
        drained = cast(ChannelT[Any], self.channel).queue.empty
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        # Each pass lets the stream move queued records into the buffer (nothing signals
        # "queue drained", and the records are already here: no timer is wanted).
        while not full.is_set() and not drained() and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0)

    @_tracks_buffer_agen
    async def take_events(self, max_: int, within: Seconds
                          ) -> AsyncGenerator[Sequence[EventT[Any]], None]:
        """Yield up to ``max_`` buffered events, acked once the caller is done with them."""
        buffer: list[Any] = []
        events: list[EventT[Any]] = []
        buffer_full = asyncio.Event()
        buffer_added = asyncio.Event()
        buffer_consumed = asyncio.Event()
        timeout = want_seconds(within) if within else 0.0
        stream_enable_acks: bool = self.enable_acks
        buffer_consuming: asyncio.Future[Any] | None = None
        channel_it = aiter(self.channel)

        async def add_to_buffer(value: Any) -> Any:
            nonlocal buffer_consuming
            try:
                if buffer_consuming is not None:
                    try:
                        await buffer_consuming
                    finally:
                        buffer_consuming = None
                buffer.append(value)
                event = self.current_event
                if event is None:
                    raise RuntimeError("Take buffer found current_event is None")
                events.append(event)
                buffer_added.set()
                if len(buffer) >= max_:
                    buffer_full.set()
                    buffer_consumed.clear()
                    await self.wait(buffer_consumed)  # type: ignore[arg-type]
            except asyncio.CancelledError:  # pragma: no cover
                raise
            except Exception as exc:  # Faust's own handling: crash the stream
                self.log.exception("Error adding to take buffer: %r", exc)
                await self.crash(exc)
            return value

        self.enable_acks = False
        self.add_processor(cast(Callable[[Any], Any], add_to_buffer))
        self._enable_passive(cast(ChannelT[Any], channel_it))
        try:
            while not self.should_stop:
                await self._batch_ready(buffer, buffer_full, buffer_added, timeout)
                if buffer:
                    buffer_consuming = asyncio.get_running_loop().create_future()
                    try:
                        yield list(events)
                    finally:
                        buffer.clear()
                        for event in events:
                            await self.ack(event)
                        events.clear()
                        notify(buffer_consuming)
                        buffer_full.clear()
                        buffer_consumed.set()
        finally:
            self.enable_acks = stream_enable_acks
            self._processors.remove(add_to_buffer)
