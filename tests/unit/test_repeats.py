"""Repeats without a write per message: recent digests in memory, applied offsets per batch."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tables import state
from tables.repeats import AppliedOffsets, RecentDigests


def test_recent_digests_keep_the_newest_scopes() -> None:
    recent = RecentDigests(capacity=2)
    recent.update({"e1": {"recent": ",a,"}, "e2": {"recent": ",b,"}})
    recent.update({"e1": {"recent": ",a,c,"}})  # rewritten: the newest now
    recent.update({"e3": {"recent": ",d,"}})
    assert recent.get("e2") is None
    assert recent.get("e1") == {"recent": ",a,c,"} and recent.get("e3") == {"recent": ",d,"}
    recent.clear()
    assert recent.get("e1") is None


class FakeIO:
    """Table values by (table name, partition, key); staged values land on ``apply``."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, int, str], Any] = {}
        self.staged: list[tuple[str, int, str, Any]] = []
        self.reads = 0

    def get(self, table: Any, partition: int, event: Any, key: str) -> Any:
        self.reads += 1
        return self.values.get((table.name, partition, key))

    def stage(self, table: Any, event: Any, key: str, value: Any, sender: Any) -> None:
        self.staged.append((table.name, event.message.partition, key, value))

    def apply(self) -> None:
        for name, partition, key, value in self.staged:
            self.values[(name, partition, key)] = value
        self.staged.clear()


def record(partition: int, offset: int) -> Any:
    return SimpleNamespace(message=SimpleNamespace(partition=partition, offset=offset))


def test_records_at_or_below_the_applied_offset_are_repeats() -> None:
    io = FakeIO()
    io.values[(state.applied.name, 1, "feed")] = {"offset": 7}
    applied = AppliedOffsets(io, "feed")  # type: ignore[arg-type]
    batch = [record(1, 6), record(1, 7), record(1, 8), record(2, 0)]
    assert [(e.message.partition, e.message.offset) for e in applied.fresh(batch)] == [
        (1, 8), (2, 0)]
    assert io.reads == 2  # once per partition


def test_offsets_count_as_applied_only_once_committed() -> None:
    io = FakeIO()
    applied = AppliedOffsets(io, "feed")  # type: ignore[arg-type]
    batch = [record(3, 0), record(3, 1), record(4, 5)]
    applied.stage(applied.fresh(batch), None)
    assert io.staged == [(state.applied.name, 3, "feed", {"offset": 1}),
                         (state.applied.name, 4, "feed", {"offset": 5})]
    # The transaction failed: the batch comes again and is applied again.
    io.staged.clear()
    assert len(applied.fresh(batch)) == 3
    applied.stage(batch, None)
    io.apply()
    applied.committed()
    assert applied.fresh(batch) == []
    # A rebalance: read again from the table (restored from its changelog).
    applied.forget()
    io.values[(state.applied.name, 3, "feed")] = {"offset": 0}
    assert [e.message.offset for e in applied.fresh(batch)] == [1]
