"""The UOF XML adapter: golden files, every message type, hostile input and fuzzing."""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.errors import AdapterError
from feeds.safe_xml import MAX_XML_BYTES
from feeds.uof import translate_uof
from models.feed import FEED_TYPES, FeedError, decode

RESOURCES = Path(__file__).parent.parent / "resources" / "uof"
SAMPLES = sorted(RESOURCES.glob("*.xml"))
#: Documents of the provider's API, kept apart: the directory above is replayed as a feed.
API = RESOURCES / "api"
API_SAMPLES = sorted(API.glob("*.xml"))
STATUSES = {"active", "suspended", "deactivated", "handed_over", "settled", "cancelled"}


def translate_one(xml: str | bytes) -> dict[str, Any]:
    raw = xml.encode() if isinstance(xml, str) else xml
    messages = translate_uof(raw)
    assert len(messages) == 1
    check_canonical(messages[0])
    return messages[0]


def reason_of(xml: str | bytes) -> str:
    raw = xml.encode() if isinstance(xml, str) else xml
    with pytest.raises(AdapterError) as info:
        translate_uof(raw)
    return info.value.reason


# --- the canonical contract, as far as it is written down --------------------------------

def _market_key_shape(market: dict[str, Any]) -> None:
    assert isinstance(market["id"], str) and market["id"]
    specifiers = market["specifiers"]
    assert isinstance(specifiers, str)
    names = [pair.partition("=")[0] for pair in specifiers.split("|")] if specifiers else []
    assert names == sorted(names)


def check_canonical(message: dict[str, Any]) -> None:
    """Validate with the JSON Schema of the contract where one exists, and check the shape."""
    assert all(not isinstance(v, float) or math.isfinite(v) for v in _leaves(message))
    kind = message["type"]
    assert isinstance(message["producer"], int) and isinstance(message["ts"], int)
    if kind in ("alive", "snapshot_complete"):
        assert "event_id" not in message
    else:
        assert re.fullmatch(r"[a-z0-9_]+:[a-z0-9_]+:[A-Za-z0-9_.-]+", message["event_id"])
    if kind in FEED_TYPES:
        assert decode(orjson.dumps(message)) == message
    if kind == "odds_change":
        for market in message["markets"]:
            _market_key_shape(market)
            assert market["status"] in STATUSES
    elif kind == "bet_stop":
        groups = message["groups"]
        assert groups == "all" or (isinstance(groups, list) and all(groups))
        assert message.get("market_status", "suspended") in STATUSES
    elif kind == "bet_settlement":
        assert message["certainty"] in (1, 2)
        for market in message["markets"]:
            _market_key_shape(market)
            assert isinstance(market.get("void_reason", 0), int)
            for outcome in market["outcomes"]:
                assert outcome["result"] in ("won", "lost", "undecided")
                assert outcome.get("void_factor", 1.0) in (0.5, 1.0)
                assert isinstance(outcome.get("dead_heat_factor", 1.0), float)
    elif kind in ("bet_cancel", "rollback_bet_cancel", "rollback_bet_settlement"):
        for market in message["markets"]:
            _market_key_shape(market)
            assert set(market) <= {"id", "specifiers", "void_reason"}
        for key in ("start_time", "end_time"):
            assert isinstance(message.get(key, 0), int)
    elif kind == "fixture_change":
        assert message.get("change_type", "new") in (
            "new", "datetime", "cancelled", "format", "coverage")
        assert isinstance(message.get("start_time", 0), int)
    elif kind == "alive":
        assert isinstance(message["subscribed"], bool)
    else:
        assert kind == "snapshot_complete" and isinstance(message["request_id"], int)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


# --- golden files ------------------------------------------------------------------------

def golden(sample: Path) -> Any:
    """Translate a sample as the golden file records it: the messages, or the error."""
    try:
        return translate_uof(sample.read_bytes())
    except AdapterError as exc:
        return {"error": exc.reason}


