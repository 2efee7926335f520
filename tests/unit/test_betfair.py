"""Betfair stream adapter: ladder rules, golden files and betfairlightweight as the oracle."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import fastjsonschema
import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError
from betfairlightweight import StreamListener
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.adapters import betfair_adapter, betfair_splitter
from app import topics
from app.faust_app import app
from feeds.betfair import (
    BETFAIR_PRODUCER,
    AdapterError,
    AliveGate,
    apply_market_change,
    is_stale,
    market_changes,
    parse_stream_message,
    to_alive,
    to_canonical,
)
from feeds.betfair_cache import apply_runner_change, outcome_id, update_ladder
from models.feed import decode, load_schema
from models.keys import partition_for
from tables import state as tables

RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "betfair"
RECORDED = RESOURCES / "BASIC-1.132153978"
MARKET_ID = "1.132153978"
def _strict_odds_change_schema() -> dict[str, Any]:
    schema = load_schema("odds_change")
    market = schema["properties"]["markets"]["items"]
    market["additionalProperties"] = False
    market["properties"]["outcomes"]["items"]["additionalProperties"] = False
    return schema


STRICT_ODDS_CHANGE = fastjsonschema.compile(_strict_odds_change_schema())


def check_contract(message: dict[str, Any]) -> None:
    """Assert one adapter output meets the canonical contract and adds no field of its own."""
    assert decode(orjson.dumps(message)) == message
    assert message["event_id"].startswith("bf:event:")
    assert message["producer"] == BETFAIR_PRODUCER
    if message["type"] == "odds_change":
        STRICT_ODDS_CHANGE(message)


def check_alive(message: dict[str, Any]) -> None:
    """Assert an alive meets the contract and comes from the exchange producer."""
    assert decode(orjson.dumps(message)) == message
    assert message["type"] == "alive" and message["producer"] == BETFAIR_PRODUCER


def translate(raw: bytes, states: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one raw record through the adapter, storing states as the table would (orjson)."""
    message = parse_stream_message(raw)
    outputs = []
    for market_id, change in market_changes(message):
        if is_stale(states.get(market_id), change["pt"]):
            continue
        state = apply_market_change(states.get(market_id), change, change["pt"], change["ct"])
        states[market_id] = orjson.loads(orjson.dumps(state))
        assert states[market_id] == state
        outputs.extend(to_canonical(state, change["pt"]))
    return outputs


def resource(name: str) -> bytes:
    return (RESOURCES / name).read_bytes().strip()


def oracle() -> StreamListener:
    listener = StreamListener(max_latency=None, lightweight=True)
    listener.register_stream(0, "marketSubscription")
    return listener


def levels(serialised: list[dict[str, float]]) -> list[list[float]]:
    return [[level["price"], level["size"]] for level in serialised[:3]]


def assert_same_as_oracle(books: list[dict[str, Any]], states: dict[str, Any]) -> None:
    """Compare every market and runner of betfairlightweight's books with the adapter."""
    assert {book["marketId"] for book in books} == set(states)
    for book in books:
        state = states[book["marketId"]]
        assert (state["status"], state["in_play"], state["bet_delay"]) == (
            book["status"], book["inplay"], book["betDelay"])
        assert (state["number_of_winners"], state["tv"]) == (
            book["numberOfWinners"], book["totalMatched"])
        assert [outcome_id(r["selectionId"], r["handicap"]) for r in book["runners"]] == list(
            state["runners"])
        outcomes = {}
        if state["event_id"] is not None:
            outcomes = {o["id"]: o for o in to_canonical(state, state["pt"])[0]["markets"][0][
                "outcomes"]}
        for runner in book["runners"]:
            key = outcome_id(runner["selectionId"], runner["handicap"])
            mine = state["runners"][key]
            assert mine["status"] == runner["status"], key
            assert mine["ltp"] == runner["lastPriceTraded"], key
            assert mine["tv"] == runner["totalMatched"], key
            assert (mine["spn"], mine["spf"]) == (
                runner["sp"]["nearPrice"], runner["sp"]["farPrice"]), key
            assert mine.get("trd", []) == levels_all(runner["ex"]["tradedVolume"]), key
            assert (mine["adjustment_factor"], mine["bsp"], mine["removal_date"]) == (
                runner["adjustmentFactor"], runner["sp"]["actualSP"], runner["removalDate"]), key
            if key in outcomes:
                outcome = outcomes[key]
                assert outcome["back"] == levels(runner["ex"]["availableToBack"]), key
                assert outcome["lay"] == levels(runner["ex"]["availableToLay"]), key
                ltp = runner["lastPriceTraded"]
                assert outcome.get("last_traded") == (ltp if ltp and ltp > 1 else None), key
                assert outcome.get("traded_volume") == runner["totalMatched"], key


def levels_all(serialised: list[dict[str, float]]) -> list[list[float]]:
    return [[level["price"], level["size"]] for level in serialised]


# --- ladders as small pure functions -------------------------------------------------------


def test_size_zero_removes_a_price_level() -> None:
    ladder = [[3.0, 10.0], [2.5, 5.0]]
    assert update_ladder(ladder, [[3.0, 0]], 1, True) == [[2.5, 5.0]]
    assert update_ladder(ladder, [[9.0, 0]], 1, True) == ladder
    assert ladder == [[3.0, 10.0], [2.5, 5.0]]


def test_back_ladder_is_highest_first_and_lay_lowest_first() -> None:
    changes = [[2.5, 1.0], [3.0, 2.0], [2.0, 3.0]]
    assert update_ladder([], changes, 1, True) == [[3.0, 2.0], [2.5, 1.0], [2.0, 3.0]]
    assert update_ladder([], changes, 1, False) == [[2.0, 3.0], [2.5, 1.0], [3.0, 2.0]]
    assert update_ladder([[2.5, 1.0]], [[2.5, 7.0]], 1, False) == [[2.5, 7.0]]


def test_level_ladders_are_keyed_by_level() -> None:
    ladder = update_ladder([], [[1, 2.5, 4.0], [0, 2.6, 1.0]], 2, False)
    assert ladder == [[0, 2.6, 1.0], [1, 2.5, 4.0]]
    assert update_ladder(ladder, [[0, 0, 0], [1, 2.52, 3.0]], 2, False) == [[1, 2.52, 3.0]]


def test_runner_change_sets_scalars_and_empty_trd_clears_traded() -> None:
    runner = {"id": 1, "hc": 0, "status": "ACTIVE", "ltp": None, "tv": 0,
              "spn": None, "spf": None, "trd": [[2.0, 5.0]], "atb": [[2.0, 1.0]]}
    updated = apply_runner_change(runner, {"id": 1, "ltp": 2.1, "tv": 9.5, "trd": [],
                                           "atb": [[2.0, 0]], "spn": 2.2})
    assert (updated["ltp"], updated["tv"], updated["spn"]) == (2.1, 9.5, 2.2)
    assert "trd" not in updated and "atb" not in updated
    assert runner["trd"] == [[2.0, 5.0]] and runner["ltp"] is None


