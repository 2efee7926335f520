"""A bounded buffer of change notifications that clients can resume from (pure, asyncio-safe).

Positions are Kafka offsets, not arrival numbers: every worker reads the same partitions, so a
stream id written by one worker resumes on any other. A *cursor* holds, for every slot (one
partition of one followed topic), the next offset the client has not seen; a stream id is a
cursor encoded as dot-separated integers (opaque to clients).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from web.params import BadRequest

MAX_CURSOR_TEXT = 2000


@dataclass(frozen=True, slots=True)
class Change:
    """One buffered record: where it came from, its kind, its event and its JSON."""

    seq: int
    slot: int
    offset: int
    kind: str
    event_id: str
    data: bytes


def encode_cursor(positions: Sequence[int]) -> str:
    """Return the stream id of a cursor."""
    return ".".join(map(str, positions))


def decode_cursor(text: str) -> tuple[int, ...]:
    """Parse a stream id; a malformed one is a bad request."""
    parts = text.split(".")
    if len(text) > MAX_CURSOR_TEXT or not all(p.isascii() and p.isdigit() for p in parts):
        raise BadRequest("last event id must be an id this stream sent")
    return tuple(int(p) for p in parts)


class ChangeBuffer:
    """The last ``capacity`` changes in arrival order, with what can still be replayed."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self.closed = False
        self._changes: deque[Change] = deque()
        self._seq = 0
        self._floor: list[int] = []
        self._head: list[int] = []
        self._changed = asyncio.Event()

    @property
    def started(self) -> bool:
        return bool(self._head)

    @property
    def last_seq(self) -> int:
        return self._seq

    def __len__(self) -> int:
        return len(self._changes)

    def start(self, positions: Sequence[int]) -> None:
        """Begin at ``positions``: records before them are never buffered."""
        self._floor = list(positions)
        self._head = list(positions)

    def head(self) -> tuple[int, ...]:
        """Return the cursor just after the newest record seen."""
        return tuple(self._head)

    def append(self, slot: int, offset: int, kind: str, event_id: str, data: bytes) -> bool:
        """Buffer a record unless its offset was seen already; evict the oldest when full."""
        if offset < self._head[slot]:
            return False
        self._seq += 1
        if len(self._changes) >= self.capacity:
            evicted = self._changes.popleft()
            self._floor[evicted.slot] = evicted.offset + 1
        self._changes.append(Change(self._seq, slot, offset, kind, event_id, data))
        self._head[slot] = offset + 1
        return True

    def notify(self) -> None:
        """Wake every stream waiting for changes."""
        self._changed.set()
        self._changed = asyncio.Event()

    def close(self) -> None:
        """Tell every stream to finish."""
        self.closed = True
        self.notify()

    def waiter(self) -> asyncio.Event:
        """Return the event the next ``notify`` sets (take it before reading)."""
        return self._changed

    def ahead(self, positions: Sequence[int]) -> bool:
        """Return whether a position is past the newest record this buffer has seen."""
        return len(positions) == len(self._head) and any(
            p > h for p, h in zip(positions, self._head, strict=True))

    def resume(self, positions: Sequence[int]) -> list[Change] | None:
        """Return the held changes at or after ``positions``; None if some were dropped."""
        if len(positions) != len(self._head):
            return None
        if any(p < f for p, f in zip(positions, self._floor, strict=True)):
            return None
        return [c for c in self._changes if c.offset >= positions[c.slot]]

    def after(self, seq: int) -> list[Change] | None:
        """Return the changes newer than ``seq``; None if some of them were evicted."""
        missing = self._seq - seq
        if missing <= 0:
            return []
        if missing > len(self._changes):
            return None
        newest_first = list(itertools.islice(reversed(self._changes), missing))
        newest_first.reverse()
        return newest_first


class Subscription:
    """One client's position in the buffer and its filter."""

    def __init__(self, buffer: ChangeBuffer, event_id: str | None) -> None:
        self.buffer = buffer
        self.event_id = event_id
        self.positions = list(buffer.head())
        self.seq = buffer.last_seq

    @property
    def stream_id(self) -> str:
        return encode_cursor(self.positions)

    def reset(self) -> None:
        """Jump to the newest position (the client refetches state)."""
        self.positions = list(self.buffer.head())
        self.seq = self.buffer.last_seq

    def resume(self, positions: Sequence[int]) -> list[tuple[Change, str]] | None:
        """Continue after ``positions``; None when the buffer cannot replay what came since."""
        held = self.buffer.resume(positions)
        if held is None:
            return None
        self.positions = list(positions)
        self.seq = self.buffer.last_seq
        return self.take(held)

    def pending(self) -> list[tuple[Change, str]] | None:
        """Return what arrived since the last call; None when the client fell behind."""
        changes = self.buffer.after(self.seq)
        if changes is None:
            return None
        self.seq = self.buffer.last_seq
        return self.take(changes)

    def take(self, changes: Sequence[Change]) -> list[tuple[Change, str]]:
        """Advance past ``changes``; return those that pass the filter, with their ids."""
        out = []
        for change in changes:
            if change.offset < self.positions[change.slot]:
                continue  # already delivered, possibly by another worker
            self.positions[change.slot] = change.offset + 1
            if self.event_id is None or change.event_id == self.event_id:
                out.append((change, self.stream_id))
        return out