def regenerate_golden() -> None:
    """Rewrite every expected file from the code; review the diff before committing."""
    for sample in SAMPLES:
        expected = sample.with_name(f"{sample.stem}.expected.json")
        expected.write_text(json.dumps(golden(sample), indent=2) + "\n", "utf-8")


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_golden_files(sample: Path) -> None:
    if os.environ.get("UPDATE_GOLDEN") == "1":
        regenerate_golden()
    expected = json.loads(sample.with_name(f"{sample.stem}.expected.json").read_text("utf-8"))
    assert golden(sample) == expected
    if isinstance(expected, list):
        for message in expected:
            check_canonical(message)


def test_samples_keep_their_licence() -> None:
    assert len(SAMPLES) == 4
    assert "MIT License" in (RESOURCES / "LICENSE").read_text("utf-8")
    assert "MIT License" in (API / "LICENSE").read_text("utf-8")


def test_rollback_bet_cancel_sample_without_product_is_a_dead_letter() -> None:
    # The sample omits ``product``, which UnifiedFeed.xsd requires on every event message.
    raw = (RESOURCES / "rollback_bet_cancel.xml").read_bytes()
    assert reason_of(raw) == "<rollback_bet_cancel> lacks product"
    fixed = translate_one(raw.replace(b'timestamp="1239"', b'timestamp="1239" product="1"'))
    assert fixed == {"type": "rollback_bet_cancel", "event_id": "sr:match:4444", "producer": 1,
                     "ts": 1239, "markets": [{"id": "48", "specifiers": "score=41.5"}]}


# --- odds_change -------------------------------------------------------------------------

def odds_change_xml(markets: str = "", status: str = "", odds_attrs: str = "",
                    attrs: str = "") -> str:
    return (f'<odds_change event_id="sr:match:1" product="1" timestamp="1000" {attrs}>'
            f"{status}<odds {odds_attrs}>{markets}</odds></odds_change>")


@pytest.mark.parametrize(("code", "status"), [
    ('status="1"', "active"), ('status="0"', "deactivated"), ('status="-1"', "suspended"),
    ('status="-2"', "handed_over"), ('status="-3"', "settled"), ('status="-4"', "cancelled"),
    ("", "active"),
])
def test_market_status_codes(code: str, status: str) -> None:
    message = translate_one(odds_change_xml(
        f'<market id="1" {code}><outcome id="1" odds="2.5" active="1"/></market>'))
    assert message["markets"][0]["status"] == status


def test_odds_change_full_translation() -> None:
    message = translate_one(odds_change_xml(
        '<market id="18" specifiers="total=2.5" status="1" favourite="1" cashout_status="1">'
        '<market_metadata next_betstop="1"/>'
        '<outcome id="12" odds="1.85" probabilities="0.52" active="1" team="1"/>'
        '<outcome id="13" odds="1.95" probabilities="NaN" active="0"/>'
        '<outcome id="14" active="0"/>'
        '<outcome id="15" odds="3.0"/>'
        "</market>",
        status='<sport_event_status status="1" match_status="6" home_score="1" away_score="0"'
               ' reporting="1"><clock match_time="12:34" stoppage_time="1:00"/>'
               "<period_scores/></sport_event_status>",
        odds_attrs='betting_status="3" betstop_reason="11"',
        attrs='request_id="77" odds_change_reason="1"'))
    assert message == {
        "type": "odds_change", "event_id": "sr:match:1", "producer": 1, "ts": 1000,
        "request_id": 77, "betting_status": "3", "betstop_reason": "11",
        "sport_event_status": {"status": "live", "match_status": 6, "home_score": 1,
                               "away_score": 0, "clock": "12:34"},
        "markets": [{"id": "18", "specifiers": "total=2.5", "status": "active",
                     "cashout_status": "available", "outcomes": [
            {"id": "12", "odds": 1.85, "active": True, "probability": 0.52},
            {"id": "13", "odds": 1.95, "active": False},
            {"id": "14", "active": False},
            {"id": "15", "odds": 3.0},
        ]}],
    }


@pytest.mark.parametrize(("code", "name"), [
    ("1", "available"), ("-1", "unavailable"), ("-2", "closed")])