def test_outcome_ids_carry_a_non_zero_handicap() -> None:
    assert outcome_id(123, 0) == "123"
    assert outcome_id(123, 0.0) == "123"
    assert outcome_id(123, -1.5) == "123:-1.5"
    assert outcome_id(123, 2.0) == outcome_id(123, 2) == "123:2"


def market(rc: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"id": "1.5", "rc": rc, **fields}


DEFINITION = {"status": "OPEN", "inPlay": False, "betDelay": 0, "numberOfWinners": 1,
              "eventId": "42", "runners": [{"id": 1, "status": "ACTIVE"},
                                           {"id": 2, "status": "ACTIVE"}]}


def test_img_replaces_the_cache_and_a_delta_does_not() -> None:
    first = apply_market_change(None, market([{"id": 1, "atb": [[2.0, 5.0]]}],
                                             marketDefinition=DEFINITION), 1, None)
    delta = apply_market_change(first, market([{"id": 3, "atb": [[4.0, 1.0]]}]), 2, None)
    assert list(delta["runners"]) == ["1", "2", "3"] and delta["event_id"] == "42"
    image = apply_market_change(delta, market([{"id": 3, "atb": [[5.0, 1.0]]}], img=True),
                                3, None)
    assert list(image["runners"]) == ["3"] and image["event_id"] is None
    assert image["runners"]["3"]["atb"] == [[5.0, 1.0]]
    assert list(delta["runners"]) == ["1", "2", "3"]


def test_sub_image_replaces_and_resub_delta_is_a_delta() -> None:
    state = apply_market_change(None, market([{"id": 1, "atb": [[2.0, 5.0]]}]), 1, None)
    resub = apply_market_change(state, market([{"id": 2, "atl": [[3.0, 1.0]]}]), 2,
                                "RESUB_DELTA")
    assert list(resub["runners"]) == ["1", "2"]
    image = apply_market_change(resub, market([{"id": 2, "atl": [[3.0, 1.0]]}]), 3,
                                "SUB_IMAGE")
    assert list(image["runners"]) == ["2"]


def test_heartbeat_changes_nothing() -> None:
    message = parse_stream_message(resource("streaming_mcm_HEARTBEAT.json"))
    assert message["ct"] == "HEARTBEAT"
    assert market_changes(message) == []


def test_a_heartbeat_is_an_alive() -> None:
    message = parse_stream_message(resource("streaming_mcm_HEARTBEAT.json"))
    alive = to_alive(message)
    check_alive(alive)
    assert alive == {"type": "alive", "producer": BETFAIR_PRODUCER, "ts": message["pt"],
                     "subscribed": True}


def test_status_503_is_unsubscribed_until_a_message_without_it() -> None:
    raws = [b'{"op":"mcm","pt":10,"ct":"HEARTBEAT","status":503}',
            b'{"op":"mcm","pt":11,"mc":[{"id":"1.5","rc":[]}],"status":503}',
            b'{"op":"mcm","pt":12,"mc":[],"status":null}',
            b'{"op":"mcm","pt":13,"status":503}',
            b'{"op":"mcm","pt":14,"ct":"HEARTBEAT"}']
    alives = [to_alive(parse_stream_message(raw)) for raw in raws]
    for alive in alives:
        check_alive(alive)
    assert [(a["ts"], a["subscribed"]) for a in alives] == [
        (10, False), (11, False), (12, True), (13, False), (14, True)]


def test_the_alive_gate_passes_flips_at_once_and_else_one_per_second() -> None:
    gate = AliveGate()
    assert gate.admit(True, 100.0)
    assert not gate.admit(True, 100.5)
    assert not gate.admit(True, 100.999)
    assert gate.admit(True, 101.0)
    assert gate.admit(False, 101.1)
    assert not gate.admit(False, 101.2)
    assert gate.admit(True, 101.3)
    assert not gate.admit(True, 102.2)
    assert gate.admit(True, 102.3)


def test_the_first_alive_passes_whatever_the_clock() -> None:
    assert AliveGate().admit(False, 0.0)
    assert AliveGate().admit(True, -5.0)


@pytest.fixture
def sent() -> Iterator[list[tuple[str, bytes, dict[str, Any]]]]:
    """Capture what the splitter sends instead of producing it."""
    records: list[tuple[str, bytes, dict[str, Any]]] = []

    def fake_send(name: str) -> object:
        async def send(key: bytes, value: bytes, partition: int | None = None) -> object:
            records.append((name, key, orjson.loads(value)))
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return send

    with mock.patch.object(topics.feed, "send", fake_send("feed")), \
            mock.patch.object(topics.raw_betfair_markets, "send", fake_send("markets")), \
            mock.patch.object(topics.dead_letters, "send", fake_send("dlq")):
        yield records
    tables.betfair_markets.data.clear()


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_the_splitter_emits_gated_alives_before_the_changes(
    sent: list[tuple[str, bytes, dict[str, Any]]],
) -> None:
    app.finalize()
    raws = [resource("streaming_mcm_HEARTBEAT.json"),
            b'{"op":"mcm","pt":2,"status":503,"mc":[{"id":"1.5"}]}',
            b'{"op":"mcm","pt":3,"status":"down","mc":[{"id":"1.7"}]}',
            b'{"op":"mcm","pt":4,"mc":[{"id":"1.6"}]}',
            b'{"op":"mcm","pt":5,"ct":"HEARTBEAT"}',
            b'{"op":"mcm","pt":6,"ct":"HEARTBEAT","status":503}']
    clock = mock.Mock(monotonic=mock.Mock(return_value=50.0))
    with mock.patch("agents.adapters.time", clock):
        async with betfair_splitter.test_context() as agent:
            for raw in raws:
                await agent.put(raw, key=b"stream")
            await until(lambda: len(sent) >= len(raws) + 1)
    heartbeat_pt = parse_stream_message(raws[0])["pt"]
    summary = [(name, key, value.get("subscribed", value.get("pt"))) for name, key, value in sent]
    assert summary == [
        ("feed", b"producer:100", True), ("feed", b"producer:100", False),
        ("markets", b"1.5", 2), ("dlq", b"stream", None), ("feed", b"producer:100", True),
        ("markets", b"1.6", 4), ("feed", b"producer:100", False)]
    assert sent[0][2]["ts"] == heartbeat_pt
    for index in (0, 1, 4, 6):
        check_alive(sent[index][2])
    assert "status" in sent[3][2]["reason"]


