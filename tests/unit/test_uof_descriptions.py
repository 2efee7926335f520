"""UOF market descriptions: markets.xml, variant markets and variants.xml into records."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeds.errors import AdapterError
from feeds.uof_descriptions import (
    MAX_DESCRIPTIONS_BYTES,
    MAX_OUTCOMES,
    MAX_SPECIFIERS,
    parse_descriptions,
)

RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "uof" / "descriptions"
SHIPPED = Path(__file__).resolve().parents[2] / "feeds" / "descriptions" / "markets.xml"

VARIANTS = b"""<?xml version="1.0" encoding="UTF-8"?>
<variant_descriptions response_code="OK">
  <variant id="sr:exact_goals:4+">
    <outcomes>
      <outcome id="sr:exact_goals:4+:1" name="0"/>
      <outcome id="sr:exact_goals:4+:2" name="4+"/>
    </outcomes>
    <mappings><mapping product_id="1" market_id="8:1"/></mappings>
  </variant>
  <variant id="sr:empty"/>
</variant_descriptions>"""


def sample(name: str) -> bytes:
    return (RESOURCES / name).read_bytes()


def markets(body: str) -> bytes:
    return f'<market_descriptions response_code="OK">{body}</market_descriptions>'.encode()


def reason_of(raw: bytes) -> str:
    with pytest.raises(AdapterError) as info:
        parse_descriptions(raw)
    return info.value.reason


def test_first_sample_keys_and_records() -> None:
    records = parse_descriptions(sample("descriptions-markets-0.xml"))
    assert [key for key, _ in records] == [
        "1", "11", "21", "21?variant=sr:exact_goals:6+", "575", "892",
        "892?variant=sr:goalscorer:fieldplayers_nogoal_owngoal_other"]
    by_key = dict(records)
    assert by_key["1"] == {
        "market_id": "1", "variant": None, "name": "1x2",
        "groups": ["all", "score", "regular_play"],
        "outcomes": [{"id": "1", "name": "{$competitor1}"}, {"id": "2", "name": "draw"},
                     {"id": "3", "name": "{$competitor2}"}],
        "specifiers": []}
    assert by_key["21"]["outcomes"] == []
    assert by_key["21"]["specifiers"] == [{"name": "variant", "type": "variable_text"}]
    assert by_key["575"]["specifiers"] == [
        {"name": "total", "type": "decimal"}, {"name": "from", "type": "integer"},
        {"name": "to", "type": "integer"}]
    assert by_key["892"]["name"] == "{!goalnr} goalscorer"
    assert by_key["892"]["groups"] == ["all", "regular_play", "scorers"]


def test_a_market_specific_variant() -> None:
    variant = dict(parse_descriptions(sample("descriptions-markets-0.xml")))[
        "21?variant=sr:exact_goals:6+"]
    assert variant["market_id"] == "21"
    assert variant["variant"] == "sr:exact_goals:6+"
    assert variant["name"] == "Exact goals"
    assert variant["groups"] == []
    assert len(variant["outcomes"]) == 7
    assert variant["outcomes"][-1] == {"id": "sr:exact_goals:6+:74", "name": "6+"}


def test_second_sample_ignores_mappings() -> None:
    records = parse_descriptions(sample("descriptions-markets-1.xml"))
    assert [key for key, _ in records] == ["10", "16", "1", "18"]
    by_key = dict(records)
    assert [o["id"] for o in by_key["10"]["outcomes"]] == ["9", "10", "11"]
    assert by_key["18"]["name"] == "Ukupno golova"
    assert by_key["16"]["specifiers"] == [{"name": "hcp", "type": "decimal"}]


def test_variants_xml_gives_global_variants() -> None:
    records = parse_descriptions(VARIANTS)
    assert [key for key, _ in records] == ["*?variant=sr:exact_goals:4+", "*?variant=sr:empty"]
    assert records[0][1] == {
        "market_id": "*", "variant": "sr:exact_goals:4+", "name": None, "groups": [],
        "outcomes": [{"id": "sr:exact_goals:4+:1", "name": "0"},
                     {"id": "sr:exact_goals:4+:2", "name": "4+"}],
        "specifiers": []}
    assert records[1][1]["outcomes"] == []


def test_the_variant_endpoint_response() -> None:
    raw = markets('<market id="41" name="Correct score" variant="sr:correct_score:max:6">'
                  '<outcomes><outcome id="sr:correct_score:max:6:1302" name="0:0"/></outcomes>'
                  '</market>')
    [(key, value)] = parse_descriptions(raw)
    assert key == "41?variant=sr:correct_score:max:6"
    assert value["outcomes"] == [{"id": "sr:correct_score:max:6:1302", "name": "0:0"}]


@pytest.mark.parametrize("root", [
    '<market_descriptions xmlns="http://schemas.sportradar.com/sportsapi/v1/unified" '
    'response_code="OK">{}</market_descriptions>',
    '<sr:market_descriptions xmlns:sr="http://schemas.sportradar.com/sportsapi/v1/unified">'
    '{}</sr:market_descriptions>',
])
def test_namespaced_roots(root: str) -> None:
    prefix = "sr:" if root.startswith("<sr:") else ""
    body = (f'<{prefix}market id="1" name="1x2" groups="all|score"><{prefix}outcomes>'
            f'<{prefix}outcome id="1" name="{{$competitor1}}"/></{prefix}outcomes>'
            f'</{prefix}market>')
    [(key, value)] = parse_descriptions(root.format(body).encode())
    assert key == "1"
    assert value["outcomes"] == [{"id": "1", "name": "{$competitor1}"}]
    assert value["groups"] == ["all", "score"]


def test_a_byte_order_mark_is_accepted() -> None:
    raw = b"\xef\xbb\xbf" + sample("descriptions-markets-0.xml")
    assert len(parse_descriptions(raw)) == 7


def test_an_empty_response_has_no_records() -> None:
    assert parse_descriptions(markets("")) == []


def test_the_shipped_descriptions_parse() -> None:
    keys = [key for key, _ in parse_descriptions(SHIPPED.read_bytes())]
    assert keys == ["1", "8", "10", "11", "14", "16", "18", "19", "20", "26", "29", "41", "60",
                    "68", "41?variant=sr:correct_score:max:2"]


def outcomes(count: int) -> str:
    return "".join(f'<outcome id="{i}" name="o{i}"/>' for i in range(count))


@pytest.mark.parametrize(("raw", "reason"), [
    (b"not xml", "malformed XML"),
    (b"", "empty record"),
    (b"<response response_code='NOT_FOUND'/>", "unknown descriptions root <response>"),
    (b"<!DOCTYPE x [<!ENTITY a 'b'>]><market_descriptions/>", "DOCTYPE not allowed"),
    (markets('<market name="x"/>'), "<market> lacks id"),
    (markets('<market id="" name="x"/>'), "<market> lacks id"),
    (markets(f'<market id="{"1" * 65}"/>'), "is not a valid market id"),
    (markets('<market id="1 2"/>'), "is not a valid market id"),
    (markets('<market id="é"/>'), "is not a valid market id"),
    (markets('<market id="1?variant=x"/>'), "is not a valid market id"),
    (markets('<market id="*"/>'), "is not a valid market id"),
    (markets(f'<market id="1" name="{"n" * 257}"/>'), "name longer than 256"),
    (markets('<market id="1"><outcomes><outcome name="x"/></outcomes></market>'),
     "<outcome> lacks id"),
    (markets(f'<market id="1"><outcomes><outcome id="{"o" * 129}"/></outcomes></market>'),
     "is not a valid outcome id"),
    (markets(f'<market id="1"><outcomes><outcome id="1" name="{"n" * 257}"/></outcomes>'
             '</market>'), "name longer than 256"),
    (markets(f'<market id="1"><outcomes>{outcomes(MAX_OUTCOMES + 1)}</outcomes></market>'),
     f"market 1 has more than {MAX_OUTCOMES} outcomes"),
    (markets('<market id="1"><specifiers>'
             + '<specifier name="s" type="integer"/>' * (MAX_SPECIFIERS + 1)
             + '</specifiers></market>'), f"more than {MAX_SPECIFIERS} specifiers"),
    (markets('<market id="1"><specifiers><specifier type="integer"/></specifiers></market>'),
     "<specifier> lacks name"),
    (markets('<market id="1" groups="all|a b"/>'), "market 1 has malformed groups"),
    (b"<variant_descriptions><variant/></variant_descriptions>", "<variant> lacks id"),
])
def test_malformed_input_is_rejected(raw: bytes, reason: str) -> None:
    assert reason in reason_of(raw)


def test_a_description_may_hold_the_maximum_of_outcomes() -> None:
    raw = markets(f'<market id="1"><outcomes>{outcomes(MAX_OUTCOMES)}</outcomes></market>')
    [(_, value)] = parse_descriptions(raw)
    assert len(value["outcomes"]) == MAX_OUTCOMES


def test_an_oversized_response_is_rejected() -> None:
    raw = markets("") + b" " * MAX_DESCRIPTIONS_BYTES
    assert f"exceeds {MAX_DESCRIPTIONS_BYTES}" in reason_of(raw)