def test_cashout_status_codes(code: str, name: str) -> None:
    message = translate_one(odds_change_xml(f'<market id="1" cashout_status="{code}"/>'))
    assert message["markets"][0] == {"id": "1", "specifiers": "", "status": "active",
                                     "cashout_status": name, "outcomes": []}


def test_period_scores_in_document_order() -> None:
    message = translate_one(odds_change_xml(status=(
        '<sport_event_status status="1" match_status="40" home_score="3" away_score="3">'
        "<period_scores>"
        '<period_score type="regular_period" number="2" match_status_code="7"'
        ' home_score="1" away_score="2"/>'
        '<period_score number="1" home_score="2.0" away_score="1"/>'
        '<period_score type="overtime" number="3" match_status_code="40" home_score="0.5"'
        ' away_score="0"/>'
        "</period_scores></sport_event_status>")))
    assert message["sport_event_status"]["period_scores"] == [
        {"number": 2, "type": "regular_period", "match_status": 7, "home_score": 1,
         "away_score": 2},
        {"number": 1, "home_score": 2, "away_score": 1},
        {"number": 3, "type": "overtime", "match_status": 40, "home_score": 0.5,
         "away_score": 0},
    ]


def test_no_period_scores_are_left_out() -> None:
    message = translate_one(odds_change_xml(
        status='<sport_event_status status="0"><period_scores/></sport_event_status>'))
    assert message["sport_event_status"] == {"status": "not_started"}


@pytest.mark.parametrize(("code", "name"), list(enumerate([
    "not_started", "live", "suspended", "ended", "closed", "cancelled", "delayed",
    "interrupted", "postponed", "abandoned"])))
def test_sport_event_status_codes(code: int, name: str) -> None:
    message = translate_one(odds_change_xml(
        status=f'<sport_event_status status="{code}" match_status="0"/>'))
    assert message["sport_event_status"] == {"status": name, "match_status": 0}
    assert message["markets"] == []


def test_odds_change_without_odds_or_status() -> None:
    message = translate_one('<odds_change event_id="sr:stage:9" product="4" timestamp="5"/>')
    assert message == {"type": "odds_change", "event_id": "sr:stage:9", "producer": 4,
                       "ts": 5, "markets": []}


def test_decimal_scores_stay_decimal() -> None:
    # UnifiedFeed.xsd types the scores xs:decimal; a whole number becomes an int.
    message = translate_one(odds_change_xml(
        status='<sport_event_status status="1" match_status="0" home_score="3.0"/>'))
    assert message["sport_event_status"]["home_score"] == 3
    assert isinstance(message["sport_event_status"]["home_score"], int)
    raw = odds_change_xml(status='<sport_event_status status="1" home_score="2.5"/>')
    assert translate_uof(raw.encode())[0]["sport_event_status"]["home_score"] == 2.5


def test_huge_whole_score_stays_a_float() -> None:
    # Found by fuzzing: int(1e20) is beyond the 64 bits orjson can write.
    raw = odds_change_xml(status=f'<sport_event_status status="1" home_score="{"9" * 20}"/>')
    message = translate_uof(raw.encode())[0]
    assert message["sport_event_status"]["home_score"] == 1e20
    orjson.dumps(message)


def test_specifiers_are_canonical_and_extended_specifiers_ignored() -> None:
    message = translate_one(odds_change_xml(
        '<market id="123" specifiers="set=2|game=3|point=1" extended_specifiers="pero=2"/>'
        '<market id="123" specifiers=" point=1|game=3|set=2" extended_specifiers="other=1"/>'))
    keys = [(m["id"], m["specifiers"]) for m in message["markets"]]
    assert keys == [("123", "game=3|point=1|set=2")] * 2


@pytest.mark.parametrize("value", ["NaN", "nan", "INF", "-INF", "Infinity", " NaN "])
def test_non_finite_probability_is_absent(value: str) -> None:
    message = translate_one(odds_change_xml(
        f'<market id="1"><outcome id="1" odds="2" probabilities="{value}" active="1"/></market>'))
    assert "probability" not in message["markets"][0]["outcomes"][0]


