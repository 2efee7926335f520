"""RocksDB-backed tables, co-partitioned with ``feed.v1``; values are never mutated in place."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event
from faust.types import EventT, TableT

from app.faust_app import app, settings


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
    )


#: market key -> market snapshot (see ``models.market``).
markets = _table("markets", "Latest snapshot of each market, by market key.")
#: event id -> {"event_id", "market_keys"}: which markets an event has.
events = _table("events", "Each event's market keys, by event id.")


@contextmanager
def event_context(event: EventT[Any]) -> Iterator[None]:
    """Make ``event`` current so table reads and writes go to its partition."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
