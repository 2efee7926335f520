"""The hand-written odds_change check gives exactly the JSON Schema's verdicts."""

from __future__ import annotations

from typing import Any

import fastjsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from models.fastcheck import Invalid, check_odds_change
from models.feed import load_schema

SCHEMA = fastjsonschema.compile(load_schema("odds_change"))

weird = st.one_of(st.none(), st.booleans(), st.integers(-5, 20_000),
                  st.floats(allow_nan=False, allow_infinity=False, min_value=-1, max_value=2e4),
                  st.text(max_size=5), st.lists(st.integers(0, 3), max_size=3),
                  st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
ids = st.one_of(st.sampled_from(["1", "18", "ok~"]), st.sampled_from(["1", "2"]),
                st.sampled_from(["a b", "", "é", "x" * 70, "x" * 64, "\x7f", "a/b"]), weird)
edges = st.sampled_from([1, 1.0, 1.0000001, 10000, 10000.5, 0, -1, 0.0, 0.5, 2])


def mostly(valid: st.SearchStrategy[Any], *odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid values nine times in ten, so checks deep in a message are reached."""
    return st.integers(0, 9).flatmap(lambda n: valid if n < 9 else st.one_of(*odd))
levels = st.one_of(st.lists(st.lists(st.floats(-1, 5, allow_nan=False), min_size=1,
                                     max_size=3), max_size=4), weird)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.integers(0, 2).flatmap(lambda n: st.just(None) if n == 0 else strategy)


@st.composite
def outcome(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(weird)
    odds = mostly(st.floats(1.01, 50, allow_nan=False), edges,
                  st.floats(-5, 20_000, allow_nan=False), weird)
    fields = {"id": draw(mostly(st.sampled_from(["1", "2", "ok~"]), ids)),
              "odds": draw(maybe(odds)),
        "active": draw(maybe(mostly(st.booleans(), weird))),
        "probability": draw(maybe(mostly(st.floats(0, 1, allow_nan=False), edges, weird))),
        "back": draw(maybe(levels)), "lay": draw(maybe(levels)),
        "last_traded": draw(maybe(mostly(st.floats(1.01, 50, allow_nan=False), edges))),
        "traded_volume": draw(maybe(mostly(st.floats(0, 5, allow_nan=False), edges, weird)))}
    return {k: v for k, v in fields.items() if v is not None or draw(st.integers(0, 9)) == 0}


@st.composite
def market(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(weird)
    specifiers = mostly(st.text(max_size=3), st.just("x" * 255), st.just("x" * 256), weird)
    fields = {"id": draw(mostly(st.sampled_from(["1", "18"]), ids)),
              "specifiers": draw(maybe(specifiers)),
              "status": draw(maybe(mostly(st.sampled_from(["active", "suspended"]),
                                          st.just("open"), weird))),
              "in_play": draw(maybe(mostly(st.booleans(), weird))),
              "bet_delay": draw(maybe(mostly(st.integers(0, 5), st.integers(-2, 0), weird))),
              "number_of_winners": draw(maybe(mostly(st.integers(1, 3), edges, weird))),
              "cashout_status": draw(maybe(mostly(st.sampled_from(["available", "closed"]),
                                                  st.just("open"), weird))),
              "outcomes": draw(mostly(st.lists(outcome(), max_size=3), weird))}
    return {k: v for k, v in fields.items() if v is not None or draw(st.integers(0, 9)) == 0}


@st.composite
def period(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(weird)
    fields = {"number": draw(mostly(st.integers(0, 3), st.just(1001), edges, weird)),
              "type": draw(maybe(mostly(st.sampled_from(["regular_period", "overtime"]),
                                        st.just("x" * 33), weird))),
              "match_status": draw(maybe(mostly(st.integers(0, 100), weird))),
              "home_score": draw(mostly(st.integers(0, 3), edges, weird)),
              "away_score": draw(mostly(st.integers(0, 3), edges, weird))}
    return {k: v for k, v in fields.items() if v is not None or draw(st.integers(0, 9)) == 0}


@st.composite
def message(draw: st.DrawFn) -> dict[str, Any]:
    fields = {
        "type": "odds_change",
        "event_id": draw(mostly(st.sampled_from(["sr:match:1", "bf:event:2"]), st.sampled_from(
            ["x", "A:b:c", "sr:match:" + "9" * 100, "sr:match:1 "]), weird)),
        "producer": draw(mostly(st.integers(0, 1000), st.sampled_from([-1, 1001, True]), weird)),
        "ts": draw(mostly(st.integers(0, 10**12), st.sampled_from([-1, 10**13, 1.5]), weird)),
        "request_id": draw(maybe(mostly(st.integers(0, 5), st.just(-1), weird))),
        "betting_status": draw(maybe(mostly(st.text(max_size=3), weird))),
        "sport_event_status": draw(maybe(mostly(st.fixed_dictionaries({
            "status": st.sampled_from(["live", "ended", "nope"]),
            "match_status": mostly(st.integers(0, 100), weird),
            "home_score": mostly(st.integers(0, 3), edges, st.floats(0, 2e5, allow_nan=False)),
            "clock": mostly(st.text(max_size=3), st.just("9" * 30))},
            optional={"period_scores": mostly(st.lists(period(), max_size=3), weird)}),
            weird))),
        "markets": draw(mostly(st.lists(market(), max_size=3), weird)),
    }
    return {k: v for k, v in fields.items() if v is not None or draw(st.integers(0, 9)) == 0}


def schema_accepts(candidate: dict[str, Any]) -> bool:
    try:
        SCHEMA(candidate)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def fast_accepts(candidate: dict[str, Any]) -> bool:
    try:
        check_odds_change(candidate)
    except Invalid:
        return False
    return True


@settings(max_examples=3000, deadline=None)
@given(message())
def test_same_verdict_as_the_schema(candidate: dict[str, Any]) -> None:
    assert fast_accepts(candidate) == schema_accepts(candidate), candidate


def test_a_valid_message_passes_both() -> None:
    good = {"type": "odds_change", "event_id": "sr:match:1", "producer": 1, "ts": 5,
            "markets": [{"id": "1", "specifiers": "", "status": "active",
                         "outcomes": [{"id": "1", "odds": 2.5, "active": True,
                                       "back": [[2.5, 10.0]], "lay": []}]}]}
    assert fast_accepts(good) and schema_accepts(good)


@settings(max_examples=500, deadline=None)
@given(st.fixed_dictionaries({"id": mostly(st.sampled_from(["1", "2"]), ids),
                              "odds": mostly(st.floats(1.01, 50, allow_nan=False), edges,
                                             weird)},
                             optional={"active": mostly(st.booleans(), weird)}))
def test_the_common_outcome_shapes_get_the_schema_verdict(shape: dict[str, Any]) -> None:
    """{id, odds} and {id, odds, active}, the shapes of nearly every outcome, take a short
    path through the check; the generator above seldom draws exactly these."""
    candidate = {"type": "odds_change", "event_id": "sr:match:1", "producer": 1, "ts": 5,
                 "markets": [{"id": "1", "specifiers": "", "outcomes": [shape]}]}
    assert fast_accepts(candidate) == schema_accepts(candidate), candidate