# --- the other event messages ------------------------------------------------------------

def test_bet_stop_all() -> None:
    message = translate_one(
        '<bet_stop timestamp="12345" product="3" event_id="sr:match:471123" groups="all"/>')
    assert message == {"type": "bet_stop", "event_id": "sr:match:471123", "producer": 3,
                       "ts": 12345, "groups": "all"}


def test_bet_stop_groups_and_market_status() -> None:
    message = translate_one('<bet_stop timestamp="1" product="1" event_id="sr:match:1"'
                            ' groups="10_min|180s" market_status="0" request_id="9"/>')
    assert message["groups"] == ["10_min", "180s"]
    assert message["market_status"] == "deactivated"
    assert message["request_id"] == 9


def test_bet_settlement_results_and_factors() -> None:
    message = translate_one(
        '<bet_settlement certainty="1" product="1" event_id="sr:match:1" timestamp="9">'
        '<outcomes><market id="1" void_reason="3" result="x">'
        '<outcome id="1" result="-1"/><outcome id="2" result="1" dead_heat_factor="0.25"/>'
        '<outcome id="3" result="0" void_factor="1.0"/></market></outcomes></bet_settlement>')
    assert message == {
        "type": "bet_settlement", "event_id": "sr:match:1", "producer": 1, "ts": 9,
        "certainty": 1,
        "markets": [{"id": "1", "specifiers": "", "void_reason": 3, "outcomes": [
            {"id": "1", "result": "undecided"},
            {"id": "2", "result": "won", "dead_heat_factor": 0.25},
            {"id": "3", "result": "lost", "void_factor": 1.0},
        ]}],
    }


def test_rollback_bet_settlement() -> None:
    message = translate_one(
        '<rollback_bet_settlement event_id="sr:match:299321" timestamp="1236" product="1">'
        '<market id="47" specifiers="total=2.5|hcp=1" extended_specifiers="x=1"/>'
        "</rollback_bet_settlement>")
    assert message == {"type": "rollback_bet_settlement", "event_id": "sr:match:299321",
                       "producer": 1, "ts": 1236,
                       "markets": [{"id": "47", "specifiers": "hcp=1|total=2.5"}]}


def test_bet_cancel_superceded_and_open_window() -> None:
    message = translate_one(
        '<bet_cancel event_id="sr:season:5" product="3" timestamp="2" end_time="100"'
        ' superceded_by="sr:season:6"><market id="534" specifiers="variant=pre:markettext:1"/>'
        "</bet_cancel>")
    assert message == {"type": "bet_cancel", "event_id": "sr:season:5", "producer": 3,
                       "ts": 2, "end_time": 100, "superceded_by": "sr:season:6",
                       "markets": [{"id": "534", "specifiers": "variant=pre:markettext:1"}]}


def test_rollback_bet_cancel_with_window() -> None:
    message = translate_one(
        '<rollback_bet_cancel event_id="sr:match:4" product="1" timestamp="3" start_time="10"'
        ' end_time="20"><market id="48" specifiers="score=41.5" void_reason="12"/>'
        "</rollback_bet_cancel>")
    assert message == {"type": "rollback_bet_cancel", "event_id": "sr:match:4", "producer": 1,
                       "ts": 3, "start_time": 10, "end_time": 20,
                       "markets": [{"id": "48", "specifiers": "score=41.5"}]}


@pytest.mark.parametrize(("code", "name"), [
    ("1", "new"), ("2", "datetime"), ("3", "cancelled"), ("4", "format"), ("5", "coverage")])
def test_fixture_change_types(code: str, name: str) -> None:
    message = translate_one(
        f'<fixture_change event_id="sr:match:1234" product="3" timestamp="1"'
        f' start_time="1511107200000" change_type="{code}" next_live_time="1"/>')
    assert message == {"type": "fixture_change", "event_id": "sr:match:1234", "producer": 3,
                       "ts": 1, "change_type": name, "start_time": 1511107200000}


