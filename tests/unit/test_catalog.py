"""The catalog of market descriptions: UOF name templates, names per market, market groups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.workload import MARKETS as WORKLOAD_MARKETS
from feeds import sim_model
from feeds.generator import MARKET_TEMPLATES as GENERATOR_MARKETS
from feeds.simulator import MatchSimulator
from feeds.uof_descriptions import parse_descriptions
from models.catalog import Catalog, MarketNames, load_group_map, ordinal, render
from models.feed import canonical_specifiers

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "resources" / "uof" / "descriptions"
SHIPPED = ROOT / "feeds" / "descriptions" / "markets.xml"
GOALSCORER = "sr:goalscorer:fieldplayers_nogoal_owngoal_other"


def loaded(*paths: Path, group_map: dict[str, list[int]] | None = None) -> Catalog:
    catalog = Catalog(group_map)
    for path in paths:
        for key, value in parse_descriptions(path.read_bytes()):
            catalog.put(key, value)
    return catalog


@pytest.fixture
def catalog() -> Catalog:
    return loaded(SAMPLES / "descriptions-markets-0.xml")


def description(market_id: str, name: str | None, groups: list[str],
                outcomes: dict[str, str], variant: str | None = None) -> dict[str, Any]:
    return {"market_id": market_id, "variant": variant, "name": name, "groups": groups,
            "outcomes": [{"id": k, "name": v} for k, v in outcomes.items()], "specifiers": []}


# --- templates --------------------------------------------------------------------------

@pytest.mark.parametrize(("template", "specifiers", "expected"), [
    ("Total {total}", {"total": "2.5"}, "Total 2.5"),
    ("over {total}", {"total": "0.50"}, "over 0.50"),
    ("{+hcp}", {"hcp": "1.5"}, "+1.5"),
    ("{+hcp}", {"hcp": "-1.5"}, "-1.5"),
    ("{+hcp}", {"hcp": "0"}, "0"),
    ("{+hcp}", {"hcp": "-1"}, "-1"),
    ("{-hcp}", {"hcp": "1.5"}, "-1.5"),
    ("{-hcp}", {"hcp": "-1.5"}, "+1.5"),
    ("{-hcp}", {"hcp": "0"}, "0"),
    ("{-hcp}", {"hcp": "0.0"}, "0"),
    ("{-hcp}", {"hcp": "+2"}, "-2"),
    ("{+hcp} / {-hcp}", {"hcp": "0:1"}, "0:1 / 0:1"),
    ("Handicap {hcp}", {"hcp": "0:1"}, "Handicap 0:1"),
    ("{inningnr+1} inning", {"inningnr": "3"}, "4 inning"),
    ("{x-1}", {"x": "5"}, "4"),
    ("{(minute-1)}", {"minute": "10"}, "9"),
    ("{!(inningnr+1)} inning", {"inningnr": "3"}, "4th inning"),
    ("{(x+1)}", {"x": "-1.5"}, "-0.5"),
    ("{(x+1)}", {"x": "-1.0000001"}, "-0.0000001"),
    ("{+(hcp+1)} {-(hcp-2)}", {"hcp": "-1.5"}, "-0.5 +3.5"),
    ("{%player} to score", {"player": "sr:player:123"}, "sr:player:123 to score"),
    ("{%competitor} total", {"competitor": "sr:competitor:9"}, "sr:competitor:9 total"),
    ("10 minutes - from {from} to {to}", {"from": "1", "to": "10"},
     "10 minutes - from 1 to 10"),
    ("no placeholder", {}, "no placeholder"),
    ("", {}, ""),
    ("{total}", {}, None),
    ("from {from} to {to}", {"from": "1"}, None),
    ("{!goalnr} goal", {}, None),
    ("{%player}", {}, None),
])
def test_render(template: str, specifiers: dict[str, str], expected: str | None) -> None:
    assert render(template, specifiers, None, None) == expected


@pytest.mark.parametrize(("number", "expected"), [
    (1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (10, "10th"), (11, "11th"), (12, "12th"),
    (13, "13th"), (21, "21st"), (22, "22nd"), (23, "23rd"), (101, "101st"), (111, "111th"),
    (112, "112th"), (113, "113th"),
])
def test_ordinals(number: int, expected: str) -> None:
    assert ordinal(number) == expected
    assert render("{!goalnr} goal", {"goalnr": str(number)}, None, None) == f"{expected} goal"


def test_competitors_and_event() -> None:
    assert render("{$competitor1} or {$competitor2}", {}, "Ajax", "PSV") == "Ajax or PSV"
    assert render("{$competitor1} or {$competitor2}", {}, None, None) == "Home or Away"
    assert render("{$competitor1} or {$competitor2}", {}, "Ajax", None) == "Ajax or Away"
    assert render("{$event}", {}, "Ajax", "PSV") == "Ajax vs PSV"
    assert render("{$event}", {}, None, None) == "Home vs Away"


def test_unknown_placeholders_do_not_render() -> None:
    assert render("{$score}", {"score": "1:0"}, None, None) is None
    assert render("{}", {}, None, None) is None
    assert render("{a b}", {"a b": "x"}, None, None) is None
    assert render("{!goalnr}", {"goalnr": "x"}, None, None) == "x"
    assert render("unclosed {total", {"total": "1"}, None, None) == "unclosed {total"


# --- names ------------------------------------------------------------------------------

def test_names_of_a_plain_market(catalog: Catalog) -> None:
    assert catalog.names("1", "", "Ajax", "PSV") == MarketNames(
        "1x2", {"1": "Ajax", "2": "draw", "3": "PSV"})
    assert catalog.names("1", "", None, None) == MarketNames(
        "1x2", {"1": "Home", "2": "draw", "3": "Away"})


def test_names_with_specifiers(catalog: Catalog) -> None:
    names = catalog.names("575", "from=1|to=10|total=2.5", None, None)
    assert names == MarketNames("10 minutes - total corners from 1 to 10",
                                {"13": "under 2.5", "12": "over 2.5"})


def test_a_missing_specifier_leaves_that_name_out(catalog: Catalog) -> None:
    names = catalog.names("575", "total=2.5", None, None)
    assert names == MarketNames(None, {"13": "under 2.5", "12": "over 2.5"})


def test_a_market_specific_variant(catalog: Catalog) -> None:
    names = catalog.names("21", "variant=sr:exact_goals:6+", None, None)
    assert names is not None
    assert names.market == "Exact goals"
    assert names.outcomes["sr:exact_goals:6+:74"] == "6+"
    assert names.outcomes["sr:exact_goals:6+:68"] == "0"
    assert len(names.outcomes) == 7


def test_the_goalscorer_variant(catalog: Catalog) -> None:
    names = catalog.names("892", f"goalnr=1|variant={GOALSCORER}", "Ajax", "PSV")
    assert names is not None
    assert names.market == "1st goalscorer"
    assert names.outcomes[f"{GOALSCORER}:1333"] == "no goal"
    assert names.outcomes[f"{GOALSCORER}:1334"] == "own goal"
    assert f"{GOALSCORER}:9999" not in names.outcomes


def test_an_unknown_variant_names_the_market_only(catalog: Catalog) -> None:
    assert catalog.names("21", "variant=sr:exact_goals:9+", None, None) == MarketNames(
        "Exact goals", {})


def test_a_global_variant_names_the_outcomes(catalog: Catalog) -> None:
    catalog.put("*?variant=sr:exact_goals:4+", description(
        "*", None, [], {"sr:exact_goals:4+:1": "0", "sr:exact_goals:4+:2": "4+"},
        variant="sr:exact_goals:4+"))
    assert catalog.names("21", "variant=sr:exact_goals:4+", None, None) == MarketNames(
        "Exact goals", {"sr:exact_goals:4+:1": "0", "sr:exact_goals:4+:2": "4+"})
    # Only a market's own variant description is used when there is one.
    catalog.put("*?variant=sr:exact_goals:6+", description(
        "*", None, [], {"sr:exact_goals:6+:74": "global"}, variant="sr:exact_goals:6+"))
    names = catalog.names("21", "variant=sr:exact_goals:6+", None, None)
    assert names is not None and names.outcomes["sr:exact_goals:6+:74"] == "6+"
    # A global variant alone does not describe a market.
    assert catalog.names("999", "variant=sr:exact_goals:4+", None, None) is None


def test_without_a_base_the_variant_names_the_market() -> None:
    catalog = Catalog({})
    catalog.put("41?variant=v", description("41", "Correct score [{score}]", [],
                                            {"v:1": "0:0"}, variant="v"))
    assert catalog.names("41", "score=1:0|variant=v", None, None) == MarketNames(
        "Correct score [1:0]", {"v:1": "0:0"})
    assert catalog.names("41", "score=1:0", None, None) is None


def test_a_base_without_a_name_takes_the_variant_name() -> None:
    catalog = Catalog({})
    catalog.put("41", description("41", None, ["all"], {"110": "0:0"}))
    assert catalog.names("41", "", None, None) == MarketNames(None, {"110": "0:0"})
    catalog.put("41?variant=v", description("41", "Correct score", [], {"v:1": "1:0"},
                                            variant="v"))
    assert catalog.names("41", "variant=v", None, None) == MarketNames(
        "Correct score", {"110": "0:0", "v:1": "1:0"})


def test_unknown_outcomes_are_absent_and_unknown_markets_none(catalog: Catalog) -> None:
    names = catalog.names("11", "", None, None)
    assert names is not None and "99" not in names.outcomes
    assert catalog.names("4242", "", None, None) is None


def test_names_are_cached_and_put_clears_them(catalog: Catalog) -> None:
    first = catalog.names("1", "", "Ajax", "PSV")
    assert catalog.names("1", "", "Ajax", "PSV") is first
    assert catalog.names("1", "", "Ajax", "AZ") is not first
    catalog.put("1", description("1", "Match result", ["all"], {"1": "{$competitor1}"}))
    assert catalog.names("1", "", "Ajax", "PSV") == MarketNames("Match result", {"1": "Ajax"})


def test_put_none_deletes(catalog: Catalog) -> None:
    assert len(catalog) == 7
    assert catalog.names("11", "", None, None) is not None
    catalog.put("11", None)
    assert len(catalog) == 6
    assert catalog.names("11", "", None, None) is None
    catalog.put("11", None)
    assert len(catalog) == 6


@pytest.mark.parametrize(("key", "value"), [
    ("1", {"name": "x"}),
    ("2", description("1", "x", [], {})),
    ("1", {**description("1", "x", [], {}), "groups": "all"}),
    ("1", {**description("1", "x", [], {}), "outcomes": [{"name": "x"}]}),
    ("1", {**description("1", "x", [], {}), "name": 5}),
])
def test_a_malformed_record_is_refused(catalog: Catalog, key: str, value: dict[str, Any]) -> None:
    before = catalog.names("1", "", None, None)
    with pytest.raises(ValueError, match="description"):
        catalog.put(key, value)
    assert len(catalog) == 7
    assert catalog.names("1", "", None, None) is before


# --- market groups ----------------------------------------------------------------------

def test_the_public_group_map_is_shipped() -> None:
    groups = load_group_map()
    assert "1st_half" in groups and "corners" in groups
    assert "575" in groups["corners"]
    assert all(isinstance(m, str) for members in groups.values() for m in members)
    members = Catalog().group_members("corners")
    assert members is not None and "575" in members


def test_group_members_from_descriptions() -> None:
    catalog = loaded(SAMPLES / "descriptions-markets-0.xml", group_map={})
    assert catalog.group_members("score") == frozenset({"1", "11", "21"})
    assert catalog.group_members("corners") == frozenset({"575"})
    assert catalog.group_members("scorers") == frozenset({"892"})


def test_group_members_fall_back_to_the_public_map() -> None:
    catalog = loaded(group_map={"1st_half": [60, 68], "corners": [575]})
    assert catalog.group_members("1st_half") == frozenset({"60", "68"})
    catalog.put("1", description("1", "1x2", ["all", "score", "regular_play"], {}))
    assert catalog.group_members("1st_half") == frozenset({"60", "68"})
    assert catalog.group_members("score") == frozenset({"1"})


def test_a_description_overrides_the_map_for_its_own_market() -> None:
    catalog = loaded(group_map={"1st_half": [60, 68], "regular_play": [1]})
    catalog.put("60", description("60", "1x2", ["all", "regular_play"], {}))
    assert catalog.group_members("1st_half") == frozenset({"68"})
    assert catalog.group_members("regular_play") == frozenset({"1", "60"})
    catalog.put("60", None)
    assert catalog.group_members("1st_half") == frozenset({"60", "68"})
    assert catalog.group_members("regular_play") == frozenset({"1"})


def test_a_variant_description_does_not_override_the_map() -> None:
    catalog = loaded(group_map={"score": [21]})
    catalog.put("21?variant=v", description("21", "Exact goals", [], {}, variant="v"))
    assert catalog.group_members("score") == frozenset({"21"})


def test_an_unknown_group_is_none(catalog: Catalog) -> None:
    assert catalog.group_members("no_such_group") is None
    assert Catalog({}).group_members("corners") is None
    # Known to the map, its only market described elsewhere: known but empty.
    only = loaded(group_map={"corners": [575]})
    only.put("575", description("575", "x", ["all"], {}))
    assert only.group_members("corners") == frozenset()


def test_group_members_are_cached(catalog: Catalog) -> None:
    first = catalog.group_members("score")
    assert catalog.group_members("score") is first


# --- the descriptions the project ships -------------------------------------------------

def simulator_markets() -> set[tuple[str, str, tuple[str, ...]]]:
    found = set(sim_model.FIXED_MARKETS)
    found |= {(sim_model.NEXT_GOAL, sim_model.next_goal_specifiers(n),
               sim_model.NEXT_GOAL_OUTCOMES) for n in range(1, 16)}
    feed = MatchSimulator(4, 2, 1_700_000_000_000, match_seconds=30.0).messages(120.0)
    for _, message in feed:
        for market in message.get("markets", ()):
            outcomes = tuple(o["id"] for o in market.get("outcomes", ()))
            found.add((market["id"], market["specifiers"], outcomes))
    return found


def project_markets() -> set[tuple[str, str, tuple[str, ...]]]:
    found = simulator_markets()
    found |= set(GENERATOR_MARKETS)
    found |= {(m.market_id, canonical_specifiers(m.specifiers), m.outcomes)
              for m in WORKLOAD_MARKETS}
    return found


def test_the_shipped_descriptions_name_every_market_the_project_produces() -> None:
    catalog = loaded(SHIPPED)
    markets = project_markets()
    assert {m for m, _, _ in markets} >= {"1", "8", "10", "11", "14", "16", "18", "19", "20",
                                          "26", "29", "41", "60", "68"}
    for market_id, specifiers, outcome_ids in markets:
        names = catalog.names(market_id, specifiers, "Ajax", "PSV")
        assert names is not None, (market_id, specifiers)
        assert names.market, (market_id, specifiers)
        for outcome_id in outcome_ids:
            assert names.outcomes.get(outcome_id), (market_id, specifiers, outcome_id)


@pytest.mark.parametrize(("market_id", "specifiers", "market", "outcomes"), [
    ("1", "", "1x2", {"1": "Ajax", "2": "draw", "3": "PSV"}),
    ("8", "goalnr=2", "2nd goal", {"6": "Ajax", "7": "none", "8": "PSV"}),
    ("10", "", "Double chance", {"9": "Ajax or draw", "10": "Ajax or PSV",
                                 "11": "draw or PSV"}),
    ("14", "hcp=0:1", "Handicap 0:1", {"1711": "Ajax (0:1)", "1712": "draw (0:1)",
                                       "1713": "PSV (0:1)"}),
    ("16", "hcp=-1.5", "Handicap", {"1714": "Ajax (-1.5)", "1715": "PSV (+1.5)"}),
    ("18", "total=2.5", "Total", {"12": "over 2.5", "13": "under 2.5"}),
    ("19", "total=0.5", "Ajax total", {"12": "over 0.5", "13": "under 0.5"}),
    ("20", "total=1.5", "PSV total", {"12": "over 1.5", "13": "under 1.5"}),
    ("26", "", "Odd/even", {"70": "odd", "72": "even"}),
    ("29", "", "Both teams to score", {"74": "yes", "76": "no"}),
    ("60", "", "1st half - 1x2", {"1": "Ajax", "2": "draw", "3": "PSV"}),
    ("68", "total=0.5", "1st half - total", {"12": "over 0.5", "13": "under 0.5"}),
])
def test_shipped_names(market_id: str, specifiers: str, market: str,
                       outcomes: dict[str, str]) -> None:
    names = loaded(SHIPPED).names(market_id, specifiers, "Ajax", "PSV")
    assert names is not None
    assert names.market == market
    assert {k: v for k, v in names.outcomes.items() if k in outcomes} == outcomes


def test_shipped_correct_score_variant() -> None:
    variant = "sr:correct_score:max:2"
    names = loaded(SHIPPED).names("41", f"score=1:0|variant={variant}", None, None)
    assert names is not None
    assert names.market == "Correct score [1:0]"
    assert names.outcomes[f"{variant}:1"] == "0:0"
    assert names.outcomes["110"] == "0:0"


def test_shipped_groups() -> None:
    catalog = loaded(SHIPPED, group_map={})
    assert catalog.group_members("1st_half") == frozenset({"60", "68"})
    members = catalog.group_members("regular_play")
    assert members is not None and {"1", "8", "16", "18", "29", "41"} <= members
