import orjson

from models.engine import plan_batch
from models.memory import MemoryState, replay
from tests.unit.feedmsg import E1, market, odds_change


def test_batch_coalesces_each_market_to_its_latest_state() -> None:
    state = MemoryState()
    records = [
        (3, E1.encode(), orjson.dumps(odds_change(1, market("1", 2.0, 3.0)))),
        (3, E1.encode(), orjson.dumps(odds_change(2, market("1", 2.2, 2.8),
                                                  market("2", 1.9, specifiers="b=1|a=2")))),
        (5, b"sr:match:2", orjson.dumps(odds_change(1, market("1", 1.5, 4.0),
                                                    event_id="sr:match:2"))),
    ]
    plan = plan_batch(records, state, lambda: 0)
    assert set(plan.markets) == {f"{E1}/1/", f"{E1}/2/a=2|b=1", "sr:match:2/1/"}
    first = plan.markets[f"{E1}/1/"]
    assert first.state["version"] == 2 and first.source == 3 and first.publish
    assert first.state["outcomes"][0]["odds"] == 2.2
    assert list(plan.events[E1].state["market_status"]) == [f"{E1}/1/", f"{E1}/2/a=2|b=1"]
    assert plan.verdicts["applied"] == 4
    # One record per published market version, its changes in the order the rule found them.
    assert [(r.key, r.value["version"], [(c["kind"], c["outcome_id"]) for c in r.value["changes"]])
            for r in plan.odds_changes] == [
        (f"{E1}/1/", 1, [("status", None), ("price", "1"), ("price", "2")]),
        (f"{E1}/1/", 2, [("price", "1"), ("price", "2")]),
        (f"{E1}/2/a=2|b=1", 1, [("status", None), ("price", "1")]),
        ("sr:match:2/1/", 1, [("status", None), ("price", "1"), ("price", "2")])]
    assert [r.source for r in plan.odds_changes] == [3, 3, 3, 5]


def test_bad_records_become_dead_letters_and_the_rest_applies() -> None:
    state = MemoryState()
    plan = plan_batch([(0, E1.encode(), b"garbage"),
                       (0, b"sr:match:9", orjson.dumps(odds_change(1))),
                       (0, b"sr:match:1", orjson.dumps({**odds_change(1), "type": "nope"})),
                       (0, E1.encode(), orjson.dumps(odds_change(1)))], state, lambda: 0)
    assert [(s, r.split(":")[0]) for s, r in plan.dead_letters] == [
        (0, "malformed JSON"), (0, "record key 'sr"), (0, "unknown message type 'nope'")]
    assert list(plan.markets) == [f"{E1}/1/"]


def test_replaying_the_input_changes_nothing() -> None:
    state = MemoryState()
    messages = [odds_change(ts, market("1", 2.0 + ts / 10, 3.0)) for ts in range(5)]
    replay(state, messages, 8)
    before = orjson.dumps([state.markets, state.events])
    plans = replay(state, messages, 8)
    assert not any(p.markets or p.events or p.odds_changes for p in plans)
    assert orjson.dumps([state.markets, state.events]) == before
    assert sum((p.verdicts for p in plans), start=plans[0].verdicts.__class__()) == {
        "duplicate": 5}


def test_an_exact_repeat_is_dropped_even_behind_newer_messages() -> None:
    state = MemoryState()
    first = odds_change(5, market("1", 2.0, 3.0, 4.0))
    replay(state, [first, odds_change(5, market("1", 2.5, 3.0, 4.0))], 8)
    (plan,) = replay(state, [first], 8)
    assert plan.verdicts == {"duplicate": 1} and not plan.markets
    assert state.markets[f"{E1}/1/"]["outcomes"][0]["odds"] == 2.5
