"""Input validation of the HTTP API (pure)."""

from __future__ import annotations

import pytest

from web import params
from web.params import BadRequest, EventQuery


@pytest.mark.parametrize("good", ["sr:match:1", "sr:simple_tournament:9-a.b_c", "bf:market:1.23"])
def test_event_ids_accepted(good: str) -> None:
    assert params.event_id(good) == good


@pytest.mark.parametrize("bad", ["", "sr:match", "SR:match:1", "sr:match:1 ", "sr:match:1/2",
                                 "sr:match:" + "9" * 100, "sr:ma tch:1", "sr:match:é"])
def test_event_ids_rejected(bad: str) -> None:
    with pytest.raises(BadRequest):
        params.event_id(bad)


def test_market_ids() -> None:
    assert params.market_id("18") == "18"
    assert params.market_id("1.23:x") == "1.23:x"
    for bad in ("", "1" * 65, "a b", "é"):
        with pytest.raises(BadRequest):
            params.market_id(bad)


def test_specifiers_are_canonicalised() -> None:
    assert params.specifiers(None) == ""
    assert params.specifiers("") == ""
    assert params.specifiers("variant=sr:x|total=2.5") == "total=2.5|variant=sr:x"
    for bad in ("total", "=2.5", "a=1|b", "a=1|" * 70):
        with pytest.raises(BadRequest):
            params.specifiers(bad)


def test_event_query_defaults_and_values() -> None:
    assert params.event_query([]) == EventQuery()
    query = params.event_query([("status", "live"), ("sport", "Ice Hockey"), ("live", "false"),
                                ("limit", "200"), ("offset", "7")])
    assert query == EventQuery("live", "Ice Hockey", False, 200, 7)
    assert params.event_query([("live", "true")]).live is True


@pytest.mark.parametrize("pairs", [
    [("status", "bogus")], [("live", "TRUE")], [("limit", "0")], [("limit", "201")],
    [("limit", "+5")], [("limit", "٣")], [("offset", "-1")], [("offset", "1000001")],
    [("offset", "1e3")], [("x", "1")], [("limit", "5"), ("limit", "6")],
    [("sport", "")], [("sport", "<b>")], [("sport", "s" * 101)],
])
def test_event_query_rejects(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(BadRequest):
        params.event_query(pairs)


def test_page() -> None:
    assert params.page(None, None) == (50, 0)
    assert params.page(200, 1_000_000) == (200, 1_000_000)
    for limit, offset in ((0, 0), (201, 0), (1, -1), (1, 1_000_001)):
        with pytest.raises(BadRequest):
            params.page(limit, offset)
