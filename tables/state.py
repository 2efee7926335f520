"""RocksDB-backed tables, co-partitioned with ``feed.v1``; values are never mutated in place."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from faust.streams import _current_event
from faust.types import EventT, TableT, TopicT

from app import topics
from app.faust_app import app, settings
from app.faust_seams.store import PartitionedStore, store_url
from models.keys import partition_for
from models.market import Snapshot


def _table(name: str, help_: str, changelog: TopicT | None = None) -> TableT[Any, Any]:
    """A table whose changelog is ``changelog`` (an output topic whose records are the
    table's values), else a compacted ``{app_id}-{name}-changelog`` of its own."""
    if changelog is None:
        changelog = app.topic(
            settings.topic(f"{settings.app_id}-{name}-changelog"),
            partitions=settings.topic_partitions,
            compacting=True,
            deleting=False,
            key_serializer="raw",
            value_serializer="json",
        )
    return app.Table(
        name,
        default=None,
        partitions=settings.topic_partitions,
        key_type=bytes,
        changelog_topic=changelog,
        help=help_,
        options=settings.rocksdb_options() if settings.store == "rocksdb://" else None,
        store=store_url(settings.store, name),
    )


# The published records are the table values: ``markets.v1`` and ``events.v1`` are these
# tables' changelogs, so nothing is written twice, and recovery, standbys and the bulk
# restore read the output topics. Named after them: a store kept by a release with changelogs
# of their own holds offsets of those, which must never be applied to these topics.
#: market key -> market snapshot (see ``models.market``), as published on ``markets.v1``.
markets = _table("markets.v1", "Latest state of each market, by market key.", topics.markets)
#: event id -> event state (``models.event``), as published on ``events.v1``.
events = _table("events.v1", "Latest state of each event, by event id.", topics.events)
#: ``producer:{id}`` -> home health state; ``producer:{id}@{partition}`` -> that partition's view.
producers = _table("producers", "Producer health, at home and per partition.")
#: ``feed.v1``'s name -> ``{"offset": n}``: the last record of this partition applied, written
#: once per batch (``tables.repeats``).
applied = _table("applied", "The offset of the last feed record applied, per partition.")

#: Betfair market id -> the adapter's cache of that market (``feeds.betfair_cache``); keyed
#: and partitioned by market id, co-partitioned with ``feed.raw.betfair.markets.v1``.
betfair_markets = _table("betfair-markets", "Betfair market caches, by market id.")

TABLES = (markets, events, producers, applied, betfair_markets)
#: Each table by a name that stays (metrics labels; ``BatchPlan.table_writes``), whatever its
#: store is called.
LABELS = {"markets": markets, "events": events, "producers": producers, "applied": applied,
          "betfair-markets": betfair_markets}
#: The tables by the names ``BatchPlan.table_writes`` gives them.
BY_NAME = {name: LABELS[name] for name in ("markets", "events", "producers")}


@contextmanager
def event_context(event: EventT[Any]) -> Iterator[None]:
    """Make ``event`` current so table reads and writes go to its partition."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def partition_items(table: TableT[Any, Any], partition: int) -> Iterator[tuple[str, Snapshot]]:
    """Yield the entries of one partition of a table keyed by event-scoped keys."""
    store: Any = table.data
    if isinstance(store, PartitionedStore):
        for raw_key, raw_value in store.partition_items(partition):
            yield raw_key.decode(), orjson.loads(raw_value)
        return
    for key, value in list(store.items()):
        text = key.decode() if isinstance(key, bytes) else str(key)
        owner = value["event_id"].encode()
        if partition_for(owner, settings.topic_partitions) == partition:
            yield text, value
