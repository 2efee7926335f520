"""CLI command ``simulate``: live football matches from ``feeds.simulator`` into feed.v1.

Timestamps: the simulation starts at the wall clock (``start_ms = now``) and every message's
``ts`` is ``start_ms`` plus its simulated time. Paced in real time, a message is produced
when its ``ts`` comes round, so ``ts`` is the wall clock at production (later only when
``--rate`` or the broker holds it back). With ``--max`` simulated time outruns the wall
clock and ``ts`` runs ahead of it, as in a replay of a recorded feed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from faust.cli import option

from app.faust_app import app, settings
from app.kafka_security import client_kwargs
from feeds.simulator import MatchSimulator
from models.keys import producer_key

PROGRESS_EVERY_S = 5.0
#: How far a real-time run may lag behind before it stops sleeping, and a rate cap's burst.
SLACK_S = 0.002
BURST_S = 1.0


class SimulationReport:
    """Counts what was produced and says so every few seconds."""

    def __init__(self, say: Any, started: float) -> None:
        self.say = say
        self.started = started
        self.next_report = started + PROGRESS_EVERY_S
        self.sent = 0
        self.sim_ms = 0
        self.by_type: Counter[str] = Counter()
        self.failed = 0
        self.first_error = ""

    def count(self, due_ms: int, message: dict[str, Any]) -> None:
        self.sent += 1
        self.sim_ms = due_ms
        self.by_type[message["type"]] += 1

    def on_delivery(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            self.failed += 1
        elif (error := future.exception()) is not None:
            self.failed += 1
            self.first_error = self.first_error or repr(error)

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        settled = self.by_type["bet_settlement"] // 2
        return (f"{self.sent:,} messages, {self.sent / elapsed:,.0f}/s, elapsed {elapsed:.1f} s,"
                f" simulated {self.sim_ms / 1000:.1f} s, matches {self.by_type['fixture_change']}"
                f" started / {settled} settled")

    def maybe_report(self, now: float) -> None:
        if now >= self.next_report:
            self.next_report = now + PROGRESS_EVERY_S
            self.say(f"simulate: {self.line(now)}")


@app.command(
    option("--events", type=int, default=20,
           help="Matches in play at once; each slot starts a new match when one is settled."),
    option("--rate", type=float, default=0.0,
           help="Cap on messages produced per second (0: no cap). Below the feed's own rate "
                "it slows simulated time down, ts included, and the producer may look silent."),
    option("--duration", type=float, default=0.0,
           help="Simulated seconds to run (0: until Ctrl-C). Only matches that are settled "
                "within it are started."),
    option("--seed", type=int, default=1, help="Random seed: same seed, same matches."),
    option("--max", "max_speed", is_flag=True, default=False,
           help="Produce as fast as possible instead of one simulated second per second."),
    option("--match-seconds", type=float, default=90.0,
           help="Simulated seconds for 90 match minutes (90: a match minute per second); "
                "prematch, halftime and settlement scale with it."),
    option("--tick", type=float, default=1.0,
           help="Simulated seconds between repricings of a match between goals."),
    option("--first-id", type=int, default=0,
           help="Number of the first event (sr:match:N); 0: the start time in ms, so runs "
                "never reuse an earlier run's event ids."),
    option("--producer", type=int, default=1, help="Producer id of every message."),
)
async def simulate(self: Any, events: int, rate: float, duration: float, seed: int,
                   max_speed: bool, match_seconds: float, tick: float, first_id: int,
                   producer: int) -> None:
    """Produce simulated live football (fixtures, odds, goals, settlement) to feed.v1."""
    start_ms = int(time.time() * 1000)
    try:
        simulator = MatchSimulator(events, seed=seed, start_ms=start_ms, producer=producer,
                                   match_seconds=match_seconds, first_id=first_id or start_ms)
        feed = simulator.messages(duration if duration > 0 else math.inf, step_s=tick)
    except ValueError as exc:
        self.say(f"simulate: {exc}", err=True)
        raise SystemExit(2) from None
    topic = settings.topic("feed.v1")
    self.say(f"simulate: {events} match slots, seed {seed}, a match every "
             f"{simulator.cycle_s:.0f} simulated s per slot, events from "
             f"{simulator.event_id(0)}, to {topic}"
             f"{' as fast as possible' if max_speed else ' in real time'}"
             f"{f', at most {rate:g}/s' if rate > 0 else ''}")
    kafka = AIOKafkaProducer(**client_kwargs(settings), linger_ms=5)
    await kafka.start()
    started = time.monotonic()
    progress = SimulationReport(self.say, started)
    allowed = started  # the rate cap's next free slot
    try:
        for due_ms, message in feed:
            now = time.monotonic()
            if not max_speed and (wait := started + due_ms / 1000 - now) > SLACK_S:
                await asyncio.sleep(wait)
            if rate > 0:
                allowed = max(allowed, time.monotonic() - BURST_S) + 1.0 / rate
                if (wait := allowed - time.monotonic()) > SLACK_S:
                    await asyncio.sleep(wait)
            key = message.get("event_id") or producer_key(message["producer"])
            delivery = await kafka.send(topic, key=key.encode(), value=orjson.dumps(message))
            delivery.add_done_callback(progress.on_delivery)
            progress.count(due_ms, message)
            if progress.sent % 1000 == 0:
                await asyncio.sleep(0)  # let the producer's sender run at --max
            progress.maybe_report(time.monotonic())
    finally:
        # On Ctrl-C the worker cancels this task, and again after a second: report before
        # stopping the producer.
        await kafka.flush()
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(progress.by_type.items()))
        self.say(f"simulate: done: {progress.line(time.monotonic())}")
        self.say(f"simulate: by type: {kinds or 'none'}")
        if progress.failed:
            self.say(f"simulate: {progress.failed:,} messages failed: {progress.first_error}",
                     err=True)
        await kafka.stop()
    if progress.failed:
        raise SystemExit(1)
