"""Market state in the cases real feeds produce every day, through the pure planner.

Each test named ``test_regression_*`` reproduces a wrong state the platform once gave (it
fails on that code); the others pin the rules that replaced it.
"""

from __future__ import annotations

from typing import Any

import orjson

from models.catalog import Catalog
from models.engine import Rules, plan_batch
from models.event import public_event
from models.memory import MemoryState, replay
from tests.unit.feedmsg import (
    E1,
    K1,
    NOW,
    alive,
    bet_stop,
    fixture,
    market,
    market_list_message,
    odds_change,
    run,
    settlement,
    snapshot_complete,
    status,
)

K18 = f"{E1}/18/total=2.5"
LIVE, PREMATCH = 1, 3


def cancel(ts: int, **window: Any) -> dict[str, Any]:
    return market_list_message("bet_cancel", ts, market={"void_reason": 12}, **window)


def rollback(ts: int, **window: Any) -> dict[str, Any]:
    return market_list_message("rollback_bet_cancel", ts, **window)


# -- cancel windows ------------------------------------------------------------------------

def test_regression_a_windowed_cancel_leaves_the_market_trading_and_settling() -> None:
    state = run(odds_change(1), cancel(2, start_time=100, end_time=200))
    assert status(state) == "active"
    assert state.markets[K1]["cancels"] == [{"start_time": 100, "end_time": 200,
                                             "void_reason": 12, "superceded_by": None,
                                             "ts": 2}]
    run(odds_change(3, market("1", 2.5, 3.0, 3.0)), settlement(4, 2), state=state)
    assert status(state) == "settled"
    assert state.markets[K1]["settlement"]["certainty"] == 2
    assert [o["result"] for o in state.markets[K1]["outcomes"]] == ["won", "lost", "lost"]


def test_regression_two_windows_are_kept_and_rolled_back_one_at_a_time() -> None:
    state = run(odds_change(1), cancel(2, start_time=100, end_time=200),
                cancel(3, start_time=300, end_time=400))
    assert [(c["start_time"], c["end_time"]) for c in state.markets[K1]["cancels"]] == [
        (100, 200), (300, 400)]
    run(rollback(4, start_time=100, end_time=200), state=state)
    assert [(c["start_time"], c["end_time"]) for c in state.markets[K1]["cancels"]] == [
        (300, 400)]
    assert status(state) == "active"


def test_an_open_ended_cancel_cancels_and_its_rollback_restores_the_settlement() -> None:
    state = run(odds_change(1), cancel(2))
    assert status(state) == "cancelled"
    run(settlement(3, 2), state=state)  # kept while cancelled
    assert status(state) == "cancelled" and state.markets[K1]["settlement"]["certainty"] == 2
    run(rollback(4, start_time=100, end_time=200), state=state)  # no such window
    assert status(state) == "cancelled"
    run(rollback(5), state=state)
    assert status(state) == "settled" and state.markets[K1]["cancels"] == []


def test_a_cancel_stored_by_the_previous_release_survives_its_producer_going_down() -> None:
    state = run(odds_change(1), cancel(2))
    stored = {k: v for k, v in state.markets[K1].items() if k not in ("cancels", "marks")}
    state.markets[K1] = {**stored, "cancel": {"start_time": None, "end_time": None,
                                              "void_reason": 12, "superceded_by": None}}
    down = {"type": "producer_status", "producer": 1, "ts": 3, "down": True,
            "generation": 1, "reason": "test"}
    partition = next(p for p in range(8) if K1 in dict(state.partition_markets(p)))
    state.commit(plan_batch([(partition, b"producer:1", orjson.dumps(down))], state,
                            lambda: NOW))
    assert status(state) == "cancelled"


def test_a_repeated_cancel_changes_nothing_and_a_corrected_one_replaces_its_entry() -> None:
    state = run(odds_change(1), cancel(2, start_time=100))
    version = state.markets[K1]["version"]
    run(cancel(3, start_time=100), state=state)
    assert state.markets[K1]["version"] == version
    run(market_list_message("bet_cancel", 4, start_time=100, market={"void_reason": 5}),
        state=state)
    assert [(c["void_reason"], c["ts"]) for c in state.markets[K1]["cancels"]] == [(5, 4)]


