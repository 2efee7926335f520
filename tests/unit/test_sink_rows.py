"""Rows the MySQL sink writes for outbound values (pure)."""

from __future__ import annotations

import orjson

from models.memory import MemoryState, replay
from sinks.mysql import history_rows, market_rows
from tests.unit.feedmsg import E1, bet_stop, market, market_list_message, odds_change


def test_history_has_one_row_per_version_holding_its_changes() -> None:
    plans = replay(MemoryState(), [odds_change(1, market("1", 2.0, 3.0)),
                                   odds_change(2, market("1", 2.1, 3.0)), bet_stop(3),
                                   odds_change(4, market("1", 2.2, 2.9))], 8, now_ms=0)
    values = [r.value for p in plans for r in p.odds_changes]
    rows = history_rows(values)
    assert [row[:6] for row in rows] == [(E1, "1", "", v, 1, v) for v in (1, 2, 3, 4)]
    assert [orjson.loads(row[6]) for row in rows] == [v["changes"] for v in values]
    assert [[(c["kind"], c["new"]) for c in orjson.loads(row[6])] for row in rows] == [
        [("status", "active"), ("price", 2.0), ("price", 3.0)], [("price", 2.1)],
        [("status", "suspended")], [("status", "active"), ("price", 2.2), ("price", 2.9)]]


def test_market_rows_carry_names_and_every_cancel_window() -> None:
    state = MemoryState()
    replay(state, [odds_change(1, market("1", 2.0, 3.0)),
                   market_list_message("bet_cancel", 2, start_time=10, end_time=20,
                                       market={"void_reason": 12})], 8, now_ms=0)
    snapshot = state.markets[f"{E1}/1/"]
    (row,) = market_rows([snapshot])
    assert row[3] is None  # no description loaded: no name
    assert row[4] == "active" and row[9] == 0  # a window does not cancel the market
    assert orjson.loads(row[10]) == snapshot["cancels"]
    replay(state, [market_list_message("bet_cancel", 3, market={"void_reason": 12})], 8,
           now_ms=0)
    (row,) = market_rows([state.markets[f"{E1}/1/"]])
    assert row[4] == "cancelled" and (row[8], row[9]) == ("12", 1)
    # The outcomes, their null fields (the names: no description) left out.
    assert orjson.loads(row[11]) == [{"id": "1", "odds": 2.0, "active": True},
                                     {"id": "2", "odds": 3.0, "active": True}]


def test_a_record_of_the_earlier_shape_still_writes() -> None:
    legacy = {"event_id": E1, "market_id": "1", "specifiers": "", "status": "cancelled",
              "producer": 1, "margin": None, "settlement": None, "updated_ts": 5,
              "version": 3, "outcomes": [],
              "cancel": {"start_time": None, "end_time": None, "void_reason": 4,
                         "superceded_by": None}}
    (row,) = market_rows([legacy])
    assert (row[8], row[9]) == ("4", 1)
    assert orjson.loads(row[10])[0]["ts"] == 5
