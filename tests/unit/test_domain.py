"""Every rule of the odds engine, through the pure planner on an in-memory state."""


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

K2 = f"{E1}/18/total=2.5"


def test_market_status_comes_from_odds_change() -> None:
    state = run(odds_change(1, market("1", status="deactivated")))
    assert status(state) == "deactivated"
    run(odds_change(2, market("1")), state=state)
    assert status(state) == "active"


def test_bet_stop_suspends_only_active_markets() -> None:
    state = run(odds_change(1, market("1"), market("18", 1.9, 1.9, specifiers="total=2.5"),
                            market("29", 1.8, 2.0, status="deactivated")))
    run(bet_stop(2), state=state)
    assert status(state) == "suspended" and status(state, K2) == "suspended"
    assert status(state, f"{E1}/29/") == "deactivated"


def test_bet_stop_with_listed_markets_and_a_status() -> None:
    state = run(odds_change(1, market("1"), market("18", 1.9, 1.9, specifiers="total=2.5")))
    run(bet_stop(2, groups=["18"], market_status="deactivated"), state=state)
    assert status(state) == "active" and status(state, K2) == "deactivated"


def test_settlement_records_results_and_certainty_2_supersedes_1() -> None:
    state = run(odds_change(1))
    run(settlement(2, 1, results=[{"id": "1", "result": "won"}, {"id": "2", "result": "lost"}]),
        state=state)
    snap = state.markets[K1]
    assert snap["status"] == "settled" and snap["settlement"]["certainty"] == 1
    assert [o["result"] for o in snap["outcomes"]] == ["won", "lost", None]
    run(settlement(3, 2, results=[{"id": "1", "result": "lost", "void_factor": 0.5},
                                  {"id": "2", "result": "won", "dead_heat_factor": 0.5},
                                  {"id": "3", "result": "lost"}]), state=state)
    snap = state.markets[K1]
    assert snap["settlement"]["certainty"] == 2
    assert [(o["result"], o["void_factor"], o["dead_heat_factor"]) for o in snap["outcomes"]] == [
        ("lost", 0.5, None), ("won", None, 0.5), ("lost", None, None)]
    version = snap["version"]
    # A certainty-1 settlement after the confirmed one, and a repeat, change nothing.
    run(settlement(4, 1), settlement(5, 2, results=[
        {"id": "1", "result": "lost", "void_factor": 0.5},
        {"id": "2", "result": "won", "dead_heat_factor": 0.5},
        {"id": "3", "result": "lost"}]), state=state)
    assert state.markets[K1]["version"] == version


def test_rollback_settlement_restores_the_market() -> None:
    state = run(odds_change(1, market("1", 2.0, 3.0, 4.0, status="suspended")))
    before = dict(state.markets[K1])
    run(settlement(2, 1), market_list_message("rollback_bet_settlement", 3), state=state)
    after = state.markets[K1]
    assert after["status"] == "suspended" and after["settlement"] is None
    assert after["outcomes"] == before["outcomes"]
    assert after["version"] == before["version"] + 2


def test_odds_change_never_unsettles_a_market() -> None:
    state = run(odds_change(1), settlement(2, 2), odds_change(3, market("1", 5.0, 5.0, 5.0)))
    assert status(state) == "settled"
    assert state.markets[K1]["outcomes"][0]["result"] == "won"


def test_cancel_of_a_settled_market_and_its_rollback() -> None:
    state = run(odds_change(1), settlement(2, 2))
    run(market_list_message("bet_cancel", 3, superceded_by="sr:match:2",
                            market={"void_reason": 12}), state=state)
    snap = state.markets[K1]
    assert snap["status"] == "cancelled"
    assert snap["cancels"] == [{"start_time": None, "end_time": None, "void_reason": 12,
                                "superceded_by": "sr:match:2", "ts": 3}]
    run(market_list_message("rollback_bet_cancel", 4), state=state)
    assert status(state) == "settled" and state.markets[K1]["cancels"] == []


def test_cancel_of_an_open_market_and_its_rollback() -> None:
    state = run(odds_change(1), market_list_message("bet_cancel", 2))
    assert status(state) == "cancelled"
    run(odds_change(3, market("1", 2.5, 2.5, 2.5)), state=state)
    assert status(state) == "cancelled"
    run(market_list_message("rollback_bet_cancel", 4), state=state)
    assert status(state) == "active"
    assert state.markets[K1]["outcomes"][0]["odds"] == 2.5


def test_stale_and_duplicate_input_is_dropped_and_counted() -> None:
    state = MemoryState()
    plans = replay(state, [odds_change(5), odds_change(4, market("1", 9.0, 9.0, 9.0)),
                           odds_change(5), odds_change(3, market("1", 9.0, 9.0, 9.0))], 8,
                   now_ms=NOW)
    assert [dict(p.verdicts) for p in plans] == [
        {"applied": 1}, {"stale": 1}, {"duplicate": 1}, {"stale": 1}]
    assert state.markets[K1]["version"] == 1 and status(state) == "active"


def test_equal_timestamps_apply_in_arrival_order() -> None:
    state = run(odds_change(5, market("1", 2.0, 3.0, 4.0)), bet_stop(5),
                odds_change(5, market("1", 2.1, 3.0, 4.0)))
    assert status(state) == "active" and state.markets[K1]["outcomes"][0]["odds"] == 2.1


