"""The GraphQL schema executed in-process over a hand-filled read model."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from web import graphql
from web.catalog import EventIndex
from web.owner import OwnerUnavailable
from web.replica import REPLICA

MARKET = {"market_id": "1", "specifiers": "", "status": "active", "producer": 1,
          "margin": 0.05, "version": 3, "updated_ts": 1_700_000_000_123, "settlement": None,
          "cancel": None, "outcomes": [
              {"id": "1", "odds": 2.1, "active": True, "probability": None,
               "implied_probability": 0.47619, "american": 110, "fractional": "11/10",
               "direction": "up", "result": None, "void_factor": None,
               "dead_heat_factor": None}]}


def public(event_id: str, start: int, status: str = "not_started") -> dict[str, Any]:
    return {"event_id": event_id, "status": status, "match_status": None,
            "score": {"home": None, "away": None}, "clock": None, "start_time": start,
            "sport": "soccer", "competition": None, "home": "H", "away": "A",
            "market_counts": {"active": 1}, "version": 1, "updated_ts": 1}


@pytest.fixture
def read_model() -> Iterator[None]:
    REPLICA.events = EventIndex()
    for i, status in enumerate(("live", "not_started", "ended")):
        event_id = f"sr:match:{i + 1}"
        REPLICA.events.put(event_id, public(event_id, 2_000_000_000_000 + i, status))
    REPLICA.ready = True
    yield
    REPLICA.events = EventIndex()
    REPLICA.ready = False


@pytest.fixture
def owner(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Mapping[str, str]]]:
    """Answer for the owning worker: event 1 exists with one market, others do not."""
    asked: list[tuple[str, str, Mapping[str, str]]] = []

    async def owned_json(event_id: str, path: str, query: Mapping[str, str],
                         local: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
        asked.append((event_id, path, query))
        if event_id == "sr:match:500":
            raise OwnerUnavailable("partition owner unknown; retry shortly")
        if event_id != "sr:match:1":
            return None
        if "/markets/" in path:
            return {"event_id": event_id, **MARKET} if query.get("specifiers", "") == "" \
                else None
        return {**public(event_id, 1, "live"), "markets": [MARKET]}

    monkeypatch.setattr(graphql, "owned_json", owned_json)
    return asked


async def execute(query: str, **variables: Any) -> Any:
    result = await graphql.schema.execute(query, variable_values=variables or None)
    return result


@pytest.mark.usefixtures("read_model", "owner")
async def test_events_page_and_filters() -> None:
    result = await execute("""{ all: events { total limit offset events { eventId startTime } }
        live: events(filter: {live: true}) { total events { eventId } }
        page: events(limit: 1, offset: 1) { total events { eventId status } } }""")
    assert result.errors is None
    assert result.data["all"] == {"total": 3, "limit": 50, "offset": 0, "events": [
        {"eventId": f"sr:match:{i}", "startTime": 2_000_000_000_000 + i - 1} for i in (1, 2, 3)]}
    assert result.data["live"] == {"total": 1, "events": [{"eventId": "sr:match:1"}]}
    assert result.data["page"]["events"] == [{"eventId": "sr:match:2", "status": "not_started"}]


@pytest.mark.usefixtures("read_model")
async def test_list_markets_come_from_the_owner(
        owner: list[tuple[str, str, Mapping[str, str]]]) -> None:
    result = await execute("{ events(filter: {status: \"live\"}) { events { markets {"
                           " marketId updatedTs outcomes { fractional } } } } }")
    assert result.errors is None
    assert result.data["events"]["events"] == [{"markets": [
        {"marketId": "1", "updatedTs": 1_700_000_000_123, "outcomes": [{"fractional": "11/10"}]}]}]
    assert owner == [("sr:match:1", "/events/sr:match:1", {})]


@pytest.mark.usefixtures("owner")
async def test_event_and_market() -> None:
    result = await execute("""query($id: ID!) { event(id: $id) { eventId status score { home }
          marketCounts markets { marketId version } }
        none: event(id: "sr:match:2") { eventId }
        market(eventId: $id, marketId: "1") { eventId version outcomes { odds } }
        other: market(eventId: $id, marketId: "1", specifiers: "b=2|a=1") { version } }""",
                           id="sr:match:1")
    assert result.errors is None
    assert result.data == {
        "event": {"eventId": "sr:match:1", "status": "live", "score": {"home": None},
                  "marketCounts": {"active": 1}, "markets": [{"marketId": "1", "version": 3}]},
        "none": None,
        "market": {"eventId": "sr:match:1", "version": 3, "outcomes": [{"odds": 2.1}]},
        "other": None}


@pytest.mark.usefixtures("owner")
async def test_market_specifiers_are_canonicalised(
        owner: list[tuple[str, str, Mapping[str, str]]]) -> None:
    await execute('{ market(eventId: "sr:match:1", marketId: "1?2", specifiers: "b=2|a=1")'
                  " { version } }")
    assert owner == [("sr:match:1", "/events/sr:match:1/markets/1%3F2", {"specifiers": "a=1|b=2"})]


@pytest.mark.usefixtures("read_model", "owner")
@pytest.mark.parametrize(("query", "code"), [
    ('{ event(id: "bad id") { eventId } }', "bad_request"),
    ('{ event(id: "sr:match:500") { eventId } }', "not_ready"),
    ('{ events(filter: {sport: "<x>"}) { total } }', "bad_request"),
    ('{ events(limit: 0) { total } }', "bad_request"),
    ('{ market(eventId: "sr:match:1", marketId: "", specifiers: "") { version } }', "bad_request"),
    ('{ market(eventId: "sr:match:1", marketId: "1/2") { version } }', "bad_request"),
])
async def test_errors_carry_a_code(query: str, code: str) -> None:
    result = await execute(query)
    assert result.errors and result.errors[0].extensions == {"code": code}


async def test_events_before_the_read_model_is_ready() -> None:
    result = await execute("{ events { total } }")
    assert result.errors and result.errors[0].extensions == {"code": "not_ready"}


def test_huge_documents_are_refused() -> None:
    huge = "{ " + " ".join(f"a{i}: __typename" for i in range(1000)) + " }"
    result = graphql.schema.execute_sync(huge)
    assert result.errors and "token" in result.errors[0].message.lower()