def test_apply_is_pure_and_the_state_round_trips_through_orjson() -> None:
    states: dict[str, Any] = {}
    translate(resource("streaming_mcm_SUB_IMAGE.json"), states)
    before = orjson.dumps(states["1.126235656"])
    snapshot = copy.deepcopy(states["1.126235656"])
    change = market_changes(parse_stream_message(resource("streaming_mcm_update.json")))[0][1]
    after = apply_market_change(states["1.126235656"], change, change["pt"], None)
    assert orjson.dumps(states["1.126235656"]) == before
    assert states["1.126235656"] == snapshot
    assert orjson.loads(orjson.dumps(after)) == after
    assert after["runners"]["11527192"]["batb"] == [[0, 4.7, 4.33]]


def test_an_older_change_is_stale_and_ignored() -> None:
    state = apply_market_change(None, market([{"id": 1, "ltp": 2.0}]), 100, None)
    assert is_stale(state, 99) and not is_stale(state, 100) and not is_stale(None, 1)
    assert apply_market_change(state, market([{"id": 1, "ltp": 3.0}]), 99, None) is state


def test_market_changes_carry_the_message_envelope() -> None:
    message = parse_stream_message(resource("streaming_mcm_RESUB_DELTA.json"))
    changes = market_changes(message)
    assert len(changes) == 43
    market_id, change = changes[0]
    assert market_id == "1.128076835" == change["id"]
    assert (change["pt"], change["ct"]) == (1478348005395, "RESUB_DELTA")
    # The adapter has no use for the stream's clock: it stays out of the re-keyed records.
    assert message["clk"] == "AAAAAAAA" and "clk" not in change


# --- canonical output -----------------------------------------------------------------------


def test_sub_image_translates_best_back_as_odds() -> None:
    states: dict[str, Any] = {}
    outputs = translate(resource("streaming_mcm_SUB_IMAGE.json"), states)
    assert [o["type"] for o in outputs] == ["odds_change"]
    odds_change = outputs[0]
    check_contract(odds_change)
    assert (odds_change["event_id"], odds_change["producer"], odds_change["ts"]) == (
        "bf:event:27890558", BETFAIR_PRODUCER, 1471370159007)
    market_ = odds_change["markets"][0]
    assert (market_["id"], market_["specifiers"], market_["status"]) == (
        "1.126235656", "", "active")
    assert (market_["in_play"], market_["bet_delay"], market_["number_of_winners"]) == (
        False, 0, 1)
    outcomes = {o["id"]: o for o in market_["outcomes"]}
    assert outcomes["11131804"] == {"id": "11131804", "active": True, "odds": 2.54,
                                    "back": [[2.54, 7.95]], "lay": [[2.72, 8.8]],
                                    "traded_volume": 0}
    assert outcomes["11530194"]["lay"] == [] and outcomes["11530194"]["odds"] == 46


def test_update_moves_one_price() -> None:
    states: dict[str, Any] = {}
    translate(resource("streaming_mcm_SUB_IMAGE.json"), states)
    outputs = translate(resource("streaming_mcm_update.json"), states)
    check_contract(outputs[0])
    outcomes = {o["id"]: o for o in outputs[0]["markets"][0]["outcomes"]}
    assert outcomes["11527192"]["odds"] == 4.7 and outcomes["11527192"]["back"] == [[4.7, 4.33]]
    assert outputs[0]["ts"] == 1471370160471


def test_update_with_definition_suspends_without_prices() -> None:
    outputs = translate(resource("streaming_mcm_UPDATE_md.json"), {})
    check_contract(outputs[0])
    market_ = outputs[0]["markets"][0]
    assert (market_["status"], market_["in_play"], market_["bet_delay"]) == (
        "suspended", True, 5)
    assert [o["id"] for o in market_["outcomes"]] == ["4520808", "7431682"]
    assert all(not o["active"] and "odds" not in o for o in market_["outcomes"])


def test_resub_delta_emits_only_markets_with_a_definition() -> None:
    states: dict[str, Any] = {}
    outputs = translate(resource("streaming_mcm_RESUB_DELTA.json"), states)
    assert [o["markets"][0]["id"] for o in outputs] == ["1.128049357", "1.128049352"]
    for output in outputs:
        check_contract(output)
    assert outputs[1]["markets"][0]["status"] == "suspended"
    assert len(states) == 43
    assert states["1.128076835"]["runners"]["10868956"]["batl"] == [[0, 2.74, 151.65]]
    assert "batl" not in states["1.128076835"]["runners"]["10738672"]


@pytest.mark.parametrize("names", [
    ["streaming_mcm_SUB_IMAGE.json", "streaming_mcm_update.json", "streaming_mcm_HEARTBEAT.json"],
    ["streaming_mcm_UPDATE_md.json"],
    ["streaming_mcm_RESUB_DELTA.json"],
])
def test_single_message_files_match_betfairlightweight(names: list[str]) -> None:
    listener, states = oracle(), dict[str, Any]()
    for name in names:
        translate(resource(name), states)
        listener.on_data(resource(name).decode())
        assert_same_as_oracle(listener.snap(), states)


@pytest.mark.parametrize(("status", "expected"), [
    ("OPEN", "active"), ("SUSPENDED", "suspended"), ("INACTIVE", "deactivated"),
    ("CLOSED", "suspended"), ("SOMETHING_NEW", "suspended")])
def test_market_status_mapping(status: str, expected: str) -> None:
    state = apply_market_change(None, market(
        [{"id": 1, "batb": [[0, 2.0, 1.0]]}], marketDefinition={**DEFINITION, "status": status}),
        1, None)
    outputs = to_canonical(state, 1)
    for output in outputs:
        check_contract(output)
    assert outputs[0]["markets"][0]["status"] == expected
    # A market closed with no winner is void: its runners are still ACTIVE here.
    assert [o["type"] for o in outputs[1:]] == (["bet_cancel"] if status == "CLOSED" else [])


def test_runner_statuses_settle_as_results_and_removed_is_void() -> None:
    definition = {**DEFINITION, "status": "CLOSED", "numberOfWinners": 2, "runners": [
        {"id": 1, "status": "WINNER"}, {"id": 2, "status": "LOSER"},
        {"id": 3, "status": "REMOVED"}, {"id": 4, "status": "PLACED"},
        {"id": 5, "status": "HIDDEN"}, {"id": 6, "status": "REMOVED_VACANT"},
        {"id": 7, "status": "ACTIVE"}]}
    rc = [{"id": 3, "batb": [[0, 5.0, 2.0]]}]
    state = apply_market_change(None, market(rc, marketDefinition=definition), 7, None)
    odds_change, settlement = to_canonical(state, 7)
    for message in (odds_change, settlement):
        check_contract(message)
    assert odds_change["markets"][0]["status"] == "suspended"
    removed = odds_change["markets"][0]["outcomes"][2]
    assert (removed["id"], removed["active"], removed["odds"]) == ("3", False, 5.0)
    assert settlement["certainty"] == 2 and settlement["ts"] == 7
    assert settlement["markets"][0] == {"id": "1.5", "specifiers": "", "outcomes": [
        {"id": "1", "result": "won"}, {"id": "2", "result": "lost"},
        {"id": "3", "result": "void"}, {"id": "4", "result": "won"},
        {"id": "5", "result": "undecided"}, {"id": "6", "result": "void"},
        {"id": "7", "result": "undecided"}]}


