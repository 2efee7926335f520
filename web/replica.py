"""This worker's replica of the outbound topics: the event index and the change buffer.

Every worker follows all partitions of ``events.v1`` (from the beginning: it is compacted)
and ``odds-changes.v2`` (from the end at start-up), so any worker can list every event and
stream every change. Records are applied here; ``web.follower`` does the Kafka I/O. An
``odds-changes.v2`` record (one market version, with its list of price and status changes)
is streamed whole, as one ``changes`` event: one buffered entry and one stream id per record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson

from web.catalog import EventIndex
from web.changes import ChangeBuffer

log = logging.getLogger(__name__)

#: How many change notifications a worker keeps for clients that reconnect.
BUFFER_CAPACITY = 10_000
CHANGE_KINDS = frozenset({"price", "status"})
#: The SSE event name of an ``odds-changes.v2`` record.
CHANGES_EVENT = "changes"


class Replica:
    """The index and the buffer, and which slot each followed partition fills."""

    def __init__(self, capacity: int = BUFFER_CAPACITY) -> None:
        self.events = EventIndex()
        self.changes = ChangeBuffer(capacity)
        self.ready = False
        self.skipped = 0
        self.changes_topic = ""
        self.events_topic = ""
        self._slots: dict[tuple[str, int], int] = {}
        #: events.v1 partition -> its end offset at start: the index is ready past these.
        self.bootstrap_end: dict[int, int] = {}

    def setup(self, changes_topic: str, changes_start: Mapping[int, int], events_topic: str,
              events_end: Mapping[int, int]) -> None:
        """Number the slots; stream changes from ``changes_start`` and events after
        ``events_end`` (what comes before is bootstrap: indexed, never streamed)."""
        self.changes_topic, self.events_topic = changes_topic, events_topic
        slots = [(changes_topic, p) for p in sorted(changes_start)]
        slots += [(events_topic, p) for p in sorted(events_end)]
        self._slots = {tp: i for i, tp in enumerate(slots)}
        self.bootstrap_end = dict(events_end)
        self.changes.start([*(changes_start[p] for p in sorted(changes_start)),
                            *(events_end[p] for p in sorted(events_end))])

    def positions(self) -> dict[tuple[str, int], int]:
        """Return the next offset to read for every followed partition."""
        head = self.changes.head()
        return {tp: head[slot] for tp, slot in self._slots.items()}

    def apply(self, topic: str, partition: int, offset: int, key: bytes | None,
              value: bytes | None) -> None:
        """Apply one record of a followed topic."""
        slot = self._slots.get((topic, partition))
        if slot is None:
            return
        try:
            if topic == self.events_topic:
                self._event(slot, offset, key, value)
            else:
                self._change(slot, offset, value)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # orjson.JSONDecodeError is a ValueError; a record we cannot read is skipped.
            self.skipped += 1
            log.warning("read model skipped %s[%s]@%s: %r", topic, partition, offset, exc)

    def _event(self, slot: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            raise ValueError("events.v1 record without a key")
        event_id = key.decode()
        public = orjson.loads(value) if value is not None else None
        self.events.put(event_id, public)
        data = value if value is not None else orjson.dumps(
            {"event_id": event_id, "deleted": True})
        self.changes.append(slot, offset, "event", event_id, _one_line(data))

    def _change(self, slot: int, offset: int, value: bytes | None) -> None:
        if value is None:
            return
        record = orjson.loads(value)
        changes = record["changes"]
        if not isinstance(changes, list) or not changes:
            raise ValueError("odds-changes.v2 record without changes")
        for change in changes:
            if change["kind"] not in CHANGE_KINDS:
                raise ValueError(f"unknown change kind {change['kind']!r}")
        self.changes.append(slot, offset, CHANGES_EVENT, str(record["event_id"]),
                            _one_line(value))


def _one_line(data: bytes) -> bytes:
    # An SSE data line ends at a newline; re-encode the rare value that has one.
    return orjson.dumps(orjson.loads(data)) if b"\n" in data or b"\r" in data else data


#: The replica of this worker process.
REPLICA = Replica()
