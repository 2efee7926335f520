"""Rows the MySQL sink writes for outbound values (pure)."""

from __future__ import annotations

from models.memory import MemoryState, replay
from sinks.mysql import history_rows
from tests.unit.feedmsg import E1, bet_stop, market, odds_change


def test_history_has_one_row_per_price_change_of_each_version() -> None:
    plans = replay(MemoryState(), [odds_change(1, market("1", 2.0, 3.0)),
                                   odds_change(2, market("1", 2.1, 3.0)), bet_stop(3),
                                   odds_change(4, market("1", 2.2, 2.9))], 8, now_ms=0)
    values = [r.value for p in plans for r in p.odds_changes]
    assert [v["version"] for v in values] == [1, 2, 3, 4]
    assert history_rows(values) == [
        (E1, "1", "", "1", 1, None, 2.0, 1), (E1, "1", "", "2", 1, None, 3.0, 1),
        (E1, "1", "", "1", 2, 2.0, 2.1, 2),
        (E1, "1", "", "1", 4, 2.1, 2.2, 4), (E1, "1", "", "2", 4, 3.0, 2.9, 4)]