def closed(runners: list[dict[str, Any]], **fields: Any) -> list[dict[str, Any]]:
    """Translate a CLOSED market with these definition runners; check every output."""
    definition = {**DEFINITION, "status": "CLOSED", "runners": runners, **fields}
    state = apply_market_change(None, market([], marketDefinition=definition), 7, None)
    outputs = to_canonical(state, 7)
    for output in outputs:
        check_contract(output)
    assert outputs[0]["type"] == "odds_change"
    return outputs


def test_two_winners_of_a_one_winner_market_share_the_win() -> None:
    _, settlement = closed([{"id": 1, "status": "WINNER"}, {"id": 2, "status": "WINNER"},
                            {"id": 3, "status": "LOSER"}])
    assert settlement["markets"][0]["outcomes"] == [
        {"id": "1", "result": "won", "dead_heat_factor": 0.5},
        {"id": "2", "result": "won", "dead_heat_factor": 0.5},
        {"id": "3", "result": "lost"}]


@pytest.mark.parametrize(("places", "statuses", "factor"), [
    (None, ["WINNER", "PLACED"], 0.5),
    (0, ["WINNER", "WINNER", "LOSER"], 0.5),
    (2, ["WINNER", "WINNER", "PLACED"], 2 / 3),
    (2, ["WINNER", "PLACED", "LOSER"], None),
    (1, ["WINNER", "LOSER", "REMOVED"], None),
])
def test_dead_heat_factor_is_places_over_winners(
    places: int | None, statuses: list[str], factor: float | None,
) -> None:
    fields = {"numberOfWinners": places}
    settlement = closed([{"id": i, "status": s} for i, s in enumerate(statuses, 1)], **fields)[1]
    won = [o for o in settlement["markets"][0]["outcomes"] if o["result"] == "won"]
    assert [o.get("dead_heat_factor") for o in won] == [factor] * len(won)


def test_removed_runners_are_void_with_removal_time_and_reduction() -> None:
    _, settlement = closed([
        {"id": 1, "status": "WINNER", "adjustmentFactor": 40.0},
        {"id": 2, "status": "REMOVED", "adjustmentFactor": 12.5,
         "removalDate": "2017-06-14T07:00:50.000Z"},
        {"id": 3, "status": "REMOVED_VACANT", "adjustmentFactor": 0.11},
        {"id": 4, "status": "REMOVED"},
        {"id": 5, "status": "LOSER", "adjustmentFactor": 30.0}])
    assert settlement["markets"][0] == {"id": "1.5", "specifiers": "", "reduction_factor": 12.61,
                                        "outcomes": [
        {"id": "1", "result": "won"},
        {"id": "2", "result": "void", "removal_ts": 1497423650000, "reduction_factor": 12.5},
        {"id": "3", "result": "void", "reduction_factor": 0.11},
        {"id": "4", "result": "void"},
        {"id": "5", "result": "lost"}]}


@pytest.mark.parametrize(("removal_date", "removal_ts"), [
    ("2017-06-14T07:00:50.000Z", 1497423650000),
    ("2017-06-14T07:00:50.123Z", 1497423650123),
    ("2017-06-14T08:00:50+01:00", 1497423650000),
    ("2017-06-14T07:00:50", 1497423650000),
    ("14/06/2017 07:00", None),
    ("", None),
    ("1969-12-31T23:59:59Z", None),
    ("0001-01-01T00:00:00+01:00", None),
    ("9999-12-31T23:59:59Z", None),
])
def test_removal_ts_is_omitted_when_the_date_is_unusable(
    removal_date: str, removal_ts: int | None,
) -> None:
    runners = [{"id": 1, "status": "WINNER"},
               {"id": 2, "status": "REMOVED", "removalDate": removal_date}]
    void = closed(runners)[1]["markets"][0]["outcomes"][1]
    assert void.get("removal_ts") == removal_ts


@pytest.mark.parametrize(("factors", "reduction"), [
    ([0.1, 0.2], 0.3), ([0], 0), ([60, 70], 100), ([None], None), ([None, 5.5], 5.5)])
def test_market_reduction_sums_the_removed_factors(
    factors: list[float | None], reduction: float | None,
) -> None:
    runners = [{"id": 1, "status": "WINNER", "adjustmentFactor": 50}] + [
        {"id": i, "status": "REMOVED", "adjustmentFactor": f} for i, f in enumerate(factors, 2)]
    settlement = closed(runners)[1]
    assert settlement["markets"][0].get("reduction_factor") == reduction


@pytest.mark.parametrize("statuses", [
    ["LOSER", "REMOVED"], ["REMOVED", "REMOVED_VACANT"], ["ACTIVE", "HIDDEN", "LOSER"]])
def test_a_closed_market_nobody_won_is_cancelled(statuses: list[str]) -> None:
    runners = [{"id": i, "status": s, "adjustmentFactor": 10} for i, s in enumerate(statuses, 1)]
    outputs = closed(runners)
    assert outputs[1:] == [{"type": "bet_cancel", "event_id": "bf:event:42",
                            "producer": BETFAIR_PRODUCER, "ts": 7,
                            "markets": [{"id": "1.5", "specifiers": "",
                                         "void_reason": "no_result"}]}]


def test_zero_winners_and_no_trade_are_left_out() -> None:
    definition = {**DEFINITION, "numberOfWinners": 0}
    state = apply_market_change(None, market([{"id": 1, "ltp": 0, "tv": 0}],
                                              marketDefinition=definition), 1, None)
    odds_change = to_canonical(state, 1)[0]
    check_contract(odds_change)
    assert "number_of_winners" not in odds_change["markets"][0]
    assert "last_traded" not in odds_change["markets"][0]["outcomes"][0]


def test_a_market_over_the_outcome_cap_is_an_adapter_error() -> None:
    rc = [{"id": selection, "ltp": 2.0} for selection in range(501)]
    with pytest.raises(AdapterError, match="would have 501 runners, more than 500"):
        apply_market_change(None, market(rc, marketDefinition=DEFINITION), 1, None)


def test_no_definition_no_output() -> None:
    state = apply_market_change(None, market([{"id": 1, "atb": [[2.0, 1.0]]}]), 1, None)
    assert to_canonical(state, 1) == []


