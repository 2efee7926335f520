"""GraphQL's ``Market.history``: its static cost follows its ``limit``, what it reads is
charged per version and outcome, and it answers what ``GET .../history`` answers."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import get_operation_ast, parse
from graphql.execution.values import VariableValues, get_variable_values

from web import graphql, graphql_http
from web.cost import OUTCOMES_PER_MARKET, select, static_cost
from web.graphql import schema
from web.history_shape import HistoryQuery

SCHEMA = schema._schema
MARKET = {"event_id": "sr:match:1", "market_id": "1", "specifiers": "", "status": "active",
          "producer": 1, "margin": 0.05, "version": 9, "updated_ts": 9, "settlement": None,
          "cancels": [], "outcomes": []}


def cost(query: str, **variables: Any) -> int:
    document = parse(query)
    operation = get_operation_ast(document)
    assert operation is not None
    coerced = get_variable_values(SCHEMA, operation.variable_definitions or (), variables)
    assert isinstance(coerced, VariableValues), coerced
    return static_cost(select(SCHEMA, document, operation, coerced, 20_000))


@pytest.mark.parametrize(("query", "expected"), [
    ('{ market(eventId: "sr:match:1", marketId: "1") { history { version } } }', 1 + 1 + 500),
    ('{ market(eventId: "sr:match:1", marketId: "1") { history(limit: 3) { version status } }'
     ' }', 1 + 1 + 3 * 2),
    ('{ market(eventId: "sr:match:1", marketId: "1") { history(limit: 5000) { version } } }',
     1 + 1 + 1000),
    ('{ market(eventId: "sr:match:1", marketId: "1") { history(limit: 2) {'
     ' outcomes { id odds } } } }', 1 + 1 + 2 * (1 + OUTCOMES_PER_MARKET * 2)),
])
def test_static_cost_of_history(query: str, expected: int) -> None:
    assert cost(query) == expected


def test_the_history_limit_can_be_a_variable() -> None:
    query = ('query($n: Int!) { market(eventId: "sr:match:1", marketId: "1") {'
             ' history(limit: $n) { version } } }')
    assert cost(query, n=7) == 1 + 1 + 7


def version(number: int, outcomes: int) -> dict[str, Any]:
    return {"version": number, "status": "active", "updated_ts": 1000 + number, "producer": 1,
            "ts": 1000 + number, "source": "snapshot", "changes": None,
            "outcomes": [{"id": str(k), "odds": 2.0, "active": True} for k in range(outcomes)]}


@pytest.fixture
def stored(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The market held by its owner, and a history read from this list (what the reader
    would return); every window asked for is appended to ``asked``."""
    found: list[Any] = []

    async def owned_json(event_id: str, path: str, query: Any, local: Any) -> Any:
        return dict(MARKET)

    async def read_history(key: Any, query: HistoryQuery) -> Any:
        found.append((key, query))
        versions = found[0]
        return None if versions is None else {"versions": versions}

    monkeypatch.setattr(graphql, "owned_json", owned_json)
    monkeypatch.setattr(graphql, "read_history", read_history)
    return found


async def test_history_is_charged_per_version_and_outcome(stored: list[Any]) -> None:
    stored.append([version(v, 20) for v in range(1, 401)])
    query = ('query($from: Millis) { market(eventId: "sr:match:1", marketId: "1") {'
             ' history(from: $from, limit: 400) { version outcomes { id odds } } } }')
    # Static cost: 2 + 400 x (2 + 10 x 2) = 8,802; read: 400 x (2 + 20 x 2) = 16,800.
    status, body, outcome = await graphql_http.answer(query, {"from": 1001}, None)
    assert (status, outcome) == (200, "ok"), body
    assert len(body["data"]["market"]["history"]) == 400
    assert stored[1] == (("sr:match:1", "1", ""), HistoryQuery(start=1001, limit=400))
    stored[0] = [version(v, 30) for v in range(1, 401)]  # 400 x (2 + 30 x 2) > 20,000
    status, body, outcome = await graphql_http.answer(query, {"from": 1001}, None)
    assert (status, outcome) == (400, "too_costly"), body


async def test_a_market_without_history_has_an_empty_list_and_bad_windows_are_refused(
        stored: list[Any]) -> None:
    stored.append(None)
    status, body, _ = await graphql_http.answer(
        '{ market(eventId: "sr:match:1", marketId: "1") { history { version } } }', None, None)
    assert status == 200 and body["data"]["market"]["history"] == []
    status, body, _ = await graphql_http.answer(
        '{ market(eventId: "sr:match:1", marketId: "1") { history(from: 5, to: 4) { version }'
        ' } }', None, None)
    assert body["errors"][0]["extensions"]["code"] == "bad_request"
    assert "from must not be after to" in body["errors"][0]["message"]
