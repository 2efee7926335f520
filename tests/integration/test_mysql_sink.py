"""The MySQL sink's writes against the real MariaDB: version guards, dropped outcomes, one
history row per market version, re-delivered batches, awkward strings and batches longer
than one statement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from pymysql.converters import escape_string

from models.market import Snapshot
from sinks.mysql import INSERT_HISTORY, MySQLSink, SinkBatch, history_rows
from sinks.sql_values import statements
from tests.integration.support import mysql_rows, scratch_database

pytestmark = pytest.mark.timeout(60)

EVENT = "sr:match:1"
AWKWARD = "total=2.5|player=O'Neil \\ \"Zé\"\n"
AWKWARD_ASCII = "O'Neil \\ \"x\"\n\0"


@pytest.fixture
async def sink() -> AsyncIterator[MySQLSink]:
    async with scratch_database("sink") as config:
        written = MySQLSink(config)
        try:
            yield written
        finally:
            await written.close()


async def rows(sink: MySQLSink, sql: str) -> list[tuple[Any, ...]]:
    """Read the sink's database on a connection of its own."""
    return await mysql_rows(sink.config, sql)


def market(version: int, odds: dict[str, float], market_id: str = "18",
           specifiers: str = "total=2.5", name: str | None = "Total 2.5") -> Snapshot:
    """A published market snapshot, as ``markets.v1`` carries it."""
    return {"event_id": EVENT, "market_id": market_id, "specifiers": specifiers,
            "name": name, "status": "active", "producer": 1, "margin": 0.05,
            "settlement": None, "cancels": [], "updated_ts": 1000 + version,
            "version": version,
            "outcomes": [{"id": o, "name": name, "odds": price, "active": True,
                          "probability": None} for o, price in odds.items()]}


def changes(version: int, *prices: tuple[str, float | None, float],
            status: tuple[str | None, str] | None = None) -> Snapshot:
    """An ``odds-changes.v2`` value of market 18."""
    listed = [] if status is None else [
        {"kind": "status", "outcome_id": None, "old": status[0], "new": status[1]}]
    listed += [{"kind": "price", "outcome_id": o, "old": old, "new": new}
               for o, old, new in prices]
    return {"event_id": EVENT, "market_id": "18", "specifiers": "total=2.5", "producer": 1,
            "version": version, "ts": 1000 + version, "changes": listed}


async def outcomes(sink: MySQLSink) -> set[tuple[Any, ...]]:
    return set(await rows(sink, "SELECT market_id, outcome_id, odds, version FROM outcomes"))


async def test_outcomes_a_newer_version_drops_are_deleted_and_old_versions_change_nothing(
        sink: MySQLSink) -> None:
    await sink.write(SinkBatch(markets=[market(1, {"1": 2.0, "2": 3.0, "3": 4.0}),
                                        market(1, {"1": 1.5, "2": 2.5}, market_id="1")]))
    await sink.write(SinkBatch(markets=[market(2, {"1": 2.1, "2": 3.1})]))
    expected = {("18", "1", 2.1, 2), ("18", "2", 3.1, 2),
                ("1", "1", 1.5, 1), ("1", "2", 2.5, 1)}  # the other market keeps its own
    assert await outcomes(sink) == expected
    # Redelivered older versions (at-least-once) neither bring outcome 3 back nor reprice.
    await sink.write(SinkBatch(markets=[market(1, {"1": 2.0, "2": 3.0, "3": 4.0})]))
    assert await outcomes(sink) == expected
    assert await rows(sink, "SELECT market_id, version FROM markets ORDER BY market_id") == [
        ("1", 1), ("18", 2)]


async def test_the_outcomes_view_shows_every_field_of_the_current_outcomes(
        sink: MySQLSink) -> None:
    settled = market(2, {"1": 2.0, "2": 3.0})
    settled["outcomes"][0].update(result="won", void_factor=0.5, dead_heat_factor=0.25,
                                  probability=0.4, active=False)
    await sink.write(SinkBatch(markets=[settled]))
    assert await rows(sink, "SELECT * FROM outcomes ORDER BY outcome_id") == [
        (EVENT, "18", "total=2.5", "1", "Total 2.5", 2.0, 0, 0.4, "won", 0.5, 0.25, 2),
        (EVENT, "18", "total=2.5", "2", "Total 2.5", 3.0, 1, None, None, None, None, 2)]


