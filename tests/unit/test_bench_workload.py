"""The benchmark's workload: deterministic, valid against the contract, of the promised shape."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from bench.workload import BASE_TS, MARKETS, Workload, stamp
from models.feed import canonical_specifiers, decode


@pytest.fixture(scope="module")
def feed() -> list[tuple[bytes, bytes]]:
    return list(Workload(events=50, seed=3).generate(6000).records())


def test_same_seed_same_bytes_and_a_second_call_continues() -> None:
    first, second = Workload(20, seed=9), Workload(20, seed=9)
    assert first.generate(500).values == second.generate(500).values
    later = first.generate(100)
    assert later.values == second.generate(100).values
    assert all(orjson.loads(v)["type"] != "fixture_change" for v in later.values)
    assert Workload(20, seed=10).generate(500).values != Workload(20, seed=9).generate(500).values


def test_every_message_is_valid_keyed_by_its_event_and_sequentially_stamped(
        feed: list[tuple[bytes, bytes]]) -> None:
    records = feed
    for index, (key, value) in enumerate(records):
        message = decode(value)
        assert message["event_id"].encode() == key
        assert message["ts"] == BASE_TS + index


def test_shape_fixtures_first_then_odds_with_stops_and_status_changes(
        feed: list[tuple[bytes, bytes]]) -> None:
    records = feed
    messages = [orjson.loads(v) for _, v in records]
    assert [m["type"] for m in messages[:50]] == ["fixture_change"] * 50
    types = Counter(m["type"] for m in messages[50:])
    assert set(types) == {"odds_change", "bet_stop"}
    assert 0.01 < types["bet_stop"] / len(messages) < 0.03
    statuses: Counter[str] = Counter()
    margins = []
    for message in messages:
        for market in message.get("markets", ()):
            assert 2 <= len(market["outcomes"]) <= 3
            statuses[market["status"]] += 1
            odds = [o["odds"] for o in market["outcomes"]]
            assert all(1.01 <= o <= 1000 for o in odds)
            margins.append(sum(1 / o for o in odds) - 1)
        if message["type"] == "odds_change":
            assert 1 <= len(message["markets"]) <= 5
    assert set(statuses) == {"active", "suspended", "deactivated"}
    assert 0.003 < (statuses["suspended"] + statuses["deactivated"]) / statuses.total() < 0.03
    margins.sort()
    assert 0.03 < margins[len(margins) // 2] < 0.07


def test_forty_distinct_markets_per_event_some_with_two_specifiers() -> None:
    keys = {(m.market_id, canonical_specifiers(m.specifiers)) for m in MARKETS}
    assert len(MARKETS) == len(keys) == 40
    assert any("|" in specifiers for _, specifiers in keys)
    assert {m.market_id for m in MARKETS} >= {"1", "18", "16", "29", "8"}


def test_stamp_replaces_the_leading_ts_only(
        feed: list[tuple[bytes, bytes]]) -> None:
    records = feed
    value = records[100][1]
    stamped = stamp(value, 1_800_000_000_123)
    assert orjson.loads(stamped) == {**orjson.loads(value), "ts": 1_800_000_000_123}
    with pytest.raises(ValueError, match="13-digit"):
        stamp(value, 123)


def test_book_sends_every_market_of_every_event() -> None:
    workload = Workload(events=30, seed=4, first_event=7000)
    book = workload.book(per_message=5, repeat_fraction=0.25)
    sent = set()
    for value in book.values:
        message = decode(value)
        for market in message.get("markets", ()):
            sent.add((message["event_id"], market["id"], market["specifiers"]))
    assert len(sent) == 30 * 40
    assert book.stats["type:fixture_change"] == 30
    assert 30 * 8 < book.stats["type:odds_change"] < 30 * 8 * 1.5
