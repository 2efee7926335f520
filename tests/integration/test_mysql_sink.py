"""The MySQL sink's writes against the real MariaDB: version guards, dropped outcomes,
awkward strings and batches longer than one statement."""

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
                "version": 1, "ts": 5, "changes": [
                    {"kind": "price", "outcome_id": str(o), "old": None, "new": 1.5 + o}
                    for o in range(10)]} for m in range(2_000)]
    sent = list(statements(INSERT_HISTORY, history_rows(history), escape_string))
    assert len(sent) >= 2
    written = await sink.write(SinkBatch(odds_changes=history))
    assert written == 20_000
    assert await rows(sink, "SELECT COUNT(*), SUM(new_odds) FROM odds_history") == [
        (20_000, 2_000 * sum(1.5 + o for o in range(10)))]