def test_settlement_records_carry_the_windows() -> None:
    plans = replay(MemoryState(), [odds_change(1), cancel(2, start_time=100, end_time=200)],
                   8, now_ms=NOW)
    (record,) = plans[-1].settlements
    assert record.value["type"] == "bet_cancel" and record.value["status"] == "active"
    assert record.value["cancels"][0]["start_time"] == 100


# -- bet-stop groups -----------------------------------------------------------------------

def groups_catalog() -> Catalog:
    catalog = Catalog({"1st_half": [60], "score": [1, 60]})
    catalog.put("18", {"market_id": "18", "variant": None, "name": "Total",
                       "groups": ["all", "score"], "outcomes": [], "specifiers": []})
    return catalog


def test_regression_a_bet_stop_on_market_groups_suspends_their_markets() -> None:
    state = run(odds_change(1, market("1"), market("18", 1.9, 1.9, specifiers="total=2.5"),
                            market("60")),
                bet_stop(2, groups=["1st_half"]))
    assert status(state, f"{E1}/60/") == "suspended"
    assert status(state) == "active" and status(state, K18) == "active"


def test_groups_come_from_descriptions_then_the_public_map() -> None:
    rules = Rules(catalog=groups_catalog())
    state = run(odds_change(1, market("1"), market("18", 1.9, 1.9, specifiers="total=2.5"),
                            market("60")), rules=rules)
    plans = replay(state, [bet_stop(2, groups=["score", "nonsense", "18"])], 8, now_ms=NOW,
                   rules=rules)
    assert {status(state), status(state, K18), status(state, f"{E1}/60/")} == {"suspended"}
    assert plans[0].unknown_groups == {"nonsense": 1}


def test_an_unknown_group_suspends_nothing() -> None:
    state = run(odds_change(1), bet_stop(2, groups=["no_such_group"]))
    assert status(state) == "active"


# -- producers: ordering and handover ------------------------------------------------------

def test_regression_a_suspension_is_never_dropped_because_of_a_clock() -> None:
    state = run(odds_change(5001, market("1"), producer=PREMATCH),
                odds_change(5002, market("18", 1.9, 1.9, specifiers="total=2.5"),
                            producer=LIVE),
                bet_stop(5000))
    assert status(state) == "suspended" and status(state, K18) == "suspended"


def test_a_late_suspension_keeps_the_newer_prices() -> None:
    state = run(odds_change(10, market("1", 2.0, 3.0, 4.0)),
                odds_change(9, market("1", 9.0, 9.0, 9.0, status="suspended")))
    assert status(state) == "suspended"
    assert [o["odds"] for o in state.markets[K1]["outcomes"]] == [2.0, 3.0, 4.0]


def test_stale_marks_are_kept_per_producer() -> None:
    state = run(odds_change(5000, producer=PREMATCH), odds_change(4000, market("1", 2.5, 3.0),
                                                                  producer=LIVE))
    snapshot = state.markets[K1]
    assert snapshot["producer"] == LIVE and snapshot["outcomes"][0]["odds"] == 2.5
    assert snapshot["marks"] == {"3": 5000, "1": 4000}


def test_regression_a_prematch_handover_after_live_odds_is_ignored() -> None:
    state = run(odds_change(1, market("1", 2.0, 3.0, 4.0), producer=PREMATCH),
                odds_change(5, market("1", 1.5, 4.0, 6.0), producer=LIVE),
                odds_change(6, market("1", 2.0, 3.0, 4.0, status="handed_over"),
                            producer=PREMATCH))
    snapshot = state.markets[K1]
    assert snapshot["producer"] == LIVE and status(state) == "active"
    assert [o["odds"] for o in snapshot["outcomes"]] == [1.5, 4.0, 6.0]
    run(odds_change(7, market("1", 1.6, 3.9, 5.5), producer=LIVE), state=state)
    assert [o["odds"] for o in state.markets[K1]["outcomes"]] == [1.6, 3.9, 5.5]


