"""The match simulator: a deterministic feed that is valid, consistent and ends settled."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import orjson
import pytest

from feeds import sim_model as sm
from feeds.simulator import ALIVE_EVERY_MS, MatchSimulator
from models.event import public_event
from models.feed import decode
from models.memory import MemoryState, replay

START = 1_700_000_000_000
#: A seed whose run holds a cancel and its rollback, and a void.
SEED = 2
Feed = list[tuple[int, dict[str, Any]]]


def simulate(seed: int = SEED, events: int = 6, duration_s: float = 120.0,
             match_seconds: float = 30.0) -> Feed:
    return list(MatchSimulator(events, seed, START, match_seconds=match_seconds)
                .messages(duration_s))


@pytest.fixture(scope="module")
def feed() -> Feed:
    return simulate()


@pytest.fixture(scope="module")
def replayed(feed: Feed) -> tuple[MemoryState, list[Any]]:
    state = MemoryState()
    # The run's wall clock is its end: the producer never looks silent.
    plans = replay(state, [m for _, m in feed], 8, now_ms=START + feed[-1][0])
    return state, plans


def by_event(feed: Feed) -> dict[str, list[dict[str, Any]]]:
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, message in feed:
        if "event_id" in message:
            events[message["event_id"]].append(message)
    return events


def score(message: dict[str, Any]) -> tuple[int, int] | None:
    status = message.get("sport_event_status") or {}
    if "home_score" not in status:
        return None
    return status["home_score"], status["away_score"]


def test_same_seed_same_feed(feed: Feed) -> None:
    assert simulate() == feed
    assert simulate(seed=SEED + 1) != feed


def test_every_message_validates_and_is_in_time_order(feed: Feed) -> None:
    dues = [due for due, _ in feed]
    assert dues == sorted(dues)
    for due, message in feed:
        assert decode(orjson.dumps(message)) == message
        assert message["ts"] == START + due
    for messages in by_event(feed).values():
        stamps = [m["ts"] for m in messages]
        assert stamps == sorted(set(stamps)), "one event's messages have strictly rising ts"


def test_replay_leaves_every_market_settled(feed: Feed,
                                            replayed: tuple[MemoryState, list[Any]]) -> None:
    state, plans = replayed
    assert not [d for plan in plans for d in plan.dead_letters]
    verdicts = {v for plan in plans for v in plan.verdicts}
    assert not verdicts & {"stale", "duplicate", "dead_lettered"}
    events = by_event(feed)
    assert len(events) >= 12
    assert {m["event_id"] for m in state.markets.values()} == set(events)
    for snapshot in state.markets.values():
        assert snapshot["status"] == "settled", snapshot
        assert snapshot["settlement"]["certainty"] == 2
    for event_id in events:
        event = public_event(state.events[event_id])
        assert event["status"] == "ended" and event["match_status"] == 100
        assert set(event["market_counts"]) == {"settled"}


def test_goals_are_bet_stops_then_repricing(feed: Feed) -> None:
    goals = 0
    for messages in by_event(feed).values():
        last = (0, 0)
        open_markets: set[tuple[str, str]] = set()
        for before, message in zip([None, *messages], messages, strict=False):
            for market in message.get("markets", ()) if message["type"] == "odds_change" else ():
                key = (market["id"], market["specifiers"])
                if market["status"] == "deactivated":
                    open_markets.discard(key)
                else:
                    open_markets.add(key)
            now = score(message)
            if now is None or now == last:
                continue
            goals += 1
            assert sum(now) == sum(last) + 1 and min(a - b for a, b in zip(now, last,
                                                                            strict=True)) == 0
            assert before is not None and before["type"] == "bet_stop"
            assert before["groups"] == "all"
            repriced = {(m["id"], m["specifiers"]) for m in message["markets"]}
            assert open_markets <= repriced, "a goal reprices every open market"
            assert any(m["status"] == "active" for m in message["markets"])
            last = now
    assert goals > 10


def test_scores_agree_with_goals_and_settlements(feed: Feed) -> None:
    for messages in by_event(feed).values():
        stops = sum(m["type"] == "bet_stop" for m in messages)
        final = [s for s in map(score, messages) if s is not None][-1]
        assert sum(final) == stops
        settlements = [m for m in messages if m["type"] == "bet_settlement"]
        assert [m["certainty"] for m in settlements] == [1, 2]
        assert settlements[0]["markets"] == settlements[1]["markets"]
        for market in settlements[1]["markets"]:
            results = {o["id"]: o["result"] for o in market["outcomes"]}
            if "void_reason" in market:
                continue
            expected = expected_winners(market["id"], market["specifiers"], *final)
            if expected is not None:
                assert {o for o, r in results.items() if r == "won"} == expected, market


def expected_winners(market_id: str, specifiers: str, home: int,
                     away: int) -> set[str] | None:
    """The winning outcomes from the final score, written independently of sim_model."""
    value = float(specifiers.partition("=")[2]) if specifiers else 0.0
    if market_id == "1":
        return {"1"} if home > away else {"3"} if away > home else {"2"}
    if market_id == "18":
        return {"12"} if home + away > value else {"13"}
    if market_id == "29":
        return {"74"} if home and away else {"76"}
    if market_id == "16":
        return {"1714"} if home + value > away else {"1715"}
    if market_id == "8" and value > home + away:
        return {"7"}
    return None  # who scored goal N is checked from the scores, in the test below


def scorers(messages: list[dict[str, Any]]) -> list[str]:
    """The side of each goal in order, read from the score after each goal."""
    sides, last = [], (0, 0)
    for now in filter(None, map(score, messages)):
        if now != last:
            sides.append("home" if now[0] > last[0] else "away")
            last = now
    return sides


def test_settlements_have_one_winner_and_next_goal_goes_to_its_scorer() -> None:
    next_goals = 0
    for seed in range(12):
        for messages in by_event(simulate(seed=seed)).values():
            goals = scorers(messages)
            settlement = [m for m in messages if m["type"] == "bet_settlement"][-1]
            for market in settlement["markets"]:
                won = [o["id"] for o in market["outcomes"] if o["result"] == "won"]
                # One side scores a given goal: a winner, never two, unless the market is void.
                assert len(won) == (0 if "void_reason" in market else 1), market
                assert not any("dead_heat_factor" in o for o in market["outcomes"]), market
                if market["id"] != "8" or "void_reason" in market:
                    continue
                number = int(market["specifiers"].removeprefix("goalnr="))
                side = goals[number - 1] if number <= len(goals) else None
                assert won == [{"home": "6", None: "7", "away": "8"}[side]], (market, goals)
                assert {o["id"] for o in market["outcomes"]} == {"6", "7", "8"}
                next_goals += 1
    assert next_goals > 200


def test_match_status_and_clock_progress() -> None:
    feed = simulate(seed=5, events=2, duration_s=130.0, match_seconds=90.0)
    for messages in by_event(feed).values():
        statuses = [m["sport_event_status"] for m in messages if "sport_event_status" in m]
        phases = [s["match_status"] for s in statuses]
        assert [p for i, p in enumerate(phases) if i == 0 or p != phases[i - 1]] == [
            0, 6, 31, 7, 100]
        clocks = [s["clock"] for s in statuses if "clock" in s]
        assert clocks[0] == "00:00" and clocks[-1] == "90:00"
        assert clocks == sorted(clocks)
        assert statuses[-1]["status"] == "ended"
        # One match minute per simulated second.
        kick_off = next(m for m in messages if score(m) is not None)
        end = next(m for m in messages if m.get("sport_event_status", {}).get("status")
                   == "ended")
        assert end["ts"] - kick_off["ts"] == pytest.approx(105_000, abs=2)
        fixture = messages[0]
        assert fixture["type"] == "fixture_change" and fixture["start_time"] == kick_off["ts"]


def test_alive_every_ten_seconds(feed: Feed) -> None:
    alive = [(due, m) for due, m in feed if m["type"] == "alive"]
    assert [due for due, _ in alive] == list(range(0, 120_001, ALIVE_EVERY_MS))
    assert all(m == {"type": "alive", "producer": 1, "ts": START + due, "subscribed": True}
               for due, m in alive)


def test_odds_are_sane(feed: Feed) -> None:
    margins = []
    for _, message in feed:
        for market in message.get("markets", ()) if message["type"] == "odds_change" else ():
            prices = [o["odds"] for o in market["outcomes"] if "odds" in o]
            assert all(1.0 < p <= 1000.0 and round(p, 2) == p for p in prices)
            if market["status"] == "deactivated":
                assert not prices
            if market["id"] == "1" and market["status"] == "active":
                margins.append(sum(1 / p for p in prices) - 1)
    assert margins and all(0.0 < m < 0.15 for m in margins)
    assert 0.03 < sum(margins) / len(margins) < 0.07


def test_cancel_rollback_and_void(feed: Feed, replayed: tuple[MemoryState, list[Any]]) -> None:
    state, _ = replayed
    cancels = [m for _, m in feed if m["type"] == "bet_cancel"]
    assert cancels
    for cancel in cancels:
        rollback = next(m for _, m in feed if m["type"] == "rollback_bet_cancel"
                        and m["event_id"] == cancel["event_id"])
        assert rollback["ts"] > cancel["ts"]
        assert [(m["id"], m["specifiers"]) for m in rollback["markets"]] == [
            (m["id"], m["specifiers"]) for m in cancel["markets"]]
        assert cancel["start_time"] < cancel["end_time"] == rollback["end_time"]
        market = cancel["markets"][0]
        key = f"{cancel['event_id']}/{market['id']}/{market['specifiers']}"
        assert state.markets[key]["cancels"] == []  # its window was rolled back
        assert state.markets[key]["status"] == "settled"
    outcomes = [(market, o) for _, m in feed if m["type"] == "bet_settlement"
                for market in m["markets"] for o in market["outcomes"]]
    voided = [(market, o) for market, o in outcomes if "void_factor" in o]
    assert voided and all(o["void_factor"] == 1.0 and o["result"] == "lost"
                          and "void_reason" in market for market, o in voided)


def test_a_finite_run_starts_only_matches_it_can_settle() -> None:
    with pytest.raises(ValueError, match="simulated seconds"):
        MatchSimulator(1, 1, START).messages(60.0)
    feed = simulate(events=3, duration_s=60.0, match_seconds=45.0)
    assert feed[-1][0] <= 60_000
    assert sum(m["type"] == "bet_settlement" for _, m in feed) == 6


def test_price_spreads_the_margin_and_suspends_the_decided() -> None:
    odds, bettable = sm.price({"1": 0.45, "2": 0.28, "3": 0.27}, 0.05)
    assert bettable and sum(1 / p for p in odds.values()) - 1 == pytest.approx(0.05, abs=0.01)
    odds, bettable = sm.price({"12": 0.96, "13": 0.04}, 0.05)
    assert bettable and odds["12"] > 1.01 and 1 / odds["13"] > 0.04 * 1.05
    odds, bettable = sm.price({"12": 1.0, "13": 0.0}, 0.05)
    assert not bettable and odds == {"12": 1.01, "13": 1000.0}


def test_probabilities_sum_to_one_and_drop_decided_markets() -> None:
    priced = sm.probabilities(1, 0, 0.8, 0.6)
    for chances in priced.values():
        assert sum(chances.values()) == pytest.approx(1.0)
    assert (sm.TOTAL, "total=0.5") not in priced
    assert (sm.NEXT_GOAL, "goalnr=1") not in priced and (sm.NEXT_GOAL, "goalnr=2") in priced
    none = priced[(sm.NEXT_GOAL, "goalnr=2")]["7"]
    assert none == pytest.approx(math.exp(-1.4))
    assert (sm.BOTH_SCORE, "") not in sm.probabilities(1, 1, 0.8, 0.6)
    final = sm.probabilities(2, 1, 0.0, 0.0)
    assert final[(sm.MATCH_RESULT, "")] == {"1": 1.0, "2": 0.0, "3": 0.0}