async def test_each_market_version_is_one_history_row_holding_its_changes(
        sink: MySQLSink) -> None:
    versions = [changes(1, ("1", None, 2.0), ("2", None, 3.0), status=(None, "active")),
                changes(2, ("1", 2.0, 2.1)), changes(3, status=("active", "suspended"))]
    assert await sink.write(SinkBatch(odds_changes=versions)) == 3
    stored = await rows(sink, "SELECT version, producer, ts, changes FROM market_history"
                              " ORDER BY version")
    assert [(v, p, ts, orjson.loads(c)) for v, p, ts, c in stored] == [
        (v["version"], 1, v["ts"], v["changes"]) for v in versions]
    # The price history reads as it did with a row per price.
    assert await rows(sink, "SELECT * FROM odds_history ORDER BY version, outcome_id") == [
        (EVENT, "18", "total=2.5", "1", 1, None, 2.0, 1001),
        (EVENT, "18", "total=2.5", "2", 1, None, 3.0, 1001),
        (EVENT, "18", "total=2.5", "1", 2, 2.0, 2.1, 1002)]


async def contents(sink: MySQLSink) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the sink's tables and views."""
    return {t: await rows(sink, f"SELECT * FROM {t}") for t in (
        "markets", "market_history", "events", "settlements", "outcomes", "odds_history")}


async def test_a_redelivered_batch_writes_nothing_new(sink: MySQLSink) -> None:
    event = {"event_id": EVENT, "status": "live", "match_status": 6,
             "score": {"home": 1, "away": 0}, "clock": "12:00", "start_time": 5,
             "sport": "soccer", "competition": "League", "home": "A", "away": "B",
             "updated_ts": 1002, "version": 2}
    settlement = {"event_id": EVENT, "market_id": "18", "specifiers": "total=2.5",
                  "version": 2, "type": "bet_settlement", "status": "settled", "ts": 1002,
                  "settlement": {"certainty": 2}}
    batch = SinkBatch(markets=[market(1, {"1": 2.0}), market(2, {"1": 2.1, "2": 3.0})],
                      events=[event], settlements=[settlement],
                      odds_changes=[changes(1, ("1", None, 2.0)),
                                    changes(2, ("1", 2.0, 2.1), ("2", None, 3.0))])
    await sink.write(batch)
    before = await contents(sink)
    await sink.write(batch)
    await sink.write(SinkBatch(markets=[market(1, {"1": 2.0})],
                               events=[{**event, "version": 1}],
                               odds_changes=[changes(1, ("1", None, 2.0))]))
    assert await contents(sink) == before
    assert len(before["market_history"]) == 2 and len(before["odds_history"]) == 3


async def test_awkward_strings_round_trip(sink: MySQLSink) -> None:
    await sink.write(SinkBatch(markets=[market(1, {AWKWARD_ASCII: 2.0}, specifiers=AWKWARD,
                                               name=AWKWARD)]))
    assert await rows(sink, "SELECT specifiers, outcome_id, name FROM outcomes") == [
        (AWKWARD, AWKWARD_ASCII, AWKWARD)]
    assert await rows(sink, "SELECT name FROM markets") == [(AWKWARD,)]


async def test_cancel_windows_and_a_named_void_reason_are_stored(sink: MySQLSink) -> None:
    windows = [{"start_time": 10, "end_time": 20, "void_reason": 12, "superceded_by": None,
                "ts": 5},
               {"start_time": None, "end_time": None, "void_reason": "no_result",
                "superceded_by": None, "ts": 6}]
    await sink.write(SinkBatch(markets=[{**market(1, {"1": 2.0}), "status": "cancelled",
                                         "cancels": windows}]))
    ((cancelled, void_reason, stored),) = await rows(
        sink, "SELECT cancelled, void_reason, cancels FROM markets")
    assert (cancelled, void_reason) == (1, "no_result")
    assert orjson.loads(stored) == windows


async def test_a_batch_longer_than_one_statement_is_written_whole(sink: MySQLSink) -> None:
    history = [{"event_id": EVENT, "market_id": str(m), "specifiers": AWKWARD,
                "producer": 1, "version": 1, "ts": 5, "changes": [
                    {"kind": "price", "outcome_id": str(o), "old": None, "new": 1.5 + o}
                    for o in range(10)]} for m in range(2_000)]
    sent = list(statements(INSERT_HISTORY, history_rows(history), escape_string))
    assert len(sent) >= 2
    written = await sink.write(SinkBatch(odds_changes=history))
    assert written == 2_000
    assert await rows(sink, "SELECT COUNT(*) FROM market_history") == [(2_000,)]
    assert await rows(sink, "SELECT COUNT(*), SUM(new_odds) FROM odds_history") == [
        (20_000, 2_000 * sum(1.5 + o for o in range(10)))]