@pytest.mark.parametrize("change_type", ['change_type="6"', ""])
def test_fixture_change_without_a_contract_change_type(change_type: str) -> None:
    # The XSD makes change_type optional and the SDKs know more codes than the contract's five.
    raw = f'<fixture_change event_id="sr:match:1" product="3" timestamp="1" {change_type}/>'
    assert translate_uof(raw.encode()) == [
        {"type": "fixture_change", "event_id": "sr:match:1", "producer": 3, "ts": 1}]


# --- documents of the provider's API -----------------------------------------------------

def fixture_xml(fixture: str = "", root: str = 'generated_at="2019-08-20T12:35:11+00:00"',
                fixture_attrs: str = 'id="sr:match:1"') -> str:
    return (f'<fixtures_fixture xmlns="http://schemas.sportradar.com/sportsapi/v1/unified" {root}>'
            f"<fixture {fixture_attrs}>{fixture}</fixture></fixtures_fixture>")


def test_fixtures_api_sample_is_one_fixture_change() -> None:
    message = translate_one((API / "fixture-0.xml").read_bytes())
    assert message == {
        "type": "fixture_change", "event_id": "sr:match:18001015", "producer": 0,
        "ts": 1_566_304_511_000,  # generated_at 2019-08-20T12:35:11+00:00
        "start_time": 1_557_342_000_000,  # 2019-05-08T19:00:00+00:00
        "sport": "Soccer", "competition": "UEFA Champions League",
        "home": "Ajax Amsterdam", "away": "Tottenham Hotspur"}


@pytest.mark.parametrize(("open_tag", "close_tag", "prefix"), [
    ("<fixtures_fixture", "</fixtures_fixture>", ""),
    ('<fixtures_fixture xmlns="urn:x"', "</fixtures_fixture>", ""),
    ('<sr:fixtures_fixture xmlns:sr="urn:x"', "</sr:fixtures_fixture>", "sr:"),
])
def test_fixtures_api_with_and_without_a_namespace(open_tag: str, close_tag: str,
                                                   prefix: str) -> None:
    p = prefix
    raw = (f'{open_tag} generated_at="2024-03-01T10:00:00.250+01:00">'
           f'<{p}fixture id="sr:match:7" scheduled="2024-03-02T15:00:00Z">'
           f'<{p}tournament name="Cup"><{p}sport name="Soccer"/></{p}tournament>'
           f"<{p}competitors>"
           f'<{p}competitor qualifier="away" name="B"/><{p}competitor qualifier="home" name="A"/>'
           f"</{p}competitors></{p}fixture>{close_tag}")
    assert translate_one(raw) == {
        "type": "fixture_change", "event_id": "sr:match:7", "producer": 0,
        "ts": 1_709_283_600_250, "start_time": 1_709_391_600_000, "sport": "Soccer",
        "competition": "Cup", "home": "A", "away": "B"}


def test_fixtures_api_with_only_an_id() -> None:
    assert translate_one(fixture_xml()) == {
        "type": "fixture_change", "event_id": "sr:match:1", "producer": 0,
        "ts": 1_566_304_511_000}


def test_fixtures_api_start_time_before_scheduled() -> None:
    message = translate_one(fixture_xml(fixture_attrs=(
        'id="sr:match:1" scheduled="2019-05-08T19:00:00+00:00"'
        ' start_time="2019-05-08T19:30:00+00:00"')))
    assert message["start_time"] == 1_557_343_800_000


