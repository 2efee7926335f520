"""Which partitions ``LeanConsumer`` hands to Faust's stream-inactivity check."""

from __future__ import annotations

from typing import Any

from faust.types import TP

from app.faust_seams.drain import LeanConsumer

FEED = TP("feed.v1", 0)
MARKETS = TP("odds-markets-changelog", 0)
EVENTS = TP("events.v1", 3)


class Checked:
    """The attributes of a consumer that ``verify_all_partitions_active`` reads."""

    should_stop = False

    def __init__(self) -> None:
        self.verified: list[TP] = []

    def assignment(self) -> set[TP]:
        return {FEED, MARKETS, EVENTS}

    async def sleep(self, _seconds: float) -> None:
        return None

    def _is_changelog_tp(self, tp: TP) -> bool:
        return tp.topic.endswith("-changelog")

    def verify_event_path(self, _now: float, tp: TP) -> None:
        self.verified.append(tp)


async def test_changelog_partitions_are_not_checked_as_streams() -> None:
    consumer: Any = Checked()
    await LeanConsumer.verify_all_partitions_active(consumer)
    assert sorted(consumer.verified) == [EVENTS, FEED]
