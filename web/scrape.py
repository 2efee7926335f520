"""Metrics read from the worker's state when ``/metrics`` is scraped."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from faust.exceptions import ConsumerNotStarted
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily, Metric

from app import topics
from app.assignment import active_partitions
from app.faust_app import app, settings
from app.faust_seams.store import PartitionedStore
from models.keys import partition_for
from tables import state
from web.replica import REPLICA

log = logging.getLogger(__name__)

#: Topics that agents of this worker consume (changelogs are read by recovery, not agents).
AGENT_TOPICS = (topics.feed, topics.markets, topics.events, topics.settlements,
                topics.odds_changes)


def fetched_to(tp: Any) -> int:
    """Return the worker consumer's fetch position in ``tp`` (0 when unknown).

    It is past every record handed to Faust and past the transaction markers after them,
    control records that are never handed over: a partition whose last entry is a commit
    marker has nothing left to read once the position is at its end.
    """
    aio: Any = getattr(getattr(app.consumer, "_thread", None), "_consumer", None)
    subscription = aio._subscription.subscription if aio is not None else None
    if subscription is None or subscription.assignment is None:
        return 0
    state = subscription.assignment.state_value(tp)
    return state.position if state is not None and state.has_valid_position else 0


def partition_lag() -> dict[tuple[str, int], int]:
    """Return, per assigned agent partition, how many records are not read yet."""
    consumer: Any = app.consumer
    try:
        assigned = consumer.assignment()
    except ConsumerNotStarted:
        return {}  # not yet, or never: the separate MySQL sink process runs no Faust consumer
    names = {t.get_topic_name() for t in AGENT_TOPICS}
    lag = {}
    for tp in assigned:
        if tp.topic not in names:
            continue
        highwater = consumer.highwater(tp)
        position = consumer._read_offset.get(tp)  # Faust keeps no public read position.
        if highwater is not None:
            read = (position + 1) if position is not None else 0
            lag[(tp.topic, tp.partition)] = max(0, highwater - max(read, fetched_to(tp)))
    return lag


def _active_partitions(table: Any) -> set[int]:
    name = table.changelog_topic.get_topic_name()
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == name}


def table_keys(table: Any) -> int:
    """Return about how many keys this worker holds in the active partitions of a table."""
    store: Any = table.data
    if not isinstance(store, PartitionedStore):
        return len(store)
    return store.estimated_keys(_active_partitions(table))


def producers_up() -> Iterator[tuple[int, bool]]:
    """Yield (producer, up) for producers whose home partition this worker owns."""
    owned = active_partitions(topics.feed)
    for raw_key, home in list(state.producers.items()):
        key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
        if "@" in key or home is None:
            continue
        if isinstance(home, bytes):
            home = orjson.loads(home)
        if partition_for(key.encode(), settings.topic_partitions) in owned:
            yield int(home["producer"]), not home["down"]


def _families() -> dict[str, GaugeMetricFamily]:
    return {
        "lag": GaugeMetricFamily(
            "odds_consumer_lag_records",
            "Records not yet consumed, per topic partition assigned to this worker's agents.",
            labels=["topic", "partition"]),
        "tables": GaugeMetricFamily(
            "odds_table_keys", "Estimated keys in this worker's active table partitions.",
            labels=["table"]),
        "producers": GaugeMetricFamily(
            "odds_producer_up", "1 while a producer is up, 0 while down (reported by the "
            "worker owning its home partition).", labels=["producer"]),
        "events": GaugeMetricFamily(
            "odds_read_model_events", "Events held in this worker's replicated read model."),
        "buffered": GaugeMetricFamily(
            "odds_stream_buffered_changes", "Change notifications held for /stream resumes."),
    }


class PlatformCollector:
    """Computes the families above on every scrape; a failing part is skipped, logged."""

    def describe(self) -> Iterable[Metric]:
        return list(_families().values())

    def collect(self) -> Iterable[Metric]:
        families = _families()
        parts: tuple[tuple[str, Callable[[], Iterable[tuple[list[str], float]]]], ...] = (
            ("lag", lambda: [([t, str(p)], v) for (t, p), v in sorted(partition_lag().items())]),
            ("tables", lambda: [([label], table_keys(t)) for label, t in state.LABELS.items()]),
            ("producers", lambda: [([str(p)], int(up)) for p, up in sorted(producers_up())]),
            ("events", lambda: [([], len(REPLICA.events))]),
            ("buffered", lambda: [([], len(REPLICA.changes))]),
        )
        for name, samples in parts:
            try:
                for labels, value in samples():
                    families[name].add_metric(labels, value)
            except Exception:  # a scrape must not fail because one part did
                log.exception("metric %s not collected", name)
        return list(families.values())


def install() -> None:
    """Collect the platform's metrics from the worker's state at each scrape."""
    REGISTRY.register(PlatformCollector())
