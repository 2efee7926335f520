"""How the worker tells repeats without writing per message: redelivered records by offset,
messages sent again by their digests kept in memory (``models.digests``)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from faust.types import EventT

from models.market import Snapshot
from outbound.transaction import BatchSender
from tables import state
from tables.io import TableIO

#: Scopes (events, producers) whose recent digests are kept: ~1 KB each at most.
RECENT_SCOPES = 32_768


class RecentDigests:
    """The recent message digests of each scope, newest scopes kept, oldest out first.

    In memory only: a record the worker applies again after a crash or a rebalance is known
    by its offset (``AppliedOffsets``); these catch a message the feed itself sends twice.
    """

    def __init__(self, capacity: int = RECENT_SCOPES) -> None:
        self.capacity = capacity
        self.values: OrderedDict[str, str] = OrderedDict()

    def get(self, scope: str) -> Snapshot | None:
        recent = self.values.get(scope)
        return None if recent is None else {"recent": recent}

    def update(self, changed: Mapping[str, Snapshot]) -> None:
        """Keep each scope's new digests (``{"recent": ...}``), evicting the oldest scopes."""
        values = self.values
        for scope, held in changed.items():
            values[scope] = held["recent"]
            values.move_to_end(scope)
        while len(values) > self.capacity:
            values.popitem(last=False)

    def clear(self) -> None:
        self.values.clear()


class AppliedOffsets:
    """Per ``feed.v1`` partition, the offset of the last record applied, kept in the
    ``applied`` table in the batch's transaction: a record at or below it was applied
    before a crash or a rebalance, and is a repeat."""

    def __init__(self, io: TableIO, key: str) -> None:
        self.io = io
        self.key = key
        self.known: dict[int, int] = {}
        self.staged: dict[int, int] = {}

    def _through(self, event: EventT[Any]) -> int:
        partition = event.message.partition
        known = self.known.get(partition)
        if known is None:
            held = self.io.get(state.applied, partition, event, self.key)
            known = self.known[partition] = -1 if held is None else int(held["offset"])
        return known

    def fresh(self, events: Sequence[EventT[Any]]) -> list[EventT[Any]]:
        """The events not applied before, in order."""
        return [e for e in events if e.message.offset > self._through(e)]

    def stage(self, events: Iterable[EventT[Any]], sender: BatchSender | None) -> None:
        """Stage each partition's last offset in ``events`` with the batch."""
        last: dict[int, EventT[Any]] = {}
        for event in events:
            last[event.message.partition] = event
        self.staged = {}
        for partition, event in last.items():
            offset = event.message.offset
            self.io.stage(state.applied, event, self.key, {"offset": offset}, sender)
            self.staged[partition] = offset

    def committed(self) -> None:
        """The staged batch is committed: its offsets are applied."""
        self.known.update(self.staged)
        self.staged = {}

    def forget(self) -> None:
        """Read the offsets again: a partition handed back may have moved elsewhere."""
        self.known.clear()
        self.staged = {}