def test_handicap_runners_are_separate_outcomes() -> None:
    definition = {**DEFINITION, "runners": [{"id": 1, "hc": -1.5, "status": "ACTIVE"},
                                            {"id": 1, "hc": 1.5, "status": "ACTIVE"}]}
    rc = [{"id": 1, "hc": -1.5, "atb": [[1.9, 3.0]]}, {"id": 1, "hc": 1.5, "atb": [[2.1, 4.0]]}]
    state = apply_market_change(None, market(rc, marketDefinition=definition), 1, None)
    outcomes = to_canonical(state, 1)[0]["markets"][0]["outcomes"]
    assert [(o["id"], o["odds"]) for o in outcomes] == [("1:-1.5", 1.9), ("1:1.5", 2.1)]


@pytest.mark.parametrize(("raw", "reason"), [
    (None, "empty record"),
    (b"{not json", "malformed JSON"),
    (b"[]", "not a JSON object"),
    (b'{"op":"ocm","pt":1}', "is not 'mcm'"),
    (b'{"op":"mcm"}', "pt is not an integer"),
    (b'{"op":"mcm","pt":1,"ct":"RESYNC"}', "unknown change type"),
    (b'{"op":"mcm","pt":1,"mc":{}}', "mc is not a list"),
    (b'{"op":"mcm","pt":1,"mc":[{"id":1}]}', "mc[0].id is not a market id"),
    (b'{"op":"mcm","pt":1,"mc":[{"id":"1.2","rc":[{"id":"7"}]}]}', "rc[0].id"),
    (b'{"op":"mcm","pt":1,"mc":[{"id":"1.2","rc":[{"id":7,"atb":[[2.0]]}]}]}', "atb has"),
    (b'{"op":"mcm","pt":1,"mc":[{"id":"1.2","rc":[{"id":7,"atb":[[2.0,-1]]}]}]}', "below 0"),
    (b'{"op":"mcm","pt":1,"mc":[{"id":"1.2","rc":[{"id":7,"batb":[[0.5,2,1]]}]}]}', "level"),
    (b'{"op":"mcm","pt":1,"mc":[{"id":"1.2","rc":[{"id":7,"atl":[[-2,1]]}]}]}', "price is below"),
    (b'{"op":"mcm","pt":1,"mc":[{"id":"1.2","rc":[{"id":7,"ltp":true}]}]}', "not a number"),
    (b'{"op":"mcm","pt":1,"mc":[{"id":"1.2","marketDefinition":{"eventId":"a b"}}]}',
     "not a plain id"),
    (b'{"op":"mcm","pt":1,"mc":[{"id":"1.2","marketDefinition":{"runners":[{}]}}]}',
     "runners[0].id"),
    (b'{"op":"mcm","pt":1,"mc":[{"id":"1.2","marketDefinition":{"runners":'
     b'[{"id":7,"adjustmentFactor":100.5}]}}]}', "adjustmentFactor is above 100"),
    (b'{"op":"mcm","pt":1,"mc":[{"id":"1.2","marketDefinition":{"runners":'
     b'[{"id":7,"adjustmentFactor":-1}]}}]}', "adjustmentFactor is below 0"),
    (b'{"op":"mcm","pt":1,"status":"503"}', "status '503' is not an integer"),
    (b'{"op":"mcm","pt":1,"status":true}', "status True is not an integer"),
    (b'{"op":"mcm","pt":1,"status":503.0}', "status 503.0 is not an integer"),
    (b'{"op":"mcm","pt":1,"status":{}}', "status {} is not an integer"),
])
def test_malformed_records_raise_adapter_error(raw: bytes | None, reason: str) -> None:
    with pytest.raises(AdapterError) as caught:
        parse_stream_message(raw)
    assert reason in caught.value.reason


# --- bounds: ladders, runners, encoded size, free strings ----------------------------------

LEVEL_LADDERS = ("batb", "batl", "bdatb", "bdatl")
PRICE_LADDERS = ("atb", "atl", "trd")


def distinct_prices(count: int, start: int = 0, size: float = 1.0) -> list[list[float]]:
    """``count`` entries of distinct prices from ``1.01 + start / 100`` up, in steps of 0.01."""
    return [[round(1.01 + (start + i) / 100, 2), size] for i in range(count)]


def price_levels(count: int) -> list[list[float]]:
    return [[level, round(3.0 - level / 100, 2), 1.0] for level in range(count)]


def stream(change: dict[str, Any], **fields: Any) -> bytes:
    """A raw stream message with this one market change."""
    return orjson.dumps({"op": "mcm", "pt": 1, "mc": [{"id": "1.5", **change}], **fields})


@pytest.mark.parametrize("name", PRICE_LADDERS)
def test_a_change_with_more_prices_than_the_tick_ladder_is_malformed(name: str) -> None:
    parse_stream_message(stream({"rc": [{"id": 7, name: distinct_prices(350)}]}))
    with pytest.raises(AdapterError, match=rf"mc\[0\]\.rc\[0\]\.{name} has 351 entries, "
                                           r"more than 350"):
        parse_stream_message(stream({"rc": [{"id": 7, name: distinct_prices(351)}]}))


@pytest.mark.parametrize("name", PRICE_LADDERS)
def test_a_price_ladder_cannot_grow_past_the_tick_ladder(name: str) -> None:
    held = apply_market_change(None, market([{"id": 7, name: distinct_prices(200)}]), 1)
    kept = copy.deepcopy(held)
    grow = market([{"id": 7, name: distinct_prices(151, start=200)}])
    with pytest.raises(AdapterError, match=f"runner 7 {name} would hold 351 entries, "
                                           "more than 350"):
        apply_market_change(held, grow, 2)
    assert held == kept
    # Removals count first: 200 - 50 + 200 is a full ladder, which is allowed.
    removals = [[price, 0] for price, _size in distinct_prices(50)]
    refill = market([{"id": 7, name: removals + distinct_prices(200, start=200)}])
    assert len(apply_market_change(held, refill, 2)["runners"]["7"][name]) == 350


@pytest.mark.parametrize("name", LEVEL_LADDERS)
def test_a_level_ladder_holds_at_most_ten_levels(name: str) -> None:
    parse_stream_message(stream({"rc": [{"id": 7, name: price_levels(10)}]}))
    with pytest.raises(AdapterError, match=f"{name} has 11 entries, more than 10"):
        parse_stream_message(stream({"rc": [{"id": 7, name: price_levels(11)}]}))
    with pytest.raises(AdapterError, match=rf"{name} level is not an integer in \[0, 9\]"):
        parse_stream_message(stream({"rc": [{"id": 7, name: [[10, 2.0, 1.0]]}]}))
    held = apply_market_change(None, market([{"id": 7, name: price_levels(10)}]), 1)
    with pytest.raises(AdapterError, match=f"runner 7 {name} would hold 11 entries"):
        apply_market_change(held, market([{"id": 7, name: [[10, 2.5, 1.0]]}]), 2)


