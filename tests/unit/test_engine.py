from typing import Any

import orjson

from models.engine import plan_batch
from models.market import Snapshot


def message(event_id: str, ts: int, *markets: tuple[str, str, list[float]]) -> bytes:
    return orjson.dumps({
        "type": "odds_change", "event_id": event_id, "producer": 1, "ts": ts,
        "markets": [{"id": mid, "specifiers": spec,
                     "outcomes": [{"id": str(i), "odds": p} for i, p in enumerate(prices)]}
                    for mid, spec, prices in markets],
    })


def run(records: list[tuple[str, bytes | None]], markets: dict[str, Snapshot],
        events: dict[str, Snapshot]) -> Any:
    plan = plan_batch(((i, k.encode(), v) for i, (k, v) in enumerate(records)),
                      lambda _s, key: markets.get(key), lambda _s, key: events.get(key))
    for key, change in plan.markets.items():
        markets[key] = change.snapshot
    for key, (_s, index) in plan.events.items():
        events[key] = index
    return plan


def test_batch_coalesces_each_market_to_its_latest_state() -> None:
    markets: dict[str, Snapshot] = {}
    events: dict[str, Snapshot] = {}
    plan = run([("e:m:1", message("e:m:1", 1, ("1", "", [2.0, 3.0]))),
                ("e:m:1", message("e:m:1", 2, ("1", "", [2.2, 2.8]), ("2", "b=1|a=2", [1.9]))),
                ("e:m:2", message("e:m:2", 1, ("1", "", [1.5, 4.0])))], markets, events)
    assert set(plan.markets) == {"e:m:1/1/", "e:m:1/2/a=2|b=1", "e:m:2/1/"}
    assert markets["e:m:1/1/"]["version"] == 2
    assert markets["e:m:1/1/"]["outcomes"][0]["odds"] == 2.2
    assert plan.markets["e:m:1/1/"].source == 1
    assert events["e:m:1"]["market_keys"] == ["e:m:1/1/", "e:m:1/2/a=2|b=1"]
    assert plan.verdicts["applied"] == 4


def test_bad_records_become_dead_letters_and_the_rest_applies() -> None:
    markets: dict[str, Snapshot] = {}
    plan = run([("e:m:1", b"garbage"),
                ("e:m:9", message("e:m:1", 1, ("1", "", [2.0]))),
                ("e:m:1", message("e:m:1", 1, ("1", "", [2.0])))], markets, {})
    assert [(s, r.split(":")[0]) for s, r in plan.dead_letters] == [
        (0, "malformed JSON"), (1, "record key b'e")]
    assert list(markets) == ["e:m:1/1/"]


def test_replaying_a_batch_changes_nothing() -> None:
    markets: dict[str, Snapshot] = {}
    events: dict[str, Snapshot] = {}
    records = [("e:m:1", message("e:m:1", ts, ("1", "", [2.0 + ts / 10, 3.0])))
               for ts in range(5)]
    run(records, markets, events)
    before = orjson.dumps(markets)
    replay = run(records, markets, events)
    assert not replay.markets and not replay.events
    assert orjson.dumps(markets) == before
    assert replay.verdicts == {"stale": 4, "duplicate": 1}
