"""The price history's pure parts: query parameters, the sink's merged rows, folding."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from models.memory import MemoryState, replay
from sinks.mysql import history_rows
from tests.unit.feedmsg import E1, bet_stop, market, odds_change
from web import params
from web.history_shape import (
    CHANGES,
    FOLDED,
    MAX_MS,
    SNAPSHOT,
    HistoryQuery,
    Row,
    State,
    at_query,
    base_state,
    checked,
    history_query,
    needs_base,
    row,
    versions,
)


def published(*messages: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """``odds-changes.v2`` and ``markets.v1`` values the worker publishes, one message per
    batch (so every version has its snapshot)."""
    state, changes, markets = MemoryState(), [], []
    for message in messages:
        for plan in replay(state, [message], 8, now_ms=0):
            changes += [r.value for r in plan.odds_changes]
            markets += [p.state for p in plan.markets.values() if p.publish]
    return changes, markets


def stored(sink_row: tuple[Any, ...]) -> Row:
    """The ``Row`` MySQL gives back for a row the sink wrote."""
    return row(sink_row[3:])


def test_the_sink_merges_each_versions_changes_and_state_into_one_row() -> None:
    changes, markets = published(odds_change(1, market("1", 2.0, 3.0)),
                                 odds_change(2, market("1", 2.1, 3.0)), bet_stop(3))
    rows = history_rows(changes, markets)
    assert [r[:4] for r in rows] == [(E1, "1", "", v) for v in (1, 2, 3)]
    assert [(r[7], orjson.loads(r[8]), r[9]) for r in rows] == [
        ("active", [{"id": "1", "odds": 2.0, "active": True},
                    {"id": "2", "odds": 3.0, "active": True}], 1),
        ("active", [{"id": "1", "odds": 2.1, "active": True},
                    {"id": "2", "odds": 3.0, "active": True}], 2),
        ("suspended", [{"id": "1", "odds": 2.1, "active": True},
                       {"id": "2", "odds": 3.0, "active": True}], 3)]
    assert [orjson.loads(r[6]) for r in rows] == [c["changes"] for c in changes]
    # Either topic alone gives the same key; a repeated snapshot adds nothing.
    assert [r[:7] for r in history_rows(changes)] == [r[:7] for r in rows]
    assert history_rows([], [*markets, *markets])[0][6] is None
    assert len(history_rows(changes, [*markets, *markets])) == 3


def test_a_version_without_changes_has_a_row_of_state_alone() -> None:
    snapshot = {"event_id": E1, "market_id": "1", "specifiers": "", "producer": 3,
                "status": "settled", "updated_ts": 50, "version": 9, "ts": 60,
                "outcomes": [{"id": "1", "odds": 2.0, "active": False, "result": "won"}]}
    ((*key, producer, ts, changed, status, outcomes, updated_ts),) = history_rows([], [snapshot])
    assert (key, producer, ts, changed, status, updated_ts) == (
        [E1, "1", "", 9], 3, 50, None, "settled", 50)
    assert orjson.loads(outcomes) == [{"id": "1", "odds": 2.0, "active": False}]


def test_every_version_has_its_state_when_the_batch_holds_them_all() -> None:
    changes, markets = published(odds_change(1, market("1", 2.0, 3.0)),
                                 odds_change(2, market("1", 2.1, 3.0)))
    shaped = versions([stored(r) for r in history_rows(changes, markets)], None)
    assert [(v["version"], v["source"], v["status"], [o["odds"] for o in v["outcomes"]])
            for v in shaped] == [(1, SNAPSHOT, "active", [2.0, 3.0]),
                                 (2, SNAPSHOT, "active", [2.1, 3.0])]
    assert shaped[1]["changes"] == [{"kind": "price", "outcome_id": "1", "old": 2.0,
                                     "new": 2.1}]


def test_versions_without_state_are_folded_from_the_previous_state() -> None:
    changes, markets = published(odds_change(1, market("1", 2.0, 3.0)),
                                 odds_change(2, market("1", 2.1, 3.0)), bet_stop(3),
                                 odds_change(4, market("1", 2.2, 2.9)))
    # Only version 1's snapshot reached the sink (one per key per worker batch).
    rows = [stored(r) for r in history_rows(changes, markets[:1])]
    shaped = versions(rows, None)
    assert [(v["source"], v["status"], [o["odds"] for o in v["outcomes"]], v["updated_ts"])
            for v in shaped] == [(SNAPSHOT, "active", [2.0, 3.0], 1),
                                 (FOLDED, "active", [2.1, 3.0], 2),
                                 (FOLDED, "suspended", [2.1, 3.0], 3),
                                 (FOLDED, "active", [2.2, 2.9], 4)]
    # Folded or published, a version reads the same.
    full = versions([stored(r) for r in history_rows(changes, markets)], None)
    assert [(v["status"], v["outcomes"]) for v in shaped] == [
        (v["status"], v["outcomes"]) for v in full]
    # A page that starts on a version without state folds from the rows before it.
    assert needs_base(rows[2:]) and not needs_base(rows) and not needs_base([])
    base = base_state(rows[:2])
    assert base == State("active", full[1]["outcomes"], 2)
    assert versions(rows[2:], base) == shaped[2:]


def test_before_any_state_versions_fold_from_the_first_publication() -> None:
    changes, markets = published(odds_change(1, market("1", 2.0, 3.0)), bet_stop(2),
                                 odds_change(3, market("1", 2.5, 3.0)))
    rows = [stored(r) for r in history_rows(changes)]
    assert not needs_base(rows) and needs_base(rows[1:])
    shaped = versions(rows, None)
    assert [(v["source"], v["status"], [o["odds"] for o in v["outcomes"]])
            for v in shaped] == [(FOLDED, "active", [2.0, 3.0]),
                                 (FOLDED, "suspended", [2.0, 3.0]),
                                 (FOLDED, "active", [2.5, 3.0])]
    assert [v["updated_ts"] for v in shaped] == [m["updated_ts"] for m in markets]
    assert base_state(rows[:2]) == State("suspended", shaped[1]["outcomes"], 2)
    # Without the first publication nor a state before them: their changes alone.
    assert base_state(rows[1:]) is None
    assert [(v["source"], v["status"], v["outcomes"]) for v in versions(rows[1:], None)] == [
        (CHANGES, "suspended", None), (CHANGES, "active", None)]


def test_folding_adds_an_outcome_first_priced_later_and_keeps_time_monotonic() -> None:
    base = State("active", [{"id": "1", "odds": 2.0, "active": True}], 100)
    late = Row(2, 1, 90, '[{"kind": "price", "outcome_id": "2", "old": null, "new": 5.0}]',
               None, None, 90)
    (shaped,) = versions([late], base)
    assert shaped["outcomes"] == [{"id": "1", "odds": 2.0, "active": True},
                                  {"id": "2", "odds": 5.0, "active": None}]
    assert shaped["updated_ts"] == 100 and shaped["ts"] == 90
    assert base.outcomes == [{"id": "1", "odds": 2.0, "active": True}]  # not modified


def test_history_query_defaults_and_bounds() -> None:
    assert history_query([]) == HistoryQuery("", 0, MAX_MS, 500, 0)
    assert history_query([("specifiers", "b=2|a=1"), ("from", "1700000000000"),
                          ("to", "1700000001000"), ("limit", "1000"), ("after", "7")]) == \
        HistoryQuery("a=1|b=2", 1700000000000, 1700000001000, 1000, 7)
    assert at_query([("ts", "5"), ("specifiers", "total=2.5")]) == ("total=2.5", 5)
    assert checked(None, None, None) == HistoryQuery()


@pytest.mark.parametrize(("pairs", "words"), [
    ([("limit", "0")], "limit must be an integer from 1 to 1000"),
    ([("limit", "1001")], "limit must be an integer from 1 to 1000"),
    ([("from", "-1")], "from must be an integer"),
    ([("to", "1e3")], "to must be an integer"),
    ([("from", "5"), ("to", "4")], "from must not be after to"),
    ([("from", "1"), ("from", "2")], "given more than once"),
    ([("ts", "1")], "unknown parameter 'ts'"),
    ([("specifiers", "x")], "specifiers"),
])
def test_bad_history_queries(pairs: list[tuple[str, str]], words: str) -> None:
    with pytest.raises(params.BadRequest, match=words):
        history_query(pairs)


@pytest.mark.parametrize(("pairs", "words"), [
    ([], "'ts' is required"),
    ([("ts", "x")], "ts must be an integer"),
    ([("ts", "1"), ("ts", "2")], "given more than once"),
    ([("ts", "1"), ("from", "2")], "unknown parameter 'from'"),
])
def test_bad_at_queries(pairs: list[tuple[str, str]], words: str) -> None:
    with pytest.raises(params.BadRequest, match=words):
        at_query(pairs)


def test_graphql_windows_are_checked_as_the_query_string_is() -> None:
    with pytest.raises(params.BadRequest, match="limit"):
        checked(None, None, 0)
    with pytest.raises(params.BadRequest, match="from must not be after to"):
        checked(10, 9, None)


def test_raw_versions_encode_as_the_decoded_ones() -> None:
    changes, markets = published(odds_change(1, market("1", 2.0, 3.0)),
                                 odds_change(2, market("1", 2.1, 3.0)), bet_stop(3))
    rows = [stored(r) for r in history_rows(changes, markets[:2])]
    assert orjson.dumps(versions(rows, None, raw=True)) == orjson.dumps(versions(rows, None))
