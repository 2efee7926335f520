"""The change buffer and subscriptions behind GET /stream (pure)."""

from __future__ import annotations

import pytest

from web.changes import ChangeBuffer, Subscription, decode_cursor, encode_cursor
from web.params import BadRequest


def buffer(capacity: int = 100, slots: int = 2) -> ChangeBuffer:
    changes = ChangeBuffer(capacity)
    changes.start([10] * slots)
    return changes


def add(changes: ChangeBuffer, slot: int, offset: int, event_id: str = "sr:match:1") -> None:
    changes.append(slot, offset, "price", event_id, b'{"o": %d}' % offset)


def test_cursor_round_trip() -> None:
    assert encode_cursor([0, 12, 7]) == "0.12.7"
    assert decode_cursor("0.12.7") == (0, 12, 7)
    for bad in ("", "1..2", "1.a", "-1.2", "1.2 ", "1" * 2001):
        with pytest.raises(BadRequest):
            decode_cursor(bad)


def test_head_skips_offsets_already_seen() -> None:
    changes = buffer()
    assert not changes.append(0, 9, "price", "sr:match:1", b"{}")  # before the start
    add(changes, 0, 10)
    add(changes, 1, 15)
    assert not changes.append(0, 10, "price", "sr:match:1", b"{}")  # a re-read
    assert changes.head() == (11, 16) and len(changes) == 2 and changes.last_seq == 2


def test_resume_replays_what_the_client_has_not_seen() -> None:
    changes = buffer()
    for offset in range(10, 15):
        add(changes, 0, offset)
        add(changes, 1, offset)
    held = changes.resume([13, 11])
    assert held is not None
    assert [(c.slot, c.offset) for c in held] == [(1, 11), (1, 12), (0, 13), (1, 13), (0, 14),
                                                  (1, 14)]
    assert changes.resume([15, 15]) == []
    assert changes.resume([9, 10]) is None  # before the start: never held
    assert changes.resume([10]) is None  # another deployment's shape


def test_ahead_means_past_the_newest_record_seen() -> None:
    changes = buffer()
    add(changes, 0, 10)
    assert not changes.ahead([11, 10]) and not changes.ahead([5, 10])
    assert changes.ahead([11, 11]) and changes.ahead([12, 10])
    assert not changes.ahead([99])  # another deployment's shape: not comparable


def test_eviction_raises_the_floor() -> None:
    changes = buffer(capacity=3)
    for offset in range(10, 14):
        add(changes, 0, offset)
    assert len(changes) == 3
    assert changes.resume([10, 10]) is None  # offset 10 was evicted
    held = changes.resume([11, 10])
    assert held is not None and [c.offset for c in held] == [11, 12, 13]


def test_after_and_falling_behind() -> None:
    changes = buffer(capacity=3)
    add(changes, 0, 10)
    assert [c.offset for c in changes.after(0) or []] == [10]
    assert changes.after(1) == []
    for offset in range(11, 14):
        add(changes, 0, offset)
    assert changes.after(0) is None  # seq 1 was evicted before the reader saw it
    assert [c.offset for c in changes.after(1) or []] == [11, 12, 13]


def test_subscription_filters_but_advances_past_everything() -> None:
    changes = buffer()
    subscription = Subscription(changes, "sr:match:2")
    add(changes, 0, 10, "sr:match:1")
    add(changes, 1, 10, "sr:match:2")
    add(changes, 0, 11, "sr:match:1")
    delivered = subscription.pending()
    assert delivered is not None
    assert [(c.slot, c.offset, stream_id) for c, stream_id in delivered] == [(1, 10, "11.11")]
    assert subscription.stream_id == "12.11"  # skipped changes count as seen
    assert subscription.pending() == []


def test_subscription_ahead_of_this_worker_skips_what_it_saw_elsewhere() -> None:
    changes = buffer()
    subscription = Subscription(changes, None)
    assert subscription.resume([12, 10]) == []
    add(changes, 0, 10)
    add(changes, 0, 11)
    add(changes, 0, 12)
    delivered = subscription.pending()
    assert delivered is not None and [(c.offset, i) for c, i in delivered] == [(12, "13.10")]


def test_subscription_reset_jumps_to_the_head() -> None:
    changes = buffer(capacity=2)
    subscription = Subscription(changes, None)
    for offset in range(10, 14):
        add(changes, 1, offset)
    assert subscription.pending() is None
    subscription.reset()
    assert subscription.stream_id == "10.14" and subscription.pending() == []


async def test_waiter_is_set_by_notify_and_close() -> None:
    changes = buffer()
    waiter = changes.waiter()
    changes.notify()
    assert waiter.is_set() and not changes.waiter().is_set()
    waiter = changes.waiter()
    changes.close()
    assert waiter.is_set() and changes.closed