def test_a_handover_before_live_odds_shows_suspended_until_they_arrive() -> None:
    plans = replay(MemoryState(), [
        odds_change(1, market("1", 2.0, 3.0, 4.0), producer=PREMATCH),
        odds_change(2, market("1", 2.0, 3.0, 4.0, status="handed_over"), producer=PREMATCH),
    ], 8, now_ms=NOW)
    statuses = [p.markets[K1].state["status"] for p in plans if K1 in p.markets]
    assert statuses == ["active", "suspended"]
    state = MemoryState()
    replay(state, [odds_change(1, producer=PREMATCH),
                   odds_change(2, market("1", status="handed_over"), producer=PREMATCH),
                   odds_change(3, market("1", 2.0, 3.0, 4.0), producer=PREMATCH),
                   bet_stop(4, producer=PREMATCH)], 8, now_ms=NOW)
    assert status(state) == "suspended"  # the prematch producer gave the market away
    run(odds_change(1, market("1", 1.8, 3.5, 4.5), producer=LIVE), state=state)
    assert status(state) == "active" and state.markets[K1]["producer"] == LIVE


def test_prematch_settlements_and_cancels_still_apply_after_the_handover() -> None:
    state = run(odds_change(1, producer=PREMATCH), odds_change(2, producer=LIVE),
                {**settlement(3, 2), "producer": PREMATCH})
    assert status(state) == "settled"


def test_handed_over_is_never_a_status_consumers_see() -> None:
    plans = replay(MemoryState(), [odds_change(1, market("1", status="handed_over"),
                                               producer=LIVE)], 8, now_ms=NOW)
    assert plans[0].markets[K1].state["status"] == "suspended"


def test_regression_a_fixture_change_has_its_own_stale_mark() -> None:
    ses = {"status": "live", "match_status": 6, "home_score": 0, "away_score": 0}
    state = run(odds_change(10, sport_event_status=ses), fixture(5, home="Arsenal"))
    assert public_event(state.events[E1])["home"] == "Arsenal"
    run(fixture(4, home="Chelsea"), state=state)
    assert public_event(state.events[E1])["home"] == "Arsenal"


# -- the recovery loop ---------------------------------------------------------------------

def silent(now_ms: int) -> dict[str, Any]:
    return {"type": "producer_silent", "producer": LIVE, "ts": now_ms}


def test_regression_coming_back_up_reopens_only_what_was_priced_since_the_request() -> None:
    state = run(alive(1), odds_change(2, market("1")),
                odds_change(2, market("18", 1.9, 1.9, specifiers="total=2.5")))
    down_at = NOW + 30_000
    run(silent(down_at), state=state, now_ms=down_at)
    run(odds_change(down_at + 1, market("1", 2.2, 3.1, 3.8)), alive(down_at + 2),
        snapshot_complete(down_at + 3, request_id=1), state=state, now_ms=down_at + 5)
    assert status(state) == "active"
    assert status(state, K18) == "suspended"  # nothing new since the outage
    run(odds_change(down_at + 6, market("18", 1.9, 1.9, specifiers="total=2.5")),
        state=state, now_ms=down_at + 6)
    assert status(state, K18) == "active"


def test_regression_an_unanswered_request_is_asked_again_with_a_new_id() -> None:
    rules = Rules(recovery_retry_ms=60_000)
    state = run(alive(1), odds_change(2), rules=rules)
    run(silent(NOW + 30_000), state=state, now_ms=NOW + 30_000, rules=rules)
    retry = {"type": "recovery_retry", "producer": LIVE, "ts": NOW + 60_000}
    early = replay(state, [retry], 8, now_ms=NOW + 60_000, rules=rules)
    assert not early[0].recovery_requests  # not overdue yet
    (plan,) = replay(state, [retry], 8, now_ms=NOW + 90_000, rules=rules)
    (request,) = plan.recovery_requests
    assert request.value == {"producer": LIVE, "request_id": 2, "after_ts": 1,
                             "reason": "retry", "requested_ts": NOW + 90_000}
    # The first id no longer brings the producer back; the second does.
    run(alive(NOW + 91_000), snapshot_complete(NOW + 91_001, request_id=1), state=state,
        now_ms=NOW + 91_002, rules=rules)
    assert state.producers["producer:1"]["down"]
    run(snapshot_complete(NOW + 91_003, request_id=2), state=state, now_ms=NOW + 91_004,
        rules=rules)
    assert not state.producers["producer:1"]["down"]