def test_derived_fields_on_every_snapshot() -> None:
    state = run(odds_change(1, market("1", 2.0, 4.0, 4.0)),
                odds_change(2, market("1", 2.2, 3.5, 4.0)))
    snap = state.markets[K1]
    assert snap["margin"] == round(1 / 2.2 + 1 / 3.5 + 1 / 4.0 - 1, 6)
    assert [o["direction"] for o in snap["outcomes"]] == ["up", "down", "same"]
    assert [o["american"] for o in snap["outcomes"]] == [120, 250, 300]
    assert [o["fractional"] for o in snap["outcomes"]] == ["6/5", "5/2", "3/1"]
    assert snap["outcomes"][0]["implied_probability"] == round(1 / 2.2, 6)
    assert (snap["version"], snap["updated_ts"]) == (2, 2)


def test_events_carry_fixture_status_score_and_market_counts() -> None:
    ses = {"status": "live", "match_status": 6, "home_score": 1, "away_score": 0,
           "clock": "12:00"}
    state = run(fixture(1, home="A", away="B", sport="soccer"),
                odds_change(2, market("1"), market("18", 1.9, 1.9, specifiers="total=2.5"),
                            sport_event_status=ses),
                bet_stop(3, groups=["18"]))
    event = public_event(state.events[E1])
    assert (event["status"], event["match_status"], event["score"], event["clock"]) == (
        "live", 6, {"home": 1, "away": 0}, "12:00")
    assert (event["home"], event["away"], event["sport"]) == ("A", "B", "soccer")
    assert event["market_counts"] == {"active": 1, "suspended": 1}
    # A stale fixture change is dropped.
    run(fixture(0, home="X"), state=state)
    assert public_event(state.events[E1])["home"] == "A"


def test_outputs_odds_changes_and_settlements() -> None:
    state = MemoryState()
    plans = replay(state, [odds_change(1, market("1", 2.0, 3.0)),
                           odds_change(2, market("1", 2.0, 3.3)), settlement(3, 1)], 8,
                   now_ms=NOW)
    (first,) = plans[0].odds_changes
    assert first.key == K1 and first.value["version"] == 1 and first.value["changes"] == [
        {"kind": "status", "outcome_id": None, "old": None, "new": "active"},
        {"kind": "price", "outcome_id": "1", "old": None, "new": 2.0},
        {"kind": "price", "outcome_id": "2", "old": None, "new": 3.0}]
    changes = [r.value for r in plans[1].odds_changes]
    assert changes == [{"event_id": E1, "market_id": "1", "specifiers": "", "producer": 1,
                        "version": 2, "ts": 2, "changes": [
                            {"kind": "price", "outcome_id": "2", "old": 3.0, "new": 3.3}]}]
    (record,) = plans[2].settlements
    assert record.key == K1 and record.value["type"] == "bet_settlement"
    assert record.value["status"] == "settled" and record.value["settlement"]["certainty"] == 1
    assert [c["new"] for r in plans[2].odds_changes for c in r.value["changes"]] == ["settled"]


def test_silent_producer_suspends_everything_until_recovery() -> None:
    other = "sr:match:77"
    state = run(alive(1, producer=1), odds_change(2), odds_change(2, event_id=other),
                odds_change(2, market("5"), producer=3), now_ms=NOW)
    plans = replay(state, [{"type": "producer_silent", "producer": 1, "ts": NOW}], 8,
                   now_ms=NOW + 20_000)
    assert plans[0].recovery_requests[0].value["request_id"] == 1
    assert plans[0].recovery_requests[0].value["after_ts"] == 1
    assert status(state) == "suspended" and status(state, f"{other}/1/") == "suspended"
    assert status(state, f"{E1}/5/") == "active"  # another producer's market
    # Odds still apply while down; the status stays suspended whatever the feed says.
    run(odds_change(3, market("1", 2.5, 3.0, 3.0)), state=state)
    assert status(state) == "suspended" and state.markets[K1]["outcomes"][0]["odds"] == 2.5
    run(alive(4), state=state)
    assert status(state) == "suspended"  # alive alone is not enough
    # The recovery resends K1's odds (stamped after the request); the other event's market
    # gets nothing new, so it stays suspended when the producer is back, until odds arrive.
    run(odds_change(NOW + 20_001, market("1", 2.6, 3.0, 3.0)), state=state)
    run(snapshot_complete(NOW + 20_002, request_id=1), state=state)
    assert status(state) == "active" and status(state, f"{other}/1/") == "suspended"
    run(odds_change(NOW + 20_003, event_id=other), state=state)
    assert status(state, f"{other}/1/") == "active"


def test_unsubscribed_alive_takes_the_producer_down_and_a_late_bet_stop_sticks() -> None:
    state = run(alive(1), odds_change(2), alive(3, subscribed=False))
    assert status(state) == "suspended"
    run(bet_stop(4), alive(5), snapshot_complete(6, request_id=1), state=state)
    assert status(state) == "suspended"  # the bet stop came after the last odds_change
    run(snapshot_complete(7, request_id=99), state=state)
    assert status(state) == "suspended"


def test_silence_check_does_nothing_while_alives_arrive() -> None:
    state = run(alive(1), odds_change(2), now_ms=NOW)
    plans = replay(state, [{"type": "producer_silent", "producer": 1, "ts": NOW}], 8,
                   now_ms=NOW + 5_000)
    assert not plans[0].recovery_requests and status(state) == "active"