@pytest.mark.parametrize(("raw", "reason"), [
    (fixture_xml(root=""), "<fixtures_fixture> lacks generated_at"),
    (fixture_xml(root='generated_at="2019-08-20T12:35:11"'),
     "generated_at='2019-08-20T12:35:11' has no UTC offset"),
    (fixture_xml(root='generated_at="yesterday"'),
     "generated_at='yesterday' is not an ISO-8601 date-time"),
    (fixture_xml(root='generated_at="1969-12-31T23:59:59Z"'), "is out of range"),
    (fixture_xml(fixture_attrs='id="sr:match:1" start_time="2019-13-01T00:00:00Z"'),
     "<fixture> start_time='2019-13-01T00:00:00Z' is not an ISO-8601 date-time"),
    (fixture_xml(fixture_attrs='id="sr:match:1" scheduled="2019-05-08"'),
     "<fixture> scheduled='2019-05-08' has no UTC offset"),
    (fixture_xml(fixture_attrs=""), "<fixture> lacks id"),
    (fixture_xml(fixture_attrs='id="18001015"'), "is not a URN"),
    ('<fixtures_fixture generated_at="2019-08-20T12:35:11Z"/>',
     "<fixtures_fixture> lacks <fixture>"),
    (fixture_xml('<competitors><competitor qualifier="home" name="A"/>'
                 '<competitor qualifier="home" name="B"/></competitors>'),
     "<fixture> has 2 home competitors"),
    (fixture_xml(f'<tournament name="{"x" * 201}"/>'),
     "<tournament> name is longer than 200 characters"),
    (fixture_xml(f'<tournament><sport name="{"x" * 101}"/></tournament>'),
     "<sport> name is longer than 100 characters"),
])
def test_malformed_fixtures_api_documents(raw: str, reason: str) -> None:
    assert reason in reason_of(raw)


# --- producer-level messages -------------------------------------------------------------

@pytest.mark.parametrize(("flag", "subscribed"), [("1", True), ("0", False)])
def test_alive(flag: str, subscribed: bool) -> None:
    message = translate_one(f'<alive product="1" timestamp="1234" subscribed="{flag}"/>')
    assert message == {"type": "alive", "producer": 1, "ts": 1234, "subscribed": subscribed}


def test_snapshot_complete() -> None:
    message = translate_one('<snapshot_complete request_id="1234" timestamp="1234578"'
                            ' product="3"/>')
    assert message == {"type": "snapshot_complete", "producer": 3, "ts": 1234578,
                       "request_id": 1234}


# --- hostile and broken input ------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1 or "") + ";") * 10}">'
              for i in range(1, 10))
    + ']><alive product="1" timestamp="1" subscribed="1">&lol9;</alive>')