def test_the_first_alive_after_a_start_asks_for_a_recovery() -> None:
    state = MemoryState()
    plans = replay(state, [alive(1), alive(2)], 8, now_ms=NOW, rules=Rules(boot="a"))
    assert [r.value["reason"] for p in plans for r in p.recovery_requests] == ["startup"]
    assert plans[0].recovery_requests[0].value["after_ts"] is None  # never seen: full
    run(snapshot_complete(3, request_id=1), state=state, rules=Rules(boot="a"))
    assert state.producers["producer:1"]["requested_ts"] is None  # answered
    plans = replay(state, [alive(4)], 8, now_ms=NOW, rules=Rules(boot="b"))
    assert [r.value["after_ts"] for p in plans for r in p.recovery_requests] == [2]
    assert not state.producers["producer:1"]["down"]  # a restart is not an outage


def test_the_exchange_recovers_by_itself() -> None:
    bf = 100
    state = run(alive(1, producer=bf), odds_change(2, producer=bf),
                alive(3, subscribed=False, producer=bf))
    assert status(state) == "suspended"
    plans = replay(state, [alive(4, producer=bf)], 8, now_ms=NOW)
    assert status(state) == "active" and not any(p.recovery_requests for p in plans)


# -- names ---------------------------------------------------------------------------------

def names_catalog() -> Catalog:
    catalog = Catalog()
    catalog.put("1", {"market_id": "1", "variant": None, "name": "1x2",
                      "groups": ["all", "score"], "specifiers": [],
                      "outcomes": [{"id": "1", "name": "{$competitor1}"},
                                   {"id": "2", "name": "draw"},
                                   {"id": "3", "name": "{$competitor2}"}]})
    catalog.put("18", {"market_id": "18", "variant": None, "name": "Total",
                       "groups": ["all"], "specifiers": [{"name": "total", "type": "decimal"}],
                       "outcomes": [{"id": "1", "name": "over {total}"},
                                    {"id": "2", "name": "under {total}"}]})
    return catalog


def test_regression_markets_and_outcomes_get_names() -> None:
    rules = Rules(catalog=names_catalog())
    state = run(fixture(1, home="Arsenal", away="Chelsea"), odds_change(2, market("1")),
                odds_change(3, market("18", 1.9, 1.9, specifiers="total=2.5"),
                            market("99", 1.5, 2.5)), rules=rules)
    named = state.markets[K1]
    assert named["name"] == "1x2"
    assert [o["name"] for o in named["outcomes"]] == ["Arsenal", "draw", "Chelsea"]
    assert state.markets[K18]["name"] == "Total"
    assert [o["name"] for o in state.markets[K18]["outcomes"]] == ["over 2.5", "under 2.5"]
    unnamed = state.markets[f"{E1}/99/"]
    assert unnamed["name"] is None and {o["name"] for o in unnamed["outcomes"]} == {None}


def test_names_follow_the_fixtures_competitors() -> None:
    rules = Rules(catalog=names_catalog())
    state = run(odds_change(1, market("1")), rules=rules)
    assert [o["name"] for o in state.markets[K1]["outcomes"]] == ["Home", "draw", "Away"]
    plans = replay(state, [fixture(2, home="Arsenal", away="Chelsea")], 8, now_ms=NOW,
                   rules=rules)
    assert [o["name"] for o in state.markets[K1]["outcomes"]] == ["Arsenal", "draw", "Chelsea"]
    assert plans[0].markets[K1].publish


# -- what the feed says --------------------------------------------------------------------

def test_betting_status_period_scores_and_cashout_are_kept() -> None:
    ses = {"status": "live", "match_status": 7, "home_score": 2, "away_score": 1,
           "period_scores": [{"number": 1, "type": "regular_period", "match_status": 6,
                              "home_score": 1, "away_score": 1}]}
    state = run(odds_change(1, {**market("1"), "cashout_status": "available"},
                            sport_event_status=ses, betting_status="1", betstop_reason="2"))
    event = public_event(state.events[E1])
    assert (event["betting_status"], event["betstop_reason"]) == ("1", "2")
    assert event["period_scores"] == ses["period_scores"]
    assert state.markets[K1]["cashout_status"] == "available"
    run(odds_change(2, market("1", 2.1, 3.4, 3.9)), state=state)
    assert public_event(state.events[E1])["betting_status"] is None
