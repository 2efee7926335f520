"""The odds agent: applies ``feed.v1`` batches to the tables and publishes what changed."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any, cast

from faust.streams import Stream
from faust.types import AppT, EventT, StreamT, TableT
from mode import BaseSignalT, Service

from agents.bet_watch import WATCH
from agents.catalog import CATALOG, CATALOG_READY
from agents.deadletter import dead_letter
from app import metrics, topics
from app.clock import now_ms
from app.faust_app import app, settings
from app.liveness import LIVENESS
from models.engine import BatchPlan, Rules, plan_batch
from models.event import published_event
from models.keys import partition_for, producer_key
from models.market import Snapshot, Verdict
from outbound.outbox import Outbox
from outbound.producer import ExitBeforeCommit, new_transactional_producer
from outbound.transaction import Transactions
from tables import state
from tables.io import FaustTableIO, RocksTableIO, TableIO
from tables.repeats import AppliedOffsets, RecentDigests

log = logging.getLogger(__name__)

Event = EventT[bytes]

#: On RocksDB (every real worker) tables and outbound topics take the batched path; the
#: memory store of unit tests uses Faust's own table and topic API.
ON_ROCKSDB = settings.store == "rocksdb://"


class TableReader:
    """Reads the tables in the partition of the record being applied."""

    def __init__(self, io: TableIO) -> None:
        self.io = io

    def market(self, source: Event, key: str) -> Snapshot | None:
        return self.io.get(state.markets, source.message.partition, source, key)

    def event(self, source: Event, event_id: str) -> Snapshot | None:
        return self.io.get(state.events, source.message.partition, source, event_id)

    def producer(self, source: Event, key: str) -> Snapshot | None:
        return self.io.get(state.producers, source.message.partition, source, key)

    def digests(self, source: Event, key: str) -> Snapshot | None:
        return RECENT.get(key)

    def partition(self, source: Event) -> int:
        return source.message.partition

    def partition_markets(self, source: Event) -> Iterable[tuple[str, Snapshot]]:
        return state.partition_items(state.markets, source.message.partition)


TABLE_IO: TableIO = RocksTableIO(settings.market_cache_size) if ON_ROCKSDB else FaustTableIO()
READER = TableReader(TABLE_IO)


def read_owned(table: TableT[Any, Any], event_id: str, key: str) -> Snapshot | None:
    """Return a table value of an event this worker owns, from the odds agent's cache of
    decoded values when the store is RocksDB (a plain table read goes through every
    partition's database)."""
    if isinstance(TABLE_IO, RocksTableIO):
        partition = partition_for(event_id.encode(), settings.topic_partitions)
        return TABLE_IO.read(table, partition, key)
    value: Snapshot | None = table.get(key)
    return value

RECENT = RecentDigests()
APPLIED = AppliedOffsets(TABLE_IO, topics.feed.get_topic_name())
RULES = Rules(silence_timeout_ms=int(settings.producer_timeout * 1000),
              recovery_retry_ms=int(settings.recovery_retry_seconds * 1000),
              # This process's start: a producer's first alive after it asks for a recovery.
              boot=uuid.uuid4().hex, catalog=CATALOG,
              partitions=settings.topic_partitions,
              max_future_ms=int(settings.max_future_skew * 1000))


def forget_cached_state(sender: Any, /, *args: Any, signal: BaseSignalT[Any],
                        **kwargs: Any) -> None:
    """Drop cached table values: a partition handed back may have changed on another worker."""
    TABLE_IO.forget()
    APPLIED.forget()
    RECENT.clear()




TRANSACTIONS = Transactions(partial(new_transactional_producer, app, settings),
                            lambda exc: metrics.TRANSACTION_FAILURES.labels(
                                type(exc).__name__).inc())
LIVENESS.producer = lambda: TRANSACTIONS.producer
LIVENESS.transactional = ON_ROCKSDB


class TransactionsService(Service):
    """Starts the transactional producer with the worker (aborting what a crashed
    predecessor left open, which read-committed readers would otherwise wait on); at
    the worker's stop, flushes the tables' unlogged writes (a restart reads them back)."""

    async def on_start(self) -> None:
        await TRANSACTIONS.start()

    async def on_stop(self) -> None:
        await TRANSACTIONS.stop()
        TABLE_IO.forget()


def install(faust_app: AppT) -> None:
    """Drop cached state at every rebalance; on RocksDB, run the transactional producer."""
    # Revoked: after the agent's in-flight batch is done. Assigned: before recovery, which
    # writes the databases behind the cache's back, and before the agent reads again.
    faust_app.on_partitions_revoked.connect(forget_cached_state)
    faust_app.on_partitions_assigned.connect(forget_cached_state)
    if ON_ROCKSDB:
        faust_app.service(cast(Any, TransactionsService()))


#: Test-only: FAULT_EXIT_BEFORE_COMMIT=n kills the worker before the n-th batch's commit.
FAULTS = ExitBeforeCommit(settings.fault_exit_before_commit)


def new_outbox() -> Outbox:
    """An outbox for one batch: one Kafka transaction on RocksDB, Faust's sends otherwise."""
    hook = FAULTS.before_commit if settings.fault_exit_before_commit else None
    return Outbox(TRANSACTIONS if ON_ROCKSDB else None, hook)


def publish(plan: BatchPlan[Event], outbox: Outbox) -> None:
    """Queue everything a batch produced, and the changelog of what it changed."""
    for event, reason in plan.dead_letters:
        log.warning("dead-lettered %s[%s]@%s: %s", event.message.topic,
                    event.message.partition, event.message.offset, reason)
        outbox.send(topics.dead_letters, event.message.key,
                    dead_letter(event.message, reason), event.message.partition)
    outbox.records(topics.odds_changes, plan.odds_changes)
    if WATCH.markets:
        WATCH.observe((record.key, record.value) for record in plan.odds_changes)
    outbox.records(topics.settlements, plan.settlements)
    for record in plan.recovery_requests:
        log.warning("producer %s down (%s): requesting recovery %s", record.key,
                    record.value["reason"], record.value["request_id"])
        outbox.send(topics.recovery_requests, record.key, record.value,
                    partition_for(record.key.encode(), settings.topic_partitions))
    for status in plan.producer_status:
        # Every partition applies the producer's health to its own markets, in feed order.
        for partition in range(settings.topic_partitions):
            outbox.send(topics.feed, producer_key(status["producer"]), status, partition)
    # The markets and events tables' changelogs are markets.v1 and events.v1: staging a
    # value publishes it.
    for name, changes in plan.table_writes():
        table = state.BY_NAME[name]
        for key, pending in changes.items():
            value = published_event(pending.state) if table is state.events else pending.state
            TABLE_IO.stage(table, pending.source, key, value, outbox.sender)


class Unknown:
    """Names a batch could not resolve, each logged once per process (bounded)."""

    LOGGED_AT_MOST = 1000

    def __init__(self) -> None:
        self.logged: set[tuple[str, str]] = set()

    def note(self, kind: str, name: str, what: str) -> bool:
        """Log ``what`` the first time ``name`` is noted; return whether it was."""
        if (kind, name) in self.logged or len(self.logged) >= self.LOGGED_AT_MOST:
            return False
        self.logged.add((kind, name))
        log.warning(what, name[:64])
        return True


UNKNOWN = Unknown()


def count(plan: BatchPlan[Event]) -> None:
    """Update the metrics of one batch."""
    for (message_type, producer), total in plan.messages.items():
        metrics.MESSAGES_IN.labels(message_type, str(producer)).inc(total)
    for verdict, total in plan.verdicts.items():
        metrics.MARKET_UPDATES.labels(verdict).inc(total)
    for group, total in plan.unknown_groups.items():
        metrics.UNKNOWN_GROUPS.inc(total)
        UNKNOWN.note("group", group, "bet_stop names market group %r, which no description "
                                     "or group map knows: it suspends nothing")
    for market_id in plan.unnamed:
        if UNKNOWN.note("market", market_id, "market %r has no description: published "
                                             "without names (load one with `faust -A app "
                                             "descriptions`)"):
            metrics.UNNAMED_MARKETS.inc()


async def process(events: Sequence[Event]) -> BatchPlan[Event]:
    """Apply one batch: plan it, publish it with its changelog, then write the tables."""
    started = time.perf_counter()
    fresh = APPLIED.fresh(events)
    plan = plan_batch(((e, e.message.key, e.message.value) for e in fresh), READER, now_ms,
                      RULES)
    if len(fresh) < len(events):
        # Applied before a crash or a rebalance, and redelivered: committed already.
        plan.verdicts[Verdict.DUPLICATE.value] += len(events) - len(fresh)
    # Outbound records and changelogs are committed, in one transaction, before the local
    # tables change: a crash before the commit leaves nothing visible to read-committed
    # readers and the batch is applied again; a crash after it finds the batch in the
    # changelogs, whole, and its messages read as repeats.
    outbox = new_outbox()
    publish(plan, outbox)
    APPLIED.stage(fresh, outbox.sender)
    sending = time.perf_counter()
    metrics.PLAN_SECONDS.observe(sending - started)
    offsets = await outbox.flush()
    metrics.TRANSACTION_SECONDS.observe(time.perf_counter() - sending)
    TABLE_IO.apply(offsets)
    APPLIED.committed()
    RECENT.update({scope: pending.state for scope, pending in plan.digests.items()})
    published_ms = now_ms()
    for pending in plan.markets.values():
        if pending.publish:
            metrics.observe_end_to_end((published_ms - pending.state["updated_ts"]) / 1000)
    metrics.BATCH_MESSAGES.observe(len(events))
    if events:
        metrics.MESSAGE_SECONDS.observe((time.perf_counter() - started) / len(events))
    count(plan)
    metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
    LIVENESS.batch_done()
    return plan


@app.agent(topics.feed, name="odds")
async def odds_agent(stream: StreamT[bytes]) -> None:
    """Consume ``feed.v1`` in batches and keep the tables current."""
    batches = cast(Stream[bytes], stream).take_events(
        settings.batch_size, within=settings.batch_within
    )
    if not CATALOG_READY.is_set():
        log.info("odds agent waiting for the market descriptions")
        await CATALOG_READY.wait()
    processed = 0
    async for events in batches:
        await process(events)
        processed += 1
        if processed == settings.fault_stall_after_batches:
            # Fault injection for the liveness test only (FAULT_STALL_AGENT_AFTER, off by
            # default): the agent stops consuming while the worker keeps serving HTTP.
            log.error("FAULT_STALL_AGENT_AFTER=%d reached: the odds agent stops", processed)
            await asyncio.Event().wait()