def test_a_market_holds_at_most_500_runners() -> None:
    runners = [{"id": selection, "ltp": 2.0} for selection in range(501)]
    with pytest.raises(AdapterError, match=r"mc\[0\]\.rc has 501 entries, more than 500"):
        parse_stream_message(stream({"rc": runners}))
    definition = {**DEFINITION, "runners": [{"id": selection} for selection in range(501)]}
    with pytest.raises(AdapterError, match=r"marketDefinition\.runners has 501 entries"):
        parse_stream_message(stream({"marketDefinition": definition}))
    held = apply_market_change(None, market(runners[:300], marketDefinition=DEFINITION), 1)
    kept = copy.deepcopy(held)
    with pytest.raises(AdapterError, match=r"market 1\.5 would have 501 runners"):
        apply_market_change(held, market(runners[300:]), 2)
    assert held == kept
    assert len(apply_market_change(held, market(runners[300:500]), 2)["runners"]) == 500


def deep_runners(selections: range) -> list[dict[str, Any]]:
    """Runners with full back and lay ladders: about 11 KB each, encoded."""
    return [{"id": selection, "atb": distinct_prices(350, size=12345.67),
             "atl": distinct_prices(350, start=350, size=12345.67)} for selection in selections]


def test_a_market_that_would_encode_over_512_kib_is_refused() -> None:
    states: dict[str, Any] = {}
    translate(stream({"img": True, "marketDefinition": DEFINITION,
                      "rc": deep_runners(range(40))}), states)
    held = copy.deepcopy(states["1.5"])
    assert 400 * 1024 < len(orjson.dumps(held)) <= 512 * 1024
    with pytest.raises(AdapterError, match=r"market 1.5 would encode to \d+ bytes, "
                                           r"more than 524288"):
        translate(stream({"rc": deep_runners(range(40, 50))}, pt=2), states)
    assert states["1.5"] == held


async def test_the_splitter_refuses_a_change_too_large_to_forward(
    sent: list[tuple[str, bytes, dict[str, Any]]],
) -> None:
    app.finalize()
    big = stream({"img": True, "marketDefinition": DEFINITION, "rc": deep_runners(range(50))})
    assert len(big) > 512 * 1024
    async with betfair_splitter.test_context() as agent:
        await agent.put(big, key=b"stream")
        await agent.put(stream({"rc": []}, pt=2), key=b"stream")
        await until(lambda: any(name == "markets" for name, _key, _value in sent))
    (split,) = market_changes(parse_stream_message(big))
    assert [value["reason"] for name, _key, value in sent if name == "dlq"] == [
        f"betfair: mc[0] encodes to {len(orjson.dumps(split[1]))} bytes, more than 524288"]
    assert [(key, value["pt"]) for name, key, value in sent if name == "markets"] == [(b"1.5", 2)]


def with_definition(**fields: Any) -> bytes:
    return stream({"marketDefinition": {**DEFINITION, **fields}})


@pytest.mark.parametrize(("where", "build"), [
    ("message.clk", lambda text: stream({}, clk=text)),
    ("message.initialClk", lambda text: stream({}, initialClk=text)),
    ("mc[0].marketDefinition.status", lambda text: with_definition(status=text)),
    ("mc[0].marketDefinition.runners[0].status",
     lambda text: with_definition(runners=[{"id": 1, "status": text}])),
    ("mc[0].marketDefinition.runners[0].removalDate",
     lambda text: with_definition(runners=[{"id": 1, "removalDate": text}])),
])
def test_a_string_longer_than_256_characters_is_malformed(
    where: str, build: Callable[[str], bytes],
) -> None:
    parse_stream_message(build("A" * 256))
    with pytest.raises(AdapterError, match=re.escape(f"{where} is longer than 256 characters")):
        parse_stream_message(build("A" * 257))


def test_a_one_mb_clock_is_refused_and_a_real_one_not_copied_to_the_changes() -> None:
    five = [{"id": f"1.{n}"} for n in range(5)]
    huge = orjson.dumps({"op": "mcm", "pt": 1, "clk": "A" * 1_100_000, "mc": five})
    with pytest.raises(AdapterError, match=r"message\.clk is longer than 256 characters"):
        parse_stream_message(huge)
    message = parse_stream_message(orjson.dumps({"op": "mcm", "pt": 1, "clk": "AAAA",
                                                 "initialClk": "BBBB", "mc": five}))
    assert all(set(change) == {"id", "pt", "ct"} for _id, change in market_changes(message))


# --- the re-keyed topic is read as untrusted input ------------------------------------------

REKEYED = {"id": "1.5", "pt": 10, "ct": None, "img": True, "marketDefinition": DEFINITION,
           "rc": [{"id": 1, "atb": [[2.0, 5.0]]}]}


def rekeyed(**fields: Any) -> bytes:
    """A re-keyed change record for market 1.5, a delta after REKEYED unless overridden."""
    return orjson.dumps({**REKEYED, "pt": 20, "img": False, **fields})


def home(key: bytes) -> int:
    return partition_for(key, app.conf.topic_partitions)


def applied(market_id: str) -> dict[str, Any] | None:
    value: dict[str, Any] | None = tables.betfair_markets.get(market_id)
    return value


OVERSIZED = rekeyed(pad="x" * 512 * 1024)
HOSTILE_REKEYED = [
    ("non-UTF-8 key", b"1.\xff5", rekeyed(), r"key b'1.\xff5' is not UTF-8"),
    ("hc not a number", b"1.5", rekeyed(rc=[{"id": 1, "hc": "abc", "atb": [[3.0, 1.0]]}]),
     "change.rc[0].hc is not a number"),
    ("key of another market", b"1.5", rekeyed(id="1.6"),
     "key '1.5' is not the change's market id '1.6'"),
    ("malformed JSON", b"1.5", b'{"id": "1.5", ', "malformed JSON"),
    ("tombstone", b"1.5", None, "empty record"),
    ("no pt", b"1.5", rekeyed(pt=None), "pt is not an integer"),
    ("unknown change type", b"1.5", rekeyed(ct="RESYNC"), "unknown change type 'RESYNC'"),
    ("351 prices", b"1.5", rekeyed(rc=[{"id": 1, "atb": distinct_prices(351)}]),
     "change.rc[0].atb has 351 entries, more than 350"),
    ("11 levels", b"1.5", rekeyed(rc=[{"id": 1, "batb": price_levels(11)}]),
     "change.rc[0].batb has 11 entries, more than 10"),
    ("501 runners", b"1.5", rekeyed(rc=[{"id": n, "ltp": 2.0} for n in range(501)]),
     "change.rc has 501 entries, more than 500"),
    ("over 512 KiB", b"1.5", OVERSIZED, f"record of {len(OVERSIZED)} bytes exceeds 524288"),
    ("long status", b"1.5", rekeyed(marketDefinition={**DEFINITION, "status": "O" * 300}),
     "change.marketDefinition.status is longer than 256 characters"),
]


