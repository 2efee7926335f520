"""CLI command ``replay``: produce recorded feeds to the inbound topics at the recorded pace."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faust.cli import argument, option

from app.faust_app import app, settings
from app.kafka_security import client_kwargs
from feeds.recorded import (
    AS_FAST_AS_POSSIBLE,
    FORMATS,
    Pacer,
    RecordedFeedError,
    RecordedMessage,
    read_recorded,
)

#: Where each recorded format goes: raw provider records to their adapter's topic.
TOPICS = {"uof": "feed.raw.uof.v1", "betfair": "feed.raw.betfair.v1", "canonical": "feed.v1"}
READ_CHUNK = 1000  # records read per trip to the reading thread
ACK_CHUNK = 10_000  # unacknowledged sends at most, which bounds memory with --max
PROGRESS_EVERY_S = 2.0
MIN_SLEEP_S = 0.001  # a shorter wait is not worth a timer; the schedule is absolute, no drift
EXIT_FAILURE = 1
EXIT_USAGE = 2


class ReplayError(Exception):
    """Kafka refused a record: the replay cannot go on."""


class ReplayReport:
    """Count what was sent and say so every couple of seconds."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.messages = 0
        self.bytes = 0
        self.recorded_ts: int | None = None
        self.begin()

    def begin(self) -> None:
        """Start the clock: elapsed time, rate and the pacing schedule count from now."""
        self.started = time.monotonic()
        self._next_report = self.started + PROGRESS_EVERY_S

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def rate(self) -> float:
        elapsed = self.elapsed()
        return self.messages / elapsed if elapsed > 0 else 0.0

    def sent(self, message: RecordedMessage) -> None:
        self.messages += 1
        self.bytes += len(message.value) + len(message.key or b"")
        if message.ts_ms is not None:
            self.recorded_ts = message.ts_ms
        if self.messages % 256 == 0:
            self.maybe_report()

    def maybe_report(self) -> None:
        now = time.monotonic()
        if now >= self._next_report:
            self._next_report = now + PROGRESS_EVERY_S
            self.say(f"replay: {self.messages:,} messages, {self.rate():,.1f} msg/s, "
                     f"{self.elapsed():.1f} s elapsed{self._position()}")

    def _position(self) -> str:
        if self.recorded_ts is None:
            return ""
        try:
            recorded = datetime.fromtimestamp(self.recorded_ts / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return ""
        return f", recorded time {recorded.isoformat(timespec='seconds')}"

    def summary(self, topic: str) -> str:
        return (f"replay done: {self.messages:,} messages, {self.bytes:,} bytes to {topic} "
                f"in {self.elapsed():.2f} s, {self.rate():,.1f} msg/s")


def _take(messages: Iterator[RecordedMessage],
          count: int) -> tuple[list[RecordedMessage], RecordedFeedError | None]:
    """Read up to ``count`` records; on an unreadable one, return those before it and the error."""
    chunk: list[RecordedMessage] = []
    try:
        chunk.extend(itertools.islice(messages, count))
    except RecordedFeedError as exc:
        return chunk, exc
    return chunk, None


async def _acknowledged(pending: list[asyncio.Future[Any]]) -> None:
    """Wait until Kafka has acknowledged every pending send; raise the first failure."""
    try:
        await asyncio.gather(*pending)
    except KafkaError as exc:
        raise ReplayError(f"Kafka refused a record: {exc!r}") from exc
    finally:
        pending.clear()


async def _wait_until(due: float, progress: ReplayReport) -> None:
    while (remaining := due - time.monotonic()) > MIN_SLEEP_S:
        await asyncio.sleep(min(remaining, PROGRESS_EVERY_S))
        progress.maybe_report()


async def _produce(producer: AIOKafkaProducer, topic: str, messages: Iterator[RecordedMessage],
                   pacer: Pacer, progress: ReplayReport) -> None:
    """Send every record in order, each no earlier than the pacer says, then wait for the acks."""
    pending: list[asyncio.Future[Any]] = []
    while True:
        # Files are read in a thread, a chunk at a time: blocking I/O stays off the event loop.
        chunk, unreadable = await asyncio.to_thread(_take, messages, READ_CHUNK)
        for message in chunk:
            due = progress.started + pacer.due(message.ts_ms)
            if due - time.monotonic() > MIN_SLEEP_S:
                # Idle time anyway: collect the acks so far, so a failure shows up promptly.
                await _acknowledged(pending)
                await _wait_until(due, progress)
            try:
                pending.append(await producer.send(topic, message.value, key=message.key))
            except KafkaError as exc:
                raise ReplayError(f"{message.source}:{message.line}: Kafka refused the record: "
                                  f"{exc!r}") from exc
            progress.sent(message)
            if len(pending) >= ACK_CHUNK:
                await _acknowledged(pending)
        if unreadable is not None or not chunk:
            # Everything before an unreadable record is sent, as it would be from a live feed.
            await _acknowledged(pending)
            if unreadable is not None:
                raise unreadable
            return


@app.command(
    argument("paths", nargs=-1, required=True,
             type=click.Path(exists=True, readable=True, path_type=Path)),
    option("--format", "feed_format", type=click.Choice(FORMATS), required=True,
           help="Recorded format: UOF XML, Betfair stream JSON lines or canonical JSON lines."),
    option("--speed", type=click.FloatRange(min=0, min_open=True), default=None,
           help="Replay speed: 1 is the recorded pace (default), 10 is ten times faster."),
    option("--max", "as_fast_as_possible", is_flag=True,
           help="Ignore the recorded timing and produce as fast as possible."),
)
async def replay(self: Any, paths: tuple[Path, ...], feed_format: str, speed: float | None,
                 as_fast_as_possible: bool) -> None:
    """Replay recorded feeds to the raw topics (canonical: feed.v1), keeping recorded timing."""
    if as_fast_as_possible and speed is not None:
        self.say("replay: give --speed or --max, not both", file=self.stderr)
        raise SystemExit(EXIT_USAGE)
    topic = settings.topic(TOPICS[feed_format])
    pacer = Pacer(AS_FAST_AS_POSSIBLE if as_fast_as_possible else speed or 1.0)
    producer = AIOKafkaProducer(
        **client_kwargs(settings), acks="all", enable_idempotence=True, linger_ms=10,
        max_batch_size=256 * 1024)
    progress = ReplayReport(self.say)
    try:
        messages = await asyncio.to_thread(read_recorded, feed_format, paths)
        await producer.start()
        progress.begin()
        try:
            await _produce(producer, topic, messages, pacer, progress)
        finally:
            await producer.stop()
    except (RecordedFeedError, ReplayError, KafkaError) as exc:
        what = "unreadable input" if isinstance(exc, RecordedFeedError) else "failed"
        self.say(f"replay: {what}: {exc or repr(exc)}", file=self.stderr)
        self.say(f"replay: stopped after {progress.messages:,} messages", file=self.stderr)
        raise SystemExit(EXIT_FAILURE) from None
    except asyncio.CancelledError:
        self.say(f"replay: interrupted after {progress.messages:,} messages", file=self.stderr)
        raise
    self.say(progress.summary(topic))