XXE = ('<?xml version="1.0"?><!DOCTYPE alive [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       '<alive product="1" timestamp="1" subscribed="1">&xxe;</alive>')
OK_ALIVE = '<alive product="1" timestamp="1" subscribed="1"/>'


@pytest.mark.parametrize(("raw", "reason"), [
    ('<cashout event_id="sr:match:1" product="1" timestamp="1"/>', "unknown UOF message <cashout>"),
    (BILLION_LAUGHS, "DOCTYPE not allowed"),
    (XXE, "DOCTYPE not allowed"),
    ("<!DOCTYPE alive>" + OK_ALIVE, "DOCTYPE not allowed"),
    ('<alive product="1" timestamp="1" subscribed="1">&lol;</alive>', "undefined entity"),
    (b'<alive product="1" timestamp="1" subscribed="1" x="\xff"/>', "invalid UTF-8"),
    (OK_ALIVE.encode("utf-16"), "invalid UTF-8"),
    (OK_ALIVE[:25], "malformed XML"),
    ("<odds_change>", "malformed XML"),
    ("plain text", "malformed XML"),
    (OK_ALIVE + OK_ALIVE, "malformed XML"),
    ("<alive\x00/>", "malformed XML"),
    (b"", "empty record"),
    (b"  \n", "empty record"),
    ("<a>" * 20 + "</a>" * 20, "nested deeper"),
    ('<odds_change product="1" timestamp="1"/>', "<odds_change> lacks event_id"),
    ('<bet_stop event_id="sr:match:1" product="1" timestamp="1"/>', "<bet_stop> lacks groups"),
    ('<odds_change event_id="123" product="1" timestamp="1"/>', "is not a URN"),
    ('<odds_change event_id="sr:match:1" timestamp="1"/>', "<odds_change> lacks product"),
    ('<odds_change event_id="sr:match:1" product="one" timestamp="1"/>', "not an integer"),
    ('<alive product="1" subscribed="1"/>', "<alive> lacks timestamp"),
    ('<alive product="1" timestamp="1"/>', "<alive> lacks subscribed"),
    ('<alive product="1" timestamp="1" subscribed="2"/>', "is not 0 or 1"),
    ('<alive product="1" timestamp="1_000" subscribed="1"/>', "not an integer"),
    ('<snapshot_complete product="1" timestamp="1"/>', "lacks request_id"),
    (odds_change_xml('<market id="1"><outcome id="1" odds="abc"/></market>'),
     "odds='abc' is not a finite number"),
    (odds_change_xml('<market id="1"><outcome id="1" odds="NaN"/></market>'), "not a finite"),
    (odds_change_xml('<market id="1"><outcome id="1" odds="1e999"/></market>'), "not a finite"),
    (odds_change_xml('<market id="1"><outcome id="1" odds="\u0661\u066b\u0665"/></market>'),
     "not a finite"),
    (odds_change_xml('<market id="1"><outcome id="1" probabilities="x"/></market>'),
     "not a finite"),
    (odds_change_xml('<market id="1" status="5"/>'), "status=5 is not a known code"),
    (odds_change_xml('<market id="1" cashout_status="0"/>'),
     "cashout_status=0 is not a known code"),
    (odds_change_xml('<market id="1" cashout_status="yes"/>'), "not an integer"),
    (odds_change_xml(status='<sport_event_status status="1"><period_scores>'
                            '<period_score home_score="1" away_score="0"/></period_scores>'
                            "</sport_event_status>"), "<period_score> lacks number"),
    (odds_change_xml(status='<sport_event_status status="1"><period_scores>'
                            '<period_score number="1" away_score="0"/></period_scores>'
                            "</sport_event_status>"), "<period_score> lacks home_score"),
    (odds_change_xml(status='<sport_event_status status="1"><period_scores>'
                            '<period_score number="1" home_score="1" away_score="x"/>'
                            "</period_scores></sport_event_status>"), "not a finite number"),
    (odds_change_xml('<market id="1" specifiers="total"/>'), "malformed specifier"),
    (odds_change_xml('<market specifiers="total=1"/>'), "<market> lacks id"),
    (odds_change_xml('<market id="1"><outcome odds="2"/></market>'), "<outcome> lacks id"),
    (odds_change_xml(status='<sport_event_status status="10"/>'), "not a known code"),
    (odds_change_xml(status='<sport_event_status match_status="1"/>'), "lacks status"),
    ('<bet_settlement event_id="sr:match:1" product="1" timestamp="1"/>', "lacks certainty"),
    ('<bet_settlement certainty="3" event_id="sr:match:1" product="1" timestamp="1"/>',
     "certainty=3 is not a known code"),
    ('<bet_settlement certainty="1" event_id="sr:match:1" product="1" timestamp="1">'
     '<outcomes><market id="1"><outcome id="1"/></market></outcomes></bet_settlement>',
     "<outcome> lacks result"),
    ('<bet_settlement certainty="1" event_id="sr:match:1" product="1" timestamp="1">'
     '<outcomes><market id="1"><outcome id="1" result="1" void_factor="2"/></market>'
     "</outcomes></bet_settlement>", "is not 0.5 or 1"),
])
def test_bad_input_raises_adapter_error(raw: str | bytes, reason: str) -> None:
    assert reason in reason_of(raw)


def test_entity_bomb_is_rejected_fast() -> None:
    started = time.perf_counter()
    reason_of(BILLION_LAUGHS)
    assert time.perf_counter() - started < 0.1


def test_oversize_record_is_rejected_before_parsing() -> None:
    raw = OK_ALIVE.encode() + b" " * MAX_XML_BYTES
    assert reason_of(raw) == f"record of {len(raw)} bytes exceeds {MAX_XML_BYTES}"
    assert translate_uof(raw[:MAX_XML_BYTES])[0]["type"] == "alive"


def test_many_elements_are_rejected() -> None:
    raw = "<odds_change>" + "<m/>" * 100_001 + "</odds_change>"
    assert reason_of(raw) == "XML has more than 100000 elements"


def test_declared_encoding_is_ignored_utf8_only() -> None:
    raw = '<?xml version="1.0" encoding="ISO-8859-1"?><bet_cancel event_id="sr:match:1"' \
          ' product="1" timestamp="1" superceded_by="é"/>'
    assert translate_one(raw.encode())["superceded_by"] == "é"


# --- fuzzing -----------------------------------------------------------------------------

SEEDS = [sample.read_bytes() for sample in SAMPLES + API_SAMPLES] + [s.encode() for s in (
    '<bet_stop timestamp="1" product="1" event_id="sr:match:1" groups="a|b" market_status="-1"/>',
    OK_ALIVE,
    '<snapshot_complete request_id="1" timestamp="1" product="3"/>',
    '<fixture_change event_id="sr:match:1" product="3" timestamp="1" change_type="2"'
    ' start_time="5"/>',
    '<rollback_bet_settlement event_id="sr:match:1" timestamp="1" product="1">'
    '<market id="47" specifiers="a=1"/></rollback_bet_settlement>',
    odds_change_xml('<market id="1" status="-2"><outcome id="1" odds="2" probabilities="NaN"'
                    ' active="1"/></market>',
                    status='<sport_event_status status="1" match_status="6" home_score="1"'
                           ' away_score="0"><clock match_time="1:00"/></sport_event_status>'),
)]
VALUES = ["", " ", "0", "1", "-1", "-5", "2", "99999999999999999999", "1.5", "-0.0", "NaN",
          "INF", "1e999", "abc", "a=1|b", "=", "|", "all", "sr:match:", "x:y:z", "\u0661", "1_0",
          "&amp;", "&#0;", "&#x1F600;", "<", "\"", "]]>"]
TOKENS = [b"<", b">", b"/>", b"&", b"&lol;", b'"', b"<!DOCTYPE a>", b"\xff", b"\x00", b"\xc3",
          b"<![CDATA[x]]>", b"<?pi x?>", b"<!-- c -->", b"<market id='1'/>", b"<outcome/>",
          b' status="9"', b' odds="x"', b"\xef\xbb\xbf", b"\r\n"]
ATTRIBUTE = re.compile(rb'="([^"]*)"')


@st.composite
def mutated(draw: st.DrawFn, *, well_formed: bool) -> bytes:
    """A seed with attribute values replaced and, unless ``well_formed``, bytes broken."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    operations = ["value"] if well_formed else ["value", "raw", "insert", "delete", "flip", "cut"]
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(operations))
        position = draw(st.integers(0, len(data)))
        if operation in ("value", "raw") and (spans := list(ATTRIBUTE.finditer(bytes(data)))):
            span = draw(st.sampled_from(spans))
            value = draw(st.sampled_from(VALUES) | st.text(max_size=8))
            if operation == "value":
                value = escape(value, {'"': "&quot;"})
            data[span.start(1):span.end(1)] = value.encode("utf-8", "surrogatepass")
        elif operation == "insert":
            data[position:position] = draw(st.sampled_from(TOKENS) | st.binary(max_size=8))
        elif operation == "delete":
            del data[position:position + draw(st.integers(1, 16))]
        elif operation == "flip" and data:
            data[min(position, len(data) - 1)] = draw(st.integers(0, 255))
        elif operation == "cut":
            del data[position:]
    return bytes(data)


def translates_or_dead_letters(raw: bytes) -> None:
    """Either a dead letter (AdapterError, FeedError) or a message that passes the contract."""
    try:
        messages = translate_uof(raw)
    except AdapterError as exc:
        assert exc.reason
        return
    assert len(messages) == 1
    assert all(not isinstance(v, float) or math.isfinite(v) for v in _leaves(messages[0]))
    try:
        decode(orjson.dumps(messages[0]))
    except FeedError as exc:
        assert exc.reason


FUZZ = settings(max_examples=400, deadline=1000, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    translates_or_dead_letters(raw)


@FUZZ
@given(mutated(well_formed=True))
def test_messages_with_mutated_values_never_crash(raw: bytes) -> None:
    translates_or_dead_letters(raw)


@FUZZ
@given(mutated(well_formed=False))
def test_broken_messages_never_crash(raw: bytes) -> None:
    translates_or_dead_letters(raw)
