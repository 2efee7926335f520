"""The cost of GraphQL documents (``web.cost``) and limits on their shape (``web.doclimits``)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from graphql import get_operation_ast, parse
from graphql.execution.values import VariableValues, get_variable_values

from web import doclimits, graphql, graphql_http
from web.catalog import EventIndex
from web.cost import (
    MARKETS_PER_EVENT,
    OUTCOMES_PER_MARKET,
    Budget,
    OutOfTime,
    Selection,
    TooCostly,
    select,
    static_cost,
)
from web.graphql import schema
from web.replica import REPLICA

SCHEMA = schema._schema
LIMIT = 20_000


def selection(query: str, limit: int = LIMIT, **variables: Any) -> Selection:
    document = parse(query)
    operation = get_operation_ast(document)
    assert operation is not None
    coerced = get_variable_values(SCHEMA, operation.variable_definitions or (), variables)
    assert isinstance(coerced, VariableValues), coerced
    return select(SCHEMA, document, operation, coerced, limit)


def cost(query: str, **variables: Any) -> int:
    return static_cost(selection(query, **variables))


@pytest.mark.parametrize(("query", "expected"), [
    ("{ __typename }", 1),
    ('{ event(id: "sr:match:1") { eventId status } }', 1 + 2),
    # An object field counts once, and so does each field of it.
    ('{ event(id: "sr:match:1") { eventId score { home away } } }', 1 + 2 + 2),
    # Aliases are resolved apart: each counts.
    ('{ a: event(id: "sr:match:1") { eventId } b: event(id: "sr:match:1") { eventId } }', 4),
    # The same response key twice is resolved once.
    ('{ event(id: "sr:match:1") { eventId eventId status } }', 1 + 2),
    # Lists multiply what they hold by their bound.
    ('{ event(id: "sr:match:1") { markets { marketId } } }', 1 + 1 + MARKETS_PER_EVENT),
    ('{ market(eventId: "sr:match:1", marketId: "1") { outcomes { id odds } } }',
     1 + 1 + OUTCOMES_PER_MARKET * 2),
    ('{ event(id: "sr:match:1") { markets { outcomes { id } } } }',
     1 + 1 + MARKETS_PER_EVENT * (1 + OUTCOMES_PER_MARKET)),
    # A page holds as many events as its limit: 50 unless given, 200 at most.
    ("{ events { total events { eventId } } }", 1 + 2 + 50),
    ("{ events(limit: 3) { total events { eventId } } }", 1 + 2 + 3),
    ("{ events(limit: 500) { events { eventId } } }", 1 + 1 + 200),
    ("{ events(limit: 0) { events { eventId } } }", 1 + 1 + 1),
    ("{ events(limit: 2) { events { markets { marketId } } } }",
     1 + 1 + 2 * (1 + MARKETS_PER_EVENT)),
    # Lists of introspection count once.
    ("{ __schema { types { name } } }", 3),
])
def test_static_cost(query: str, expected: int) -> None:
    assert cost(query) == expected


def test_the_page_limit_can_be_a_variable() -> None:
    query = "query($n: Int!) { events(limit: $n) { events { eventId } } }"
    assert cost(query, n=7) == 1 + 1 + 7
    assert cost("query($n: Int! = 9) { events(limit: $n) { events { eventId } } }") == 11


def test_fragments_are_merged_as_the_executor_merges_them() -> None:
    spread = """{ events(limit: 4) { events { ...F ...F eventId ... on Event { status } } } }
                fragment F on Event { eventId home }"""
    # eventId, home, status: eventId from the fragment and the field is one key.
    assert cost(spread) == 1 + 1 + 4 * 3
    nested = """{ event(id: "sr:match:1") { ...M markets { status } } }
                fragment M on Event { markets { marketId } }"""
    assert cost(nested) == 1 + 1 + MARKETS_PER_EVENT * 2


def test_skip_and_include_are_followed() -> None:
    query = """query($skip: Boolean!) { event(id: "sr:match:1") {
                 eventId status @skip(if: $skip) home @include(if: false) } }"""
    assert cost(query, skip=True) == 2
    assert cost(query, skip=False) == 3


def test_fixed_cost_per_object_leaves_lists_out() -> None:
    root = selection('{ event(id: "sr:match:1") { eventId score { home away } '
                     "markets { marketId outcomes { id odds } } } }")
    event = root.child("event")
    assert event is not None and event.fixed == 3 + 2  # eventId, score, markets; home, away
    markets = event.child("markets")
    assert markets is not None and markets.fixed == 2  # marketId, outcomes
    outcomes = markets.child("outcomes")
    assert outcomes is not None and outcomes.fixed == 2


def test_a_document_with_too_many_fields_is_refused_while_it_is_walked() -> None:
    query = "{ " + " ".join(f'a{i}: event(id: "sr:match:1") {{ eventId }}' for i in range(30)) \
        + " }"
    assert cost(query) == 60
    with pytest.raises(TooCostly):
        selection(query, limit=59)


def test_the_budget_is_charged_until_it_is_spent() -> None:
    budget = Budget(10)
    budget.charge(6)
    budget.charge(4)
    assert not budget.exceeded
    budget.check()
    with pytest.raises(TooCostly) as raised:
        budget.charge(1)
    assert budget.exceeded and raised.value.extensions == {"code": "too_costly"}
    with pytest.raises(TooCostly):
        budget.check()


def test_the_budget_runs_out_of_time() -> None:
    budget = Budget(10, deadline=time.monotonic() + 60)
    budget.charge(1)
    budget.deadline = time.monotonic() - 0.001
    assert budget.late and not budget.exceeded
    with pytest.raises(OutOfTime) as raised:
        budget.check()
    assert raised.value.extensions == {"code": "timeout"}


@pytest.mark.parametrize(("query", "words"), [
    ("{ events { events { markets { outcomes { id } } } } }", None),
    ("{ a { b { c { d { e { f { g { h { i } } } } } } } } }", None),
    ("{ a { b { c { d { e { f { g { h { i { j } } } } } } } } } }", "deeper than 8"),
    ("{ events { total " + "total " * 20 + "} }", "more than 20 times"),
    ("{ events { events { " + "markets { marketId } " * 21 + "} } }", "'markets' is selected"),
    # Copies merged from several selections of one key count together.
    ("{ events { events { " + "markets { marketId } " * 5 + "} events { "
     + "markets { marketId } " * 5 + "} } }", None),
    ("{ events { " + ("events { " + "markets { marketId } " * 5 + "} ") * 5 + "} }",
     "'markets' is selected"),
    ("{ events { events { " + " ".join(f"...F{i}" for i in range(21)) + " } } } "
     + " ".join(f"fragment F{i} on Event {{ k{i}: eventId }}" for i in range(21)),
     "fragments are spread"),
    # A fragment spread into one selection twice is walked once.
    ("{ events { events { ...F ...F ...F } } } fragment F on Event { eventId }", None),
    # Cycles end at the depth limit.
    ("{ events { events { ...F } } } fragment F on Event { markets { ...G } } "
     "fragment G on Market { outcomes { id } ...F }", "deeper than 8"),
])
def test_document_limits(query: str, words: str | None) -> None:
    document = parse(query)
    if words is None:
        doclimits.check(document)
        return
    with pytest.raises(doclimits.DocumentTooComplex) as raised:
        doclimits.check(document)
    assert words in str(raised.value)


def test_chained_fragments_are_walked_in_linear_time() -> None:
    """Each fragment spreads the next twice: expanded anew, 2^25 walks."""
    query = "{ events { events { ...F0 } } } " + " ".join(
        f"fragment F{i} on Event {{ eventId ...F{i + 1} ...F{i + 1} }}" for i in range(25)) \
        + " fragment F25 on Event { eventId }"
    document = parse(query)
    started = time.perf_counter()
    with pytest.raises(doclimits.DocumentTooComplex):
        doclimits.check(document)
    operation = get_operation_ast(document)
    assert operation is not None
    coerced = get_variable_values(SCHEMA, (), {})
    assert isinstance(coerced, VariableValues)
    assert static_cost(select(SCHEMA, document, operation, coerced, LIMIT)) == 1 + 1 + 50
    assert time.perf_counter() - started < 1.0


def held_event(markets: int, outcomes: int = 3) -> dict[str, Any]:
    return {"event_id": "sr:match:1", "status": "live", "score": {}, "markets": [
        {"market_id": str(i), "specifiers": "", "status": "active", "producer": 1,
         "margin": 0.05, "version": 1, "updated_ts": 1, "settlement": None, "cancels": [],
         "outcomes": [{"id": str(k), "odds": 2.0, "active": True} for k in range(outcomes)]}
        for i in range(markets)]}


@pytest.fixture
def owner(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """The owning worker of every event, answering from this dict."""
    events: dict[str, dict[str, Any]] = {}

    async def owned_json(event_id: str, path: str, query: Any, local: Any) -> Any:
        return events.get(event_id)

    monkeypatch.setattr(graphql, "owned_json", owned_json)
    return events


async def test_what_is_resolved_is_charged_as_it_is_read(
        owner: dict[str, dict[str, Any]]) -> None:
    owner["sr:match:1"] = held_event(4000)
    whole = '{ event(id: "sr:match:1") { markets { outcomes { id } } } }'
    status, body, outcome = await graphql_http.answer(whole, None, None)
    assert (status, outcome) == (200, "ok") and len(body["data"]["event"]["markets"]) == 4000
    # Twice is more than the budget: stopped, and nothing of it answered.
    twice = '{ a: event(id: "sr:match:1") { markets { outcomes { id } } } ' \
            'b: event(id: "sr:match:1") { markets { outcomes { id } } } }'
    status, body, outcome = await graphql_http.answer(twice, None, None)
    assert (status, outcome) == (400, "too_costly") and set(body) == {"errors"}
    assert "resolved more than 20000" in body["errors"][0]["message"]


async def test_markets_are_charged_before_the_owner_is_asked(
        owner: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    ask = graphql.owned_json

    async def counted(event_id: str, path: str, query: Any, local: Any) -> Any:
        asked.append(event_id)
        return await ask(event_id, path, query, local)

    monkeypatch.setattr(graphql, "owned_json", counted)
    REPLICA.events = EventIndex()
    for i in (1, 2):
        owner[f"sr:match:{i}"] = held_event(12_000, outcomes=0)
        REPLICA.events.put(f"sr:match:{i}", {"event_id": f"sr:match:{i}", "status": "live",
                                             "start_time": i, "market_counts": {"active": 12_000}})
    REPLICA.ready = True
    try:
        query = "{ events(limit: 2) { events { markets { marketId } } } }"
        status, body, outcome = await graphql_http.answer(query, None, None)
        assert (status, outcome) == (400, "too_costly"), body
        # The replica's count of the second event's markets stopped it before it was read.
        assert asked == ["sr:match:1"]
    finally:
        REPLICA.events = EventIndex()
        REPLICA.ready = False


def test_a_mutation_is_costed_from_the_mutation_type() -> None:
    query = ('mutation { checkBets(ticket: {selections: [{eventId: "sr:match:1", marketId: "1",'
             ' outcomeId: "1", odds: 2.0}], stake: 1}) { status potentialReturn'
             " selections { status odds reason } } }")
    root = selection(query)
    assert root.type_name == "Mutation"
    # checkBets, its three fields, and up to 20 selections of three fields each.
    assert static_cost(root) == 1 + 3 + 20 * 3
