"""Hostile Betfair input through a running worker: bounded caches, an untrusted re-keyed topic.

A ladder grown to 60,000 prices, a 1.1 MB clock copied into five markets' changes, a change
that would take a ladder past Betfair's tick ladder, and records written straight to
``feed.raw.betfair.markets.v1`` with a key that is not UTF-8 or a handicap that is not a
number: each must end in ``feed.dlq.v1`` with its reason, no changelog write may fail for
size, the adapter must go on (a market sent after them is applied), and the markets they
aimed at must keep the state they had.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from models.keys import partition_for
from tests.integration.support import (
    BOOTSTRAP,
    Platform,
    Worker,
    event_body,
    eventually,
    read_all,
    read_compacted,
)

pytestmark = pytest.mark.timeout(600)

PARTITIONS = 8
MIB = 1024 * 1024
T0 = 1_700_000_000_000
STREAM_KEY = b"betfair-stream-1"
MARKET, EVENT = "1.42", "4242"
#: A market whose ladder is filled to the tick ladder's 350 prices, then pushed past it.
FULL_MARKET, FULL_EVENT = "1.77", "7777"
REKEYED_PARTITION = partition_for(MARKET.encode(), PARTITIONS)


def same_partition_market(first: int) -> str:
    """A market id from ``1.{first}`` on whose key hashes to the partition of MARKET."""
    number = first
    while partition_for(f"1.{number}".encode(), PARTITIONS) != REKEYED_PARTITION:
        number += 1
    return f"1.{number}"


#: Sent last, on the re-keyed partition of the hostile records: proves the adapter went on.
SENTINEL_MARKET, SENTINEL_EVENT = same_partition_market(4343), "4343"


def image(market_id: str, event_id: str, pt: int, back: list[list[float]]) -> dict[str, Any]:
    """A market change that replaces the market: two runners, ``back`` for runner 11."""
    return {"id": market_id, "img": True,
            "marketDefinition": {"eventId": event_id, "status": "OPEN", "inPlay": False,
                                 "betDelay": 0, "numberOfWinners": 1,
                                 "runners": [{"id": 11, "status": "ACTIVE"},
                                             {"id": 12, "status": "ACTIVE"}]},
            "rc": [{"id": 11, "atb": back}, {"id": 12, "atb": [[1.8, 5.0]]}]}


def mcm(*changes: dict[str, Any], pt: int, **fields: Any) -> bytes:
    return orjson.dumps({"op": "mcm", "clk": "AAAA", "pt": pt, "mc": list(changes), **fields})


def rekeyed(change: dict[str, Any], pt: int) -> bytes:
    """A record as the splitter writes it to the re-keyed topic."""
    return orjson.dumps({**change, "pt": pt, "ct": None})


def prices(count: int, start: int = 0, step: float = 0.01) -> list[list[float]]:
    """``count`` distinct back prices above 1.01, with sizes long enough to weigh."""
    return [[round(1.01 + (start + i) * step, 4), 12345.67] for i in range(count)]


def ladder_deltas() -> list[bytes]:
    """60,000 distinct back prices for MARKET in four deltas: over 1 MiB once cached."""
    return [mcm({"id": MARKET, "rc": [{"id": 11, "atb": prices(15_000, 15_000 * n, 0.0166)}]},
                pt=T0 + 100 + n) for n in range(4)]


def huge_clock() -> bytes:
    """A 1.1 MB clock on a message that changes five markets (MARKET among them)."""
    changes = [{"id": market_id, "rc": [{"id": 11, "atb": [[9.0, 1.0]]}]}
               for market_id in (MARKET, "1.91", "1.92", "1.93", "1.94")]
    return mcm(*changes, pt=T0 + 200, clk="A" * 1_100_000)


def hostile_rekeyed() -> list[tuple[bytes, bytes, str]]:
    """Records written straight to the re-keyed topic: ``(key, value, reason)``."""
    delta = {"id": MARKET, "rc": [{"id": 11, "atb": [[7.0, 3.0]]}]}
    bad_hc = {"id": MARKET, "rc": [{"id": 11, "hc": "abc", "atb": [[7.0, 3.0]]}]}
    return [
        (MARKET.encode() + b"\xff", rekeyed(delta, T0 + 300),
         r"betfair market: key b'1.42\xff' is not UTF-8"),
        (MARKET.encode(), rekeyed(bad_hc, T0 + 300),
         "betfair market: change.rc[0].hc is not a number"),
    ]


def raw_cases() -> list[tuple[bytes, str]]:
    """Raw stream records after the good ones: ``(value, reason)``."""
    over_the_ladder = mcm({"id": FULL_MARKET, "rc": [{"id": 11, "atb": prices(51, 300)}]},
                          pt=T0 + 400)
    return [
        *[(delta, "betfair: mc[0].rc[0].atb has 15000 entries, more than 350")
          for delta in ladder_deltas()],
        (huge_clock(), "betfair: message.clk is longer than 256 characters"),
        # Each change is within the bounds; the cache it would build is not.
        (over_the_ladder, "betfair market: runner 11 atb would hold 351 entries, more than 350"),
    ]


async def send(topic: str, records: list[tuple[bytes, bytes, int]]) -> list[int]:
    """Send ``(key, value, partition)`` in order; return their offsets."""
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=5,
                                enable_idempotence=True, max_request_size=8 * MIB)
    await producer.start()
    try:
        sent = [await producer.send(topic, key=key, value=value, partition=partition)
                for key, value, partition in records]
        return [(await future).offset for future in sent]
    finally:
        await producer.stop()


async def caches_of(platform: Platform, *market_ids: str) -> dict[str, Any] | None:
    """The latest changelog value of these markets' caches; None until all have one."""
    name = f"odds-{platform.name}-betfair-markets-changelog"
    caches = await read_compacted(platform.topic(name))
    if not all(market_id in caches for market_id in market_ids):
        return None
    return {market_id: caches[market_id] for market_id in market_ids}