async def test_hostile_re_keyed_records_are_dead_lettered_and_change_nothing(
    sent: list[tuple[str, bytes, dict[str, Any]]],
) -> None:
    app.finalize()
    wrong_partition = (home(b"1.5") + 1) % app.conf.topic_partitions
    async with betfair_adapter.test_context() as agent:
        await agent.put(orjson.dumps(REKEYED), key=b"1.5", partition=home(b"1.5"))
        await until(lambda: applied("1.5") is not None)
        held = copy.deepcopy(applied("1.5"))
        for _name, key, value, _reason in HOSTILE_REKEYED:
            await agent.put(value, key=key, partition=home(key))
        await agent.put(rekeyed(), key=b"1.5", partition=wrong_partition)
        await agent.put(orjson.dumps({**REKEYED, "id": "1.7"}), key=b"1.7",
                        partition=home(b"1.7"))
        await until(lambda: applied("1.7") is not None)
    reasons = [value["reason"] for name, _key, value in sent if name == "dlq"]
    expected = [reason for *_case, reason in HOSTILE_REKEYED] + [
        f"key belongs to partition {home(b'1.5')}, not {wrong_partition}"]
    assert len(reasons) == len(expected)
    for reason, start in zip(reasons, expected, strict=True):
        assert reason.startswith(f"betfair market: {start}"), (reason, start)
    assert applied("1.5") == held
    published = [value["markets"][0]["id"] for name, _key, value in sent if name == "feed"]
    assert published == ["1.5", "1.7"]


async def test_a_change_that_would_exceed_a_bound_is_dead_lettered_by_the_adapter(
    sent: list[tuple[str, bytes, dict[str, Any]]],
) -> None:
    app.finalize()
    first = orjson.dumps({**REKEYED, "rc": [{"id": 1, "atb": distinct_prices(300)}]})
    async with betfair_adapter.test_context() as agent:
        await agent.put(first, key=b"1.5", partition=home(b"1.5"))
        await until(lambda: applied("1.5") is not None)
        held = copy.deepcopy(applied("1.5"))
        await agent.put(rekeyed(rc=[{"id": 1, "atb": distinct_prices(51, start=300)}]),
                        key=b"1.5", partition=home(b"1.5"))
        await until(lambda: any(name == "dlq" for name, _key, _value in sent))
    assert [value["reason"] for name, _key, value in sent if name == "dlq"] == [
        "betfair market: runner 1 atb would hold 351 entries, more than 350"]
    assert applied("1.5") == held


