"""The decoded-value cache of the RocksDB table path: bounded, oldest write out first."""

from tables import state
from tables.io import CACHE_CAPACITY, DecodedCache, RocksTableIO


def test_holds_at_most_its_capacity_and_evicts_the_least_recently_written() -> None:
    cache = DecodedCache(2)
    cache.put(0, b"a", {"v": 1})
    cache.put(0, b"b", {"v": 2})
    cache.put(0, b"a", {"v": 3})  # rewritten: now the newest
    cache.put(1, b"a", {"v": 4})  # another partition's key of the same name
    assert cache.get(0, b"b") is None
    assert cache.get(0, b"a") == {"v": 3}
    assert cache.get(1, b"a") == {"v": 4}
    assert len(cache.values) == 2


def test_clear_forgets_everything() -> None:
    cache = DecodedCache(8)
    cache.put(3, b"k", {"v": 1})
    cache.clear()
    assert cache.get(3, b"k") is None


def test_the_markets_cache_is_sized_by_the_setting_and_zero_turns_it_off() -> None:
    sized = RocksTableIO(market_cache=100).caches
    assert sized[state.markets.name].capacity == 100
    assert {name: sized[name].capacity for name in CACHE_CAPACITY} == CACHE_CAPACITY
    assert state.markets.name not in RocksTableIO(market_cache=0).caches