async def dead_letters(topic: str) -> list[dict[str, Any]]:
    """Every dead letter so far (``read_all`` keeps keys that are not UTF-8 readable)."""
    return [letter for _key, letter in await read_all(topic)]


def assert_log_clean(worker: Worker) -> None:
    assert worker.proc.poll() is None, f"the worker exited:\n{worker.log_tail()}"
    for line in worker.log.read_text(errors="replace").splitlines():
        assert "MessageSizeTooLargeError" not in line, line
        for sign in ("traceback", "crashed", "critical"):
            assert sign not in line.lower(), f"{line}\n{worker.log_tail(80)}"


async def test_hostile_betfair_records_are_dead_lettered_and_leave_the_caches(
        platform: Platform) -> None:
    worker = await platform.start_worker()
    raw_topic = platform.topic("feed.raw.betfair.v1")
    rekeyed_topic = platform.topic("feed.raw.betfair.markets.v1")
    stream_partition = partition_for(STREAM_KEY, PARTITIONS)

    good = [mcm(image(MARKET, EVENT, T0, [[2.5, 10.0]]), pt=T0),
            mcm(image(FULL_MARKET, FULL_EVENT, T0, prices(300)), pt=T0)]
    await send(raw_topic, [(STREAM_KEY, value, stream_partition) for value in good])
    before = await eventually(lambda: event_body(worker, f"bf:event:{EVENT}"), 90,
                              "the market's event")
    await eventually(lambda: event_body(worker, f"bf:event:{FULL_EVENT}"), 60,
                     "the full market's event")
    caches_before = await eventually(lambda: caches_of(platform, MARKET, FULL_MARKET), 60,
                                     "both caches")
    assert len(caches_before[FULL_MARKET]["runners"]["11"]["atb"]) == 300

    direct = hostile_rekeyed()
    direct_offsets = await send(rekeyed_topic, [(key, value, REKEYED_PARTITION)
                                                for key, value, _reason in direct])
    raw = raw_cases()
    sentinel = mcm(image(SENTINEL_MARKET, SENTINEL_EVENT, T0 + 500, [[3.0, 1.0]]), pt=T0 + 500)
    raw_offsets = await send(raw_topic, [(STREAM_KEY, value, stream_partition)
                                         for value, _reason in raw]
                             + [(STREAM_KEY, sentinel, stream_partition)])
    expected = {(rekeyed_topic, REKEYED_PARTITION, offset): reason
                for offset, (_key, _value, reason) in zip(direct_offsets, direct, strict=True)}
    expected.update({(raw_topic, stream_partition, offset): reason
                     for offset, (_value, reason) in zip(raw_offsets[:-1], raw, strict=True)
                     if reason.startswith("betfair:")})

    await eventually(lambda: event_body(worker, f"bf:event:{SENTINEL_EVENT}"), 90,
                     "the sentinel market, sent after the hostile records")
    dlq = platform.topic("feed.dlq.v1")

    async def letters() -> list[dict[str, Any]] | None:
        found = await dead_letters(dlq)
        return found if len(found) >= len(expected) + 1 else None

    found = await eventually(letters, 90, f"{len(expected) + 1} dead letters")
    assert len(found) == len(expected) + 1, [letter["reason"] for letter in found]
    from_adapter = []
    for letter in found:
        source = letter["source"]
        where = (source["topic"], source["partition"], source["offset"])
        if where in expected:
            assert letter["reason"] == expected.pop(where)
        else:
            from_adapter.append(letter["reason"])
    assert not expected
    # The one change that passes the splitter and is refused by the cache's bound.
    assert from_adapter == [raw[-1][1]]

    assert await event_body(worker, f"bf:event:{EVENT}") == before
    assert await caches_of(platform, MARKET, FULL_MARKET) == caches_before
    assert await worker.status("/health") == 200
    assert_log_clean(worker)