class FailingDict(dict[Any, Any]):
    """A store that fails its next write, as a full disk would."""

    failures = 1

    def __setitem__(self, key: Any, value: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        super().__setitem__(key, value)


async def test_a_failed_table_write_is_that_records_failure(
    sent: list[tuple[str, bytes, dict[str, Any]]],
) -> None:
    app.finalize()
    store: Any = tables.betfair_markets.data

    def letters() -> list[str]:
        return [value["reason"] for name, _key, value in sent if name == "dlq"]

    async with betfair_adapter.test_context() as agent:
        with mock.patch.object(store, "data", FailingDict(store.data)):
            await agent.put(orjson.dumps(REKEYED), key=b"1.5", partition=home(b"1.5"))
            await until(lambda: len(letters()) == 1)
            assert applied("1.5") is None
        await agent.put(orjson.dumps(REKEYED), key=b"1.5", partition=home(b"1.5"))
        await until(lambda: applied("1.5") is not None)
        held = copy.deepcopy(applied("1.5"))
        with mock.patch.object(store, "data", FailingDict(store.data)):
            await agent.put(rekeyed(rc=[{"id": 1, "atb": [[9.0, 1.0]]}]), key=b"1.5",
                            partition=home(b"1.5"))
            await until(lambda: len(letters()) == 2)
            assert applied("1.5") == held
    assert letters() == ["betfair market: OSError: disk full"] * 2
    assert [value["ts"] for name, _key, value in sent if name == "feed"] == [10]


async def test_a_failed_send_of_the_output_restores_the_cache(
    sent: list[tuple[str, bytes, dict[str, Any]]],
) -> None:
    app.finalize()
    async with betfair_adapter.test_context() as agent:
        await agent.put(orjson.dumps(REKEYED), key=b"1.5", partition=home(b"1.5"))
        await until(lambda: applied("1.5") is not None)
        held = copy.deepcopy(applied("1.5"))
        failing = mock.AsyncMock(side_effect=KafkaTimeoutError())
        with mock.patch.object(topics.feed, "send", failing):
            await agent.put(rekeyed(rc=[{"id": 1, "atb": [[9.0, 1.0]]}]), key=b"1.5",
                            partition=home(b"1.5"))
            await until(lambda: any(name == "dlq" for name, _key, _value in sent))
        assert failing.await_count == 1
        assert applied("1.5") == held
        await agent.put(rekeyed(pt=30), key=b"1.5", partition=home(b"1.5"))
        await until(lambda: applied("1.5")["pt"] == 30)  # type: ignore[index]
    assert [value["reason"] for name, _key, value in sent if name == "dlq"] == [
        "betfair market: KafkaTimeoutError: KafkaTimeoutError"]


# --- the recorded race against betfairlightweight -----------------------------------------


def test_recorded_race_matches_betfairlightweight_after_every_line() -> None:
    lines = RECORDED.read_bytes().splitlines()
    processed = json.loads((RESOURCES / f"{RECORDED.name}-processed.json").read_text())
    assert len(lines) == len(processed) == 480
    listener, states = oracle(), dict[str, Any]()
    outputs: list[dict[str, Any]] = []
    started = time.perf_counter()
    for line, expected in zip(lines, processed, strict=True):
        outputs = translate(line, states)
        listener.on_data(line.decode())
        books = listener.snap()
        assert_same_as_oracle(books, states)
        assert_same_as_oracle([expected], states)
        for message in outputs:
            check_contract(message)
    assert time.perf_counter() - started < 10
    settlement = outputs[-1]
    assert settlement["type"] == "bet_settlement"
    outcomes = {o["id"]: o for o in settlement["markets"][0]["outcomes"]}
    assert outcomes["12115648"] == {"id": "12115648", "result": "won"}
    assert outcomes["10299545"] == {"id": "10299545", "result": "lost"}
    assert outcomes["11198538"] == {"id": "11198538", "result": "void",
                                    "removal_ts": 1497423650000, "reduction_factor": 7.14}
    assert outcomes["9606433"] == {"id": "9606433", "result": "void",
                                   "removal_ts": 1497432223000, "reduction_factor": 5.55}
    assert settlement["markets"][0]["reduction_factor"] == 12.69
    final = outputs[0]["markets"][0]
    assert final["status"] == "suspended" and final["in_play"] is True
    assert all(not o["active"] for o in final["outcomes"])


# --- property tests -----------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PRICES = st.sampled_from([1.01, 1.5, 2, 2.0, 2.02, 3.45, 10, 1000])
SIZES = st.sampled_from([0, 0.0, 1.5, 2, 10.25, 300])
SELECTIONS = st.sampled_from([(11, 0), (12, 0), (13, -1.5), (13, 1.5)])
PRICE_ENTRIES = st.lists(st.tuples(PRICES, SIZES).map(list), max_size=4)
LEVEL_ENTRIES = st.lists(st.tuples(st.integers(0, 3), PRICES | st.just(0), SIZES).map(list),
                         max_size=4)
FACTORS = st.sampled_from([0, 0.11, 5.55, 7.14, 60, 100.0])
RUNNER_STATUSES = st.sampled_from(["ACTIVE", "REMOVED", "REMOVED_VACANT", "WINNER", "LOSER",
                                   "PLACED", "HIDDEN"])


@st.composite
def runner_changes(draw: st.DrawFn) -> dict[str, Any]:
    selection, hc = draw(SELECTIONS)
    change: dict[str, Any] = {"id": selection}
    if hc or draw(st.booleans()):
        change["hc"] = hc
    for name in ("atb", "atl", "trd"):
        if draw(st.booleans()):
            change[name] = draw(PRICE_ENTRIES)
    for name in ("batb", "batl", "bdatb", "bdatl"):
        if draw(st.integers(0, 3)) == 0:
            change[name] = draw(LEVEL_ENTRIES)
    for name in ("ltp", "tv", "spn", "spf"):
        if draw(st.integers(0, 2)) == 0:
            change[name] = draw(PRICES | st.just(0))
    return change


@st.composite
def definitions(draw: st.DrawFn) -> dict[str, Any]:
    runners = []
    for selection, hc in draw(st.lists(SELECTIONS, max_size=4, unique=True)):
        runner: dict[str, Any] = {"id": selection}
        if hc:
            runner["hc"] = hc
        if draw(st.integers(0, 5)):
            runner["status"] = draw(RUNNER_STATUSES)
        for name, values in (("adjustmentFactor", FACTORS), ("bsp", PRICES),
                             ("removalDate", st.just("2017-06-14T07:00:50.000Z"))):
            if draw(st.booleans()):
                runner[name] = draw(values)
        runners.append(runner)
    return {"status": draw(st.sampled_from(["INACTIVE", "OPEN", "SUSPENDED", "CLOSED"])),
            "inPlay": draw(st.booleans()), "betDelay": draw(st.integers(0, 5)),
            "numberOfWinners": draw(st.integers(1, 3)), "eventId": "3001",
            "version": draw(st.integers(1, 10)), "runners": runners}


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    messages, pt = [], 1_000
    for _ in range(draw(st.integers(1, 12))):
        pt += draw(st.integers(0, 50))
        change_type = draw(st.sampled_from([None, None, None, "RESUB_DELTA", "SUB_IMAGE",
                                            "HEARTBEAT"]))
        message: dict[str, Any] = {"op": "mcm", "pt": pt, "clk": str(pt)}
        if draw(st.integers(0, 5)) == 0:
            message["status"] = draw(st.sampled_from([None, 503]))
        if change_type:
            message["ct"] = change_type
        if change_type != "HEARTBEAT":
            message["mc"] = []
            for market_id in draw(st.lists(st.sampled_from(["1.1", "1.2"]), max_size=2)):
                change: dict[str, Any] = {"id": market_id}
                if change_type == "SUB_IMAGE" or draw(st.integers(0, 5)) == 0:
                    change["img"] = True
                if draw(st.integers(0, 2)) == 0:
                    change["marketDefinition"] = draw(definitions())
                if draw(st.integers(0, 3)) == 0:
                    change["tv"] = draw(SIZES)
                change["rc"] = draw(st.lists(runner_changes(), max_size=4))
                message["mc"].append(change)
        messages.append(message)
    return messages


@FUZZ
@given(streams())
def test_random_streams_match_betfairlightweight(messages: list[dict[str, Any]]) -> None:
    listener, states = oracle(), dict[str, Any]()
    for message in messages:
        raw = orjson.dumps(message)
        check_alive(to_alive(parse_stream_message(raw)))
        for output in translate(raw, states):
            check_contract(output)
        listener.on_data(raw.decode())
        assert_same_as_oracle(listener.snap(), states)


def pipeline(raw: bytes) -> None:
    """Translate a record or raise AdapterError; whatever comes out meets the contract."""
    states: dict[str, Any] = {}
    for line in (resource("streaming_mcm_SUB_IMAGE.json"), raw):
        try:
            outputs = translate(line, states)
        except AdapterError as exc:
            assert exc.reason
            continue
        for output in outputs:
            check_contract(output)


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_translate_or_raise_adapter_error(raw: bytes) -> None:
    pipeline(raw)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6,
)
VALID_MESSAGES = [json.loads(resource(name)) for name in (
    "streaming_mcm_SUB_IMAGE.json", "streaming_mcm_update.json", "streaming_mcm_UPDATE_md.json",
    "streaming_mcm_HEARTBEAT.json")] + [json.loads(RECORDED.read_bytes().splitlines()[-1])]


def _containers(node: Any) -> list[Any]:
    found = [node] if isinstance(node, dict | list) and node else []
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        found.extend(_containers(child))
    return found


@FUZZ
@given(st.sampled_from(range(len(VALID_MESSAGES))), st.data())
def test_mutated_messages_translate_or_raise_adapter_error(index: int, data: st.DataObject) -> None:
    message = copy.deepcopy(VALID_MESSAGES[index])
    for _ in range(data.draw(st.integers(1, 4))):
        containers = _containers(message)
        target = data.draw(st.sampled_from(containers))
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        key = data.draw(st.sampled_from(keys))
        if data.draw(st.booleans()):
            target[key] = data.draw(JSON_VALUES)
        elif isinstance(target, dict):
            del target[key]
        else:
            target.pop(key)
    pipeline(orjson.dumps(message))


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(
        node, list) else ()
    found = []
    for key, child in children:
        found.append((*path, key))
        found.extend(_paths(child, (*path, key)))
    return found


@pytest.mark.parametrize("replacement", [None, "x", -1, 1.5, True, [], {}, "DELETE"])
def test_every_field_replaced_or_deleted_translates_or_raises(replacement: Any) -> None:
    for original in VALID_MESSAGES:
        for path in _paths(original):
            message = copy.deepcopy(original)
            parent = message
            for key in path[:-1]:
                parent = parent[key]
            if replacement == "DELETE":
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(replacement)
            pipeline(orjson.dumps(message))
