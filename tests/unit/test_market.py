from typing import Any

from models.keys import market_key
from models.market import Verdict, apply_bet_stop, apply_odds_change, finish
from models.odds import american, direction, fractional, margin


def feed_market(*prices: float, status: str = "active") -> dict[str, Any]:
    return {"id": "1", "specifiers": "", "status": status,
            "outcomes": [{"id": str(i), "odds": p, "active": True}
                         for i, p in enumerate(prices, 1)]}


def apply(current: Any, ts: int, market: dict[str, Any]) -> Any:
    return apply_odds_change(current, "e:m:1", 1, ts, market)


def test_first_message_creates_version_1_with_derived_fields() -> None:
    applied = apply(None, 100, feed_market(2.0, 3.0, 4.0))
    snap = applied.snapshot
    assert applied.verdict is Verdict.APPLIED and applied.published and snap is not None
    assert snap["version"] == 1 and snap["updated_ts"] == 100
    assert snap["margin"] == round(1 / 2 + 1 / 3 + 1 / 4 - 1, 6)
    first = snap["outcomes"][0]
    assert (first["american"], first["fractional"], first["implied_probability"]) == (
        100, "1/1", 0.5)
    assert first["direction"] == "same"


def test_price_move_bumps_version_and_direction() -> None:
    snap = apply(None, 100, feed_market(2.0, 3.0)).snapshot
    applied = apply(snap, 200, feed_market(2.1, 2.9))
    assert applied.snapshot is not None
    assert applied.snapshot["version"] == 2
    assert [o["direction"] for o in applied.snapshot["outcomes"]] == ["up", "down"]
    assert list(applied.changes) == [
        ("price", "1", 2.0, 2.1), ("price", "2", 3.0, 2.9)]


def test_stale_message_is_dropped() -> None:
    snap = apply(None, 100, feed_market(2.0, 3.0)).snapshot
    applied = apply(snap, 99, feed_market(5.0, 1.2))
    assert applied.verdict is Verdict.STALE and applied.snapshot is None


def test_same_content_same_ts_stores_nothing() -> None:
    snap = apply(None, 100, feed_market(2.0, 3.0)).snapshot
    again = apply(snap, 100, feed_market(2.0, 3.0))
    assert again.verdict is Verdict.IGNORED and again.snapshot is None


def test_same_content_newer_ts_moves_the_stale_mark_without_publishing() -> None:
    snap = apply(None, 100, feed_market(2.0, 3.0)).snapshot
    applied = apply(snap, 150, feed_market(2.0, 3.0))
    assert applied.verdict is Verdict.UNCHANGED and not applied.published
    assert applied.snapshot is not None and applied.snapshot["version"] == 1
    later = apply(applied.snapshot, 120, feed_market(9.0, 1.1))
    assert later.verdict is Verdict.STALE


def test_equal_timestamps_apply_in_arrival_order() -> None:
    snap = apply(None, 100, feed_market(2.0, 3.0)).snapshot
    applied = apply(snap, 100, feed_market(2.0, 3.0, status="suspended"))
    assert applied.verdict is Verdict.APPLIED
    assert applied.snapshot is not None and applied.snapshot["status"] == "suspended"


def test_inactive_outcomes_do_not_count_in_margin() -> None:
    market = feed_market(2.0, 2.0)
    market["outcomes"][1]["active"] = False
    snap = apply(None, 1, market).snapshot
    assert snap is not None and snap["margin"] == -0.5


def test_margin_divides_by_the_number_of_winners() -> None:
    market = {**feed_market(2.0, 2.0, 2.0, 2.0), "number_of_winners": 2}
    snap = apply(None, 1, market).snapshot
    assert snap is not None and snap["margin"] == 0.0


def test_helpers() -> None:
    assert market_key("sr:match:1", "18", "total=2.5") == "sr:match:1/18/total=2.5"
    assert american(1.5) == -200 and american(3.5) == 250
    assert fractional(2.5) == "6/4" and fractional(1.91) == "10/11"  # the UK ladder
    assert fractional(1.95) == "20/21" and fractional(1.01) == "1/100"
    assert margin([]) is None
    assert direction(None, 2.0) == "same" and direction(2.0, 1.5) == "down"


def test_the_common_outcome_shapes_build_what_the_general_path_builds() -> None:
    """{id, odds} and {id, odds, active} take a short path; an extra field that changes
    nothing (probability None) sends the same outcome down the general one."""
    held = apply(None, 100, feed_market(2.0, 3.0)).snapshot
    for shape in ({"odds": 2.2}, {"odds": 2.2, "active": True},
                  {"odds": 2.2, "active": False}, {"odds": 2.0, "active": True}):
        for current in (None, held):
            short = {"id": "1", "specifiers": "", "outcomes": [{"id": "1", **shape}]}
            general = {**short, "outcomes": [{"id": "1", **shape, "probability": None}]}
            fast, slow = apply(current, 200, short), apply(current, 200, general)
            assert fast.snapshot is not None and slow.snapshot is not None
            assert fast == slow
            # The order outcomes have always had (the changelog and markets.v1 keep it).
            assert list(fast.snapshot["outcomes"][0]) == [
                "id", "name", "result", "void_factor", "dead_heat_factor", "odds", "active",
                "probability", "implied_probability", "american", "fractional", "direction"]


def test_a_bet_stop_on_an_idle_market_matches_the_full_comparison() -> None:
    """A market already suspended: the bet stop's shortcut gives what ``finish`` gives."""
    snap = apply(None, 100, feed_market(2.0, 3.0, status="suspended")).snapshot
    assert snap is not None
    for ts in (100, 150):
        assert apply_bet_stop(snap, 1, ts, "suspended") == finish(snap, {**snap}, 1, ts)
    assert apply_bet_stop(snap, 1, 150, "suspended").verdict is Verdict.UNCHANGED
    assert apply_bet_stop(snap, 1, 100, "suspended").verdict is Verdict.IGNORED
