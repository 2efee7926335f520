"""RocksDB-backed tables, co-partitioned with ``feed.v1``; values are never mutated in place."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from faust.streams import _current_event
from faust.types import EventT, TableT

from app.faust_app import app, settings
from models.market import Snapshot
from models.placement import partition_for


def _table(name: str, help_: str) -> TableT[Any, Any]:
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
    )


#: market key -> market snapshot (see ``models.market``).
markets = _table("markets", "Latest state of each market, by market key.")
#: event id -> event state: fixture, live status, its markets' statuses (``models.event``).
events = _table("events", "Latest state of each event, by event id.")
#: ``producer:{id}`` -> home health state; ``producer:{id}@{partition}`` -> that partition's view.
producers = _table("producers", "Producer health, at home and per partition.")
#: event id or ``producer:{id}`` -> ``{"recent": digests}`` of the messages applied last.
digests = _table("digests", "Recent message digests per event and producer (repeats).")

#: Betfair market id -> the adapter's cache of that market (``feeds.betfair_cache``); keyed
#: and partitioned by market id, co-partitioned with ``feed.raw.betfair.markets.v1``.
betfair_markets = _table("betfair-markets", "Betfair market caches, by market id.")

TABLES = (markets, events, producers, digests, betfair_markets)
BY_NAME = {table.name: table for table in TABLES}


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
    db_for_partition = getattr(store, "_db_for_partition", None)
    if db_for_partition is not None:
        for raw_key, raw_value in db_for_partition(partition).items():
            if raw_key != store.offset_key and raw_value is not None:
                yield raw_key.decode(), orjson.loads(raw_value)
        return
    for key, value in list(store.items()):
        text = key.decode() if isinstance(key, bytes) else str(key)
        owner = value["event_id"].encode()
        if partition_for(owner, settings.topic_partitions) == partition:
            yield text, value
