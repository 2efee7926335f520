"""Hostile and broken input through a running worker: dead letters with reasons, nothing else.

Every record here is sent to a real worker over Kafka. Each bad record must land in
``feed.dlq.v1`` once, with a reason that says what was wrong, must leave the state as it was
(``GET /events/{id}``, ``markets.v1``, ``events.v1``), and the agent must go on with the next
record. The expectations are computed with the same pure functions the worker runs
(``models.feed.decode`` through the planner, the UOF and Betfair adapters), and checked against
them first, so the test also fails when a reason it relies on changes.
"""

from __future__ import annotations

import asyncio
import copy
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from feeds import betfair
from feeds.errors import AdapterError
from feeds.generator import OddsGenerator
from feeds.uof import translate_uof
from models.engine import Rules, plan_batch
from models.feed import FeedError, decode
from models.keys import partition_for
from models.market import Snapshot
from models.memory import MemoryState
from tests.integration.support import (
    BOOTSTRAP,
    Platform,
    Worker,
    drained,
    end_offsets,
    event_body,
    eventually,
    read_all,
    read_compacted,
)
from web.shapes import event_view

pytestmark = pytest.mark.timeout(600)

PARTITIONS = 8
KNOWN = "sr:match:1"
T0 = 1_700_000_000_000
MIB = 1024 * 1024
STREAM_KEY = b"betfair-stream-1"


#: The worker's own placement and clock checks (the feed's ts are T0, long past).
RULES = Rules(partitions=PARTITIONS, max_future_ms=300_000)


def wall_clock() -> int:
    return int(time.time() * 1000)


def partition_of(key: bytes | None) -> int:
    """The partition the worker reads a record from: its key's (the test sends it there)."""
    return partition_for(key or b"", PARTITIONS)


def same_partition_event(event_id: str, first: int) -> str:
    """An event id from ``sr:match:{first}`` on that hashes to the partition of ``event_id``."""
    wanted = partition_for(event_id.encode(), PARTITIONS)
    number = first
    while partition_for(f"sr:match:{number}".encode(), PARTITIONS) != wanted:
        number += 1
    return f"sr:match:{number}"


#: Events that prove each agent went on after the hostile records: same partitions, sent last.
FEED_SENTINEL = same_partition_event(KNOWN, 100)
UOF_SENTINEL = same_partition_event(KNOWN, 200)
BETFAIR_SENTINEL = "bf:event:4242"


def odds_change(event_id: str, ts: int, odds: Any = 2.5, **extra: Any) -> dict[str, Any]:
    return {"type": "odds_change", "event_id": event_id, "producer": 1, "ts": ts,
            "markets": [{"id": "1", "specifiers": "", "status": "active",
                         "outcomes": [{"id": "1", "odds": odds, "active": True},
                                      {"id": "2", "odds": 1.6, "active": True}]}], **extra}


def raw_odds(odds_text: str, event_id: str = KNOWN) -> bytes:
    """A canonical odds_change whose first price is the literal JSON text ``odds_text``."""
    return orjson.dumps(odds_change(event_id, T0 + 5000, "@ODDS@")).replace(
        b'"@ODDS@"', odds_text.encode())


def uof_odds(odds: str, event_id: str = KNOWN, outcome: str = "1", ts: int = T0 + 5000) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<odds_change event_id="{event_id}" '
            f'timestamp="{ts}" product="1"><odds><market id="1" status="1">'
            f'<outcome id="{outcome}" odds="{odds}" active="1"/>'
            f'<outcome id="2" odds="1.6" active="1"/></market></odds></odds_change>').encode()


def mcm(market_id: str = "1.42", price: Any = 2.5, event_id: str = "4242",
        pt: Any = T0 + 5000) -> dict[str, Any]:
    return {"op": "mcm", "clk": "1", "pt": pt, "mc": [{
        "id": market_id, "img": True,
        "marketDefinition": {"eventId": event_id, "status": "OPEN", "inPlay": False,
                             "betDelay": 0, "numberOfWinners": 1,
                             "runners": [{"id": 11, "status": "ACTIVE"},
                                         {"id": 12, "status": "ACTIVE"}]},
        "rc": [{"id": 11, "atb": [[price, 10.0]]}, {"id": 12, "atb": [[1.8, 5.0]]}]}]}


def raw_mcm(price_text: str) -> bytes:
    return orjson.dumps(mcm(price="@P@")).replace(b'"@P@"', price_text.encode())


BILLION_LAUGHS = ("""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<odds_change event_id="sr:match:1" timestamp="1700000005000" product="1">
<odds><market id="1"><outcome id="&lol9;" odds="2.5"/></market></odds></odds_change>""")
XXE = ("""<?xml version="1.0"?>
<!DOCTYPE odds_change [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<odds_change event_id="sr:match:1" timestamp="1700000005000" product="1">
<odds><market id="1"><outcome id="&xxe;" odds="2.5"/></market></odds></odds_change>""")
EXTERNAL_DTD = ('<?xml version="1.0"?>\n<!DOCTYPE odds_change SYSTEM "http://127.0.0.1:9/x.dtd">'
                '<odds_change event_id="sr:match:1" timestamp="1700000005000" product="1"/>')
PARAMETER_ENTITY = ('<?xml version="1.0"?>\n<!DOCTYPE odds_change [<!ENTITY % p SYSTEM '
                    '"file:///etc/passwd"> %p;]><odds_change/>')
XINCLUDE = ('<odds_change xmlns:xi="http://www.w3.org/2001/XInclude">'
            '<xi:include href="file:///etc/passwd" parse="text"/></odds_change>')


@dataclass
class Case:
    """One hostile record and the words its dead letter's reason must contain."""

    name: str
    value: bytes | None
    reason: str
    key: bytes = KNOWN.encode()
    #: Passes its adapter and is refused by the odds agent: its dead letter comes from
    #: feed.v1, found by this text in the translated record.
    marker: str | None = None


def feed_cases() -> list[Case]:
    ts = T0 + 5000
    base = odds_change(KNOWN, ts)
    no_event = {k: v for k, v in base.items() if k != "event_id"}
    no_markets = {k: v for k, v in base.items() if k != "markets"}
    return [
        Case("malformed JSON", b'{"type": "odds_change", "event_id": "sr:match:1", ',
             "malformed JSON"),
        Case("XML on the JSON topic", uof_odds("2.5"), "malformed JSON"),
        Case("not an object", b"[1, 2, 3]", "message is not a JSON object"),
        Case("empty value (tombstone)", None, "empty record"),
        Case("empty bytes", b"", "malformed JSON"),
        Case("producer as string", orjson.dumps({**base, "producer": "1"}),
             "producer must be an integer"),
        Case("ts as string", orjson.dumps({**base, "ts": "1700000005000"}),
             "ts must be an integer of milliseconds"),
        Case("markets as object", orjson.dumps({**base, "markets": {"1": {}}}),
             "markets must be a list"),
        Case("odds as string", orjson.dumps(odds_change(KNOWN, ts, "2.5")),
             "odds must be a number > 1 and <= 10000"),
        Case("active as string", orjson.dumps(
            {**base, "markets": [{**base["markets"][0], "outcomes": [
                {"id": "1", "odds": 2.5, "active": "yes"}]}]}), "active must be a boolean"),
        Case("missing event_id", orjson.dumps(no_event), "'event_id' is a required property"),
        Case("missing markets", orjson.dumps(no_markets), "'markets' is a required property"),
        Case("bet_stop without groups", orjson.dumps(
            {"type": "bet_stop", "event_id": KNOWN, "producer": 1, "ts": ts}),
            "bet_stop breaks the contract"),
        Case("unknown type", orjson.dumps({**base, "type": "odds_explosion"}),
             "unknown message type 'odds_explosion'"),
        Case("no type", orjson.dumps({k: v for k, v in base.items() if k != "type"}),
             "unknown message type None"),
        Case("zero odds", orjson.dumps(odds_change(KNOWN, ts, 0)), "odds must be a number > 1"),
        Case("odds of exactly 1", orjson.dumps(odds_change(KNOWN, ts, 1.0)),
             "odds must be a number > 1"),
        Case("negative odds", orjson.dumps(odds_change(KNOWN, ts, -2.5)),
             "odds must be a number > 1"),
        Case("NaN odds", raw_odds("NaN"), "malformed JSON"),
        Case("Infinity odds", raw_odds("Infinity"), "malformed JSON"),
        Case("-Infinity odds", raw_odds("-Infinity"), "malformed JSON"),
        Case("1e999 odds", raw_odds("1e999"), "malformed JSON: number is infinity"),
        Case("absurd odds", orjson.dumps(odds_change(KNOWN, ts, 10000.01)),
             "odds must be a number > 1 and <= 10000"),
        Case("absurd odds 1e300", raw_odds("1e300"), "odds must be a number > 1 and <= 10000"),
        Case("huge integer ts", raw_odds("2.5").replace(str(ts).encode(), b"9" * 40),
             "ts must be an integer of milliseconds"),
        Case("negative producer", orjson.dumps({**base, "producer": -1}),
             "producer must be an integer from 0 to 1000"),
        Case("over 1 MiB", orjson.dumps({**base, "padding": "x" * (MIB + 10_000)}),
             f"bytes exceeds {MIB}"),
        Case("100k nested arrays", b"[" * 100_000 + b"]" * 100_000,
             "malformed JSON: depth limit exceeded"),
        Case("deep nesting inside a message",
             orjson.dumps({**base, "extra": "@DEEP@"}).replace(
                 b'"@DEEP@"', b"[" * 5000 + b"]" * 5000), "depth limit exceeded"),
        Case("invalid UTF-8", orjson.dumps(base).replace(b"sr:match:1", b"sr:match:\xff\xfe"),
             "malformed JSON: str is not valid UTF-8"),
        Case("lone surrogate", orjson.dumps(base).replace(b'"active"', b'"\xed\xa0\x80"', 1),
             "not valid UTF-8"),
        Case("key of another event", orjson.dumps(odds_change("sr:match:2", ts)),
             "does not match event_id 'sr:match:2'"),
        Case("producer message on an event key", orjson.dumps(
            {"type": "alive", "producer": 1, "ts": ts, "subscribed": False}),
            "of a producer message must be 'producer:1'"),
        Case("event id that is not a URN", orjson.dumps(odds_change("1; DROP TABLE x", ts)),
             "event_id must be a URN", key=b"1; DROP TABLE x"),
    ]


def uof_cases() -> list[Case]:
    return [
        Case("malformed XML", b'<odds_change event_id="sr:match:1" ', "uof: malformed XML"),
        Case("empty record", b"", "uof: empty record"),
        Case("empty value (tombstone)", None, "uof: empty record"),
        Case("billion laughs", BILLION_LAUGHS.encode(), "uof: DOCTYPE not allowed"),
        Case("external entity (XXE)", XXE.encode(), "uof: DOCTYPE not allowed"),
        Case("external DTD", EXTERNAL_DTD.encode(), "uof: DOCTYPE not allowed"),
        Case("parameter entity", PARAMETER_ENTITY.encode(), "uof: DOCTYPE not allowed"),
        Case("undeclared entity", b'<odds_change event_id="&xxe;"/>',
             "uof: malformed XML: undefined entity"),
        Case("XInclude is not processed", XINCLUDE.encode(), "uof: <odds_change> lacks"),
        Case("invalid UTF-8", uof_odds("2.5").replace(b'id="2"', b'id="\xff"'),
             "uof: invalid UTF-8 at byte"),
        Case("UTF-16", uof_odds("2.5").decode().encode("utf-16"), "uof: invalid UTF-8 at byte 0"),
        Case("over 1 MiB", uof_odds("2.5") + b"<!--" + b"x" * MIB + b"-->",
             f"uof: record of {len(uof_odds('2.5')) + 7 + MIB} bytes exceeds {MIB}"),
        Case("deep nesting", b"<odds_change>" + b"<a>" * 100_000 + b"</a>" * 100_000
             + b"</odds_change>", "uof: XML nested deeper than 16"),
        Case("too many elements", b"<odds_change>" + b"<a/>" * 100_001 + b"</odds_change>",
             "uof: XML has more than 100000 elements"),
        Case("unknown message", b"<odds_explosion/>", "uof: unknown UOF message <odds_explosion>"),
        Case("missing event id", uof_odds("2.5").replace(b'event_id="sr:match:1" ', b""),
             "uof: <odds_change> lacks event_id"),
        Case("timestamp not an integer", uof_odds("2.5").replace(
            b'timestamp="1700000005000"', b'timestamp="soon"'), "is not an integer"),
        Case("NaN odds", uof_odds("NaN"), "uof: <outcome> odds='NaN' is not a finite number"),
        Case("INF odds", uof_odds("INF"), "is not a finite number"),
        Case("1e999 odds", uof_odds("1e999"), "uof: <outcome> odds='1e999' is not a finite"),
        Case("odds not a number", uof_odds("2,5"), "is not a finite number"),
        Case("zero odds", uof_odds("0", outcome="zero-odds"), "odds must be a number > 1",
             marker='"id":"zero-odds"'),
        Case("negative odds", uof_odds("-3.5", outcome="negative-odds"),
             "odds must be a number > 1", marker='"id":"negative-odds"'),
        Case("absurd odds", uof_odds("20000", outcome="absurd-odds"),
             "odds must be a number > 1 and <= 10000", marker='"id":"absurd-odds"'),
    ]


def betfair_cases() -> list[Case]:
    key = STREAM_KEY
    good = mcm()
    no_pt = {k: v for k, v in good.items() if k != "pt"}
    return [
        Case("malformed JSON", b'{"op": "mcm", ', "betfair: malformed JSON", key),
        Case("not an object", b'"mcm"', "betfair: message is not a JSON object", key),
        Case("empty value (tombstone)", None, "betfair: empty record", key),
        Case("unknown op", orjson.dumps({**good, "op": "ocm"}),
             "betfair: op 'ocm' is not 'mcm'", key),
        Case("unknown change type", orjson.dumps({**good, "ct": "RESYNC"}),
             "betfair: unknown change type 'RESYNC'", key),
        Case("missing pt", orjson.dumps(no_pt), "betfair: pt is not an integer", key),
        Case("pt as string", orjson.dumps({**good, "pt": "1700000005000"}),
             "betfair: pt is not an integer", key),
        Case("mc not a list", orjson.dumps({**good, "mc": {"id": "1.42"}}),
             "betfair: mc is not a list", key),
        Case("price as string", orjson.dumps(mcm(price="2.5")), "price is not a number", key),
        Case("negative price", orjson.dumps(mcm(price=-2.5)), "price is below 0", key),
        Case("NaN price", raw_mcm("NaN"), "betfair: malformed JSON", key),
        Case("Infinity price", raw_mcm("Infinity"), "betfair: malformed JSON", key),
        Case("1e999 price", raw_mcm("1e999"), "betfair: malformed JSON: number is infinity",
             key),
        Case("over 4 MiB", orjson.dumps({**good, "pad": "x" * (5 * MIB)}),
             f"betfair: record of {len(orjson.dumps({**good, 'pad': 'x' * (5 * MIB)}))} "
             f"bytes exceeds {4 * MIB}", key),
        Case("deep nesting", b"[" * 100_000 + b"]" * 100_000,
             "betfair: malformed JSON: depth limit exceeded", key),
        Case("invalid UTF-8", orjson.dumps(good).replace(b'"4242"', b'"42\xff"'),
             "betfair: malformed JSON", key),
        Case("market id with spaces", orjson.dumps(mcm(market_id="1 42")),
             "betfair: mc[0].id is not a market id", key),
    ]


def check_against_the_pure_functions(cases: list[Case], topic: str) -> None:
    """Each case's reason is what the worker's own pure code says about that record."""
    for case in cases:
        if topic == "feed":
            # Sent to the known event's partition, as the test below sends them.
            plan = plan_batch([(partition_of(KNOWN.encode()), case.key, case.value)],
                              MemoryState(), wall_clock, RULES)
            reasons = [reason for _source, reason in plan.dead_letters]
        elif case.marker is not None:  # UOF translates; the contract refuses the result
            (message,) = translate_uof(case.value or b"")
            try:
                decode(orjson.dumps(message))
                reasons = []
            except FeedError as exc:
                reasons = [exc.reason]
        else:
            try:
                if topic == "uof":
                    translate_uof(case.value or b"")
                else:
                    betfair.market_changes(betfair.parse_stream_message(case.value))
                reasons = []
            except AdapterError as exc:
                reasons = [f"{topic}: {exc.reason}"]
        assert len(reasons) == 1 and case.reason in reasons[0], (
            f"{topic} case {case.name!r}: expected a reason with {case.reason!r}, the pure code "
            f"gives {reasons}")


async def send_all(producer: AIOKafkaProducer, topic: str, partition: int,
                   records: list[tuple[bytes, bytes | None]]) -> list[int]:
    """Send records in order to one partition; return their offsets."""
    futures = [await producer.send(topic, key=key, value=value, partition=partition)
               for key, value in records]
    return [metadata.offset for metadata in await asyncio.gather(*futures)]


def big_producer() -> AIOKafkaProducer:
    # Larger than any hostile record, so the broker (topic max.message.bytes) decides.
    return AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", enable_idempotence=True,
                            linger_ms=5, max_request_size=10 * MIB)


async def metric(worker: Worker, name: str, labels: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{worker.url}/metrics") as resp:
        text = await resp.text()
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def assert_worker_unharmed(worker: Worker) -> None:
    assert worker.proc.poll() is None, f"the worker exited:\n{worker.log_tail()}"
    log = worker.log.read_text(errors="replace")
    for sign in ("Traceback", "crashed", "CRITICAL"):
        assert sign not in log, f"{sign!r} in the worker log:\n{worker.log_tail(80)}"


async def records_after(topic: str, start: dict[int, int]) -> list[tuple[int, str]]:
    """``(partition, key)`` of every record of ``topic`` written after the offsets ``start``."""
    ends = await end_offsets(topic)
    parts = [TopicPartition(topic, p) for p, end in ends.items() if end > start.get(p, 0)]
    if not parts:
        return []
    found: list[tuple[int, str]] = []
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False,
                                isolation_level="read_committed")
    await consumer.start()
    try:
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, start.get(tp.partition, 0))
        remaining = set(parts)
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            for tp, batch in (await consumer.getmany(timeout_ms=1000)).items():
                for record in batch:
                    found.append((tp.partition, (record.key or b"").decode()))
            for tp in list(remaining):  # by position: the log ends with a commit marker
                if await consumer.position(tp) >= ends[tp.partition]:
                    remaining.discard(tp)
        assert not remaining, f"could not read {topic} to its end"
    finally:
        await consumer.stop()
    return found


async def test_hostile_records_are_dead_lettered_with_their_reason_and_change_nothing(
        platform: Platform) -> None:
    feed, uof, bf = feed_cases(), uof_cases(), betfair_cases()
    check_against_the_pure_functions(feed, "feed")
    check_against_the_pure_functions(uof, "uof")
    check_against_the_pure_functions(bf, "betfair")

    worker = await platform.start_worker()
    feed_topic, uof_topic = platform.topic("feed.v1"), platform.topic("feed.raw.uof.v1")
    betfair_topic = platform.topic("feed.raw.betfair.v1")
    known_partition = partition_for(KNOWN.encode(), PARTITIONS)
    stream_partition = partition_for(STREAM_KEY, PARTITIONS)
    producer = big_producer()
    await producer.start()
    try:
        await send_all(producer, feed_topic, known_partition,
                       [(KNOWN.encode(), orjson.dumps(odds_change(KNOWN, T0)))])
        before = await eventually(lambda: event_body(worker, KNOWN), 90, "the known event")
        markets_start = await end_offsets(platform.topic("markets.v1"))
        events_start = await end_offsets(platform.topic("events.v1"))

        rss_before = worker.rss_mib()
        started = time.monotonic()
        offsets: dict[tuple[str, int], Case] = {}
        for topic, partition, cases, sentinel in (
                (feed_topic, known_partition, feed,
                 (FEED_SENTINEL.encode(), orjson.dumps(odds_change(FEED_SENTINEL, T0)))),
                (uof_topic, known_partition, uof,
                 (UOF_SENTINEL.encode(), uof_odds("2.5", event_id=UOF_SENTINEL))),
                (betfair_topic, stream_partition, bf,
                 (STREAM_KEY, orjson.dumps(mcm(market_id="1.4242"))))):
            sent = await send_all(producer, topic, partition,
                                  [(case.key, case.value) for case in cases] + [sentinel])
            offsets.update({(topic, partition, offset): case
                            for case, offset in zip(cases, sent[:-1], strict=True)
                            if case.marker is None})
    finally:
        await producer.stop()

    # Each agent went on: the record after the hostile ones, on the same partition, applied.
    for event_id in (FEED_SENTINEL, UOF_SENTINEL, BETFAIR_SENTINEL):
        await eventually(lambda e=event_id: event_body(worker, e), 90,
                         f"{event_id}, sent after the hostile records")
    expected = len(feed) + len(uof) + len(bf)
    dlq = platform.topic("feed.dlq.v1")

    async def all_dead_lettered() -> list[tuple[str, Any]] | None:
        letters = await read_all(dlq)
        return letters if len(letters) >= expected else None

    await eventually(all_dead_lettered, 60, f"{expected} dead letters")
    elapsed = time.monotonic() - started
    # Every record sent has been read and its output committed (the adapters' topics first,
    # then feed.v1, which they write): a dead letter too many would be in the topic now.
    await drained(f"odds-{platform.name}", (uof_topic, betfair_topic,
                                   platform.topic("feed.raw.betfair.markets.v1"), feed_topic),
                  60)
    letters = [letter for _key, letter in await read_all(dlq)]
    assert len(letters) == expected, [letter["reason"] for letter in letters]

    matched: list[int] = []
    for letter in letters:
        source = letter["source"]
        case = offsets.get((source["topic"], source["partition"], source["offset"]))
        if case is None:  # refused by the odds agent after the UOF adapter translated it
            assert source["topic"] == feed_topic, letter["reason"]
            (case,) = [c for c in uof if c.marker and c.marker in letter["original"]]
        else:
            assert letter["original_size"] == len(case.value or b"")
            assert letter["truncated"] == (len(case.value or b"") > 256 * 1024)
        assert case.reason in letter["reason"], (case.name, letter["reason"])
        matched.append(id(case))
    assert len(set(matched)) == expected, "a record was dead-lettered twice"

    # State untouched: the known event, and nothing on the outbound topics but the sentinels.
    assert await event_body(worker, KNOWN) == before
    sentinels = {FEED_SENTINEL, UOF_SENTINEL, BETFAIR_SENTINEL}
    for name, start in (("markets.v1", markets_start), ("events.v1", events_start)):
        for _partition, key in await records_after(platform.topic(name), start):
            assert key.split("/")[0] in sentinels, f"{name} got {key} from hostile input"
    assert await metric(worker, "odds_market_updates_total", 'verdict="dead_lettered"') \
        == expected
    assert await worker.status("/health") == 200
    assert_worker_unharmed(worker)
    await assert_read_only(worker)
    print(f"\n{expected} hostile records dead-lettered, sentinels applied, "  # noqa: T201
          f"in {elapsed:.1f} s; worker RSS {rss_before:.0f} MiB before, "
          f"{worker.rss_mib():.0f} MiB after")


async def assert_read_only(worker: Worker) -> None:
    """Faust's built-in views are off and no route takes a write."""
    async with aiohttp.ClientSession() as http:
        for path in ("/table/", "/table/markets/", f"/table/events/{KNOWN}/", "/graph/",
                     "/stats/", "/assignment/", "/router/", "/router/topics",
                     "/router/events/", f"/router/events/{KNOWN}/", "/performance/",
                     "/signal/", "/debug/"):
            async with http.get(f"{worker.url}{path}") as resp:
                assert resp.status == 404, (path, resp.status)
        for path in (f"/events/{KNOWN}", "/events/x", "/health", "/ready", "/metrics",
                     f"/events/{KNOWN}/markets/1"):
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                async with http.request(method, f"{worker.url}{path}", data=b"{}") as resp:
                    assert resp.status in (404, 405), (method, path, resp.status)
        # GraphQL takes POST; its one mutation is checkBets, which changes nothing: any other
        # mutation field is refused before anything runs.
        async with http.post(f"{worker.url}/graphql",
                             json={"query": "mutation { deleteEvent(id: \"x\") }"}) as resp:
            body = await resp.json(content_type=None)
            assert body.get("errors") and not body.get("data"), body


# -- fuzz ---------------------------------------------------------------------------------------

FUZZ_EVENTS = 20
FUZZ_GOOD = 500
FUZZ_BAD = 3000
FUZZ_SEED = 20240607
ODD_VALUES: tuple[Any, ...] = ("x", "", 7, -1, 0, 2.5, None, True, False, [], {}, "1.5",
                               [1, 2], {"a": 1})
HUGE_NUMBERS: tuple[Any, ...] = (10**30, -(10**30), 1e308, -1e308, 0, -1, 2**63, 2**64,
                                 1e-308, 10000.0001, 9_999_999_999_999, 10_000_000_000_000)
RAW_TOKENS = (b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"nan", b"0x10", b"01",
              b"+1", b".5", b"1.", b"\"\\ud800\"", b"\"\xff\"", b"\"\xed\xa0\x80\"",
              b"\"\xc0\xaf\"", b"[" * 2000 + b"]" * 2000)
PLACEHOLDER = "@@MUTANT@@"


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from paths(item, (*prefix, index))


def value_at(message: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        message = message[step]
    return message


def parent_of(message: Any, path: tuple[Any, ...]) -> Any:
    return value_at(message, path[:-1])


class Mutator:
    """Seeded mutations of valid messages: most break the contract, some do not."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.kinds = [self.flip, self.truncate, self.swap_type, self.delete, self.huge,
                      self.raw_token, self.odds, self.retype, self.event_id, self.add_field,
                      self.duplicate_key, self.deep]

    def mutate(self, message: dict[str, Any]) -> tuple[str, bytes]:
        kind = self.rng.choice(self.kinds)
        return kind.__name__, kind(copy.deepcopy(message))

    def _path(self, message: dict[str, Any]) -> tuple[Any, ...]:
        return self.rng.choice(list(paths(message)))

    def flip(self, message: dict[str, Any]) -> bytes:
        raw = bytearray(orjson.dumps(message))
        for _ in range(self.rng.randint(1, 3)):
            raw[self.rng.randrange(len(raw))] ^= self.rng.randrange(1, 256)
        return bytes(raw)

    def truncate(self, message: dict[str, Any]) -> bytes:
        raw = orjson.dumps(message)
        return raw[:self.rng.randrange(len(raw))]

    def swap_type(self, message: dict[str, Any]) -> bytes:
        path = self._path(message)
        parent_of(message, path)[path[-1]] = self.rng.choice(ODD_VALUES)
        return orjson.dumps(message)

    def delete(self, message: dict[str, Any]) -> bytes:
        path = self._path(message)
        del parent_of(message, path)[path[-1]]
        return orjson.dumps(message)

    def huge(self, message: dict[str, Any]) -> bytes:
        numeric = [p for p in paths(message) if type(value_at(message, p)) in (int, float)]
        path = self.rng.choice(numeric)
        parent_of(message, path)[path[-1]] = PLACEHOLDER
        # As text: orjson writes no integer beyond 64 bits, but reads them (as floats).
        return orjson.dumps(message).replace(f'"{PLACEHOLDER}"'.encode(),
                                             repr(self.rng.choice(HUGE_NUMBERS)).encode())

    def raw_token(self, message: dict[str, Any]) -> bytes:
        path = self._path(message)
        parent_of(message, path)[path[-1]] = PLACEHOLDER
        return orjson.dumps(message).replace(f'"{PLACEHOLDER}"'.encode(),
                                             self.rng.choice(RAW_TOKENS))

    def odds(self, message: dict[str, Any]) -> bytes:
        market = self.rng.choice(message["markets"])
        outcome = self.rng.choice(market["outcomes"])
        outcome["odds"] = self.rng.choice((0, -2.5, 1.0, 1.0000001, 10000, 10000.5, 1e6, "2.5",
                                           None, True, 1.01))
        return orjson.dumps(message)

    def retype(self, message: dict[str, Any]) -> bytes:
        message["type"] = self.rng.choice(("odds_changes", "", None, 1, "alive", "bet_stop",
                                           "producer_status", "ODDS_CHANGE", "fixture_change",
                                           "bet_settlement"))
        return orjson.dumps(message)

    def event_id(self, message: dict[str, Any]) -> bytes:
        message["event_id"] = self.rng.choice(("sr:match:1000x", "", "SR:MATCH:1", 1000,
                                               "sr:match:" + "9" * 200, "sr:match:1001",
                                               "sr:match:1000\u0000", None))
        return orjson.dumps(message)

    def add_field(self, message: dict[str, Any]) -> bytes:
        # Unknown fields are ignored by the contract: usually still valid.
        path = self.rng.choice([(), *[p for p in paths(message)
                                      if isinstance(value_at(message, p), dict)]])
        value_at(message, path)[f"x_{self.rng.randrange(1000)}"] = self.rng.choice(ODD_VALUES)
        return orjson.dumps(message)

    def duplicate_key(self, message: dict[str, Any]) -> bytes:
        # JSON with a repeated key: the last one wins in orjson.
        raw = orjson.dumps(message)
        return raw[:-1] + b',"ts":' + self.rng.choice((b'"x"', b"-5", b"1", b"null")) + b"}"

    def deep(self, message: dict[str, Any]) -> bytes:
        depth = self.rng.choice((1000, 1025, 3000, 100_000 if self.rng.random() < 0.05 else 2000))
        message[f"x_{self.rng.randrange(10)}"] = PLACEHOLDER
        return orjson.dumps(message).replace(f'"{PLACEHOLDER}"'.encode(),
                                             b"[" * depth + b"]" * depth)


def dead_letter_reason(key: bytes, value: bytes) -> str | None:
    """Why the worker must refuse this record (the planner's own verdict), or None."""
    plan = plan_batch([(partition_of(key), key, value)], MemoryState(), wall_clock, RULES)
    return plan.dead_letters[0][1] if plan.dead_letters else None


def fuzz_stream() -> tuple[list[tuple[bytes, bytes, str | None]], dict[str, int]]:
    """Good records with bad ones interleaved: ``(key, value, reason or None)`` in send order."""
    generator = OddsGenerator(FUZZ_EVENTS, seed=FUZZ_SEED)
    good = list(generator.messages(FUZZ_GOOD, start_ts=T0, step_ms=7))
    mutator = Mutator(FUZZ_SEED)
    rng = random.Random(FUZZ_SEED + 1)
    stream: list[tuple[bytes, bytes, str | None]] = [
        (m["event_id"].encode(), orjson.dumps(m), None) for m in good]
    kinds: dict[str, int] = {}
    bad = valid_mutants = 0
    while bad < FUZZ_BAD:
        original = rng.choice(good)
        kind, value = mutator.mutate(original)
        key = original["event_id"].encode()
        reason = dead_letter_reason(key, value)
        if reason is None:
            valid_mutants += 1
        else:
            bad += 1
            kinds[kind] = kinds.get(kind, 0) + 1
        stream.insert(rng.randrange(len(stream) + 1), (key, value, reason))
    kinds["(still valid)"] = valid_mutants
    return stream, kinds


def reference_state(stream: list[tuple[bytes, bytes, str | None]]) -> MemoryState:
    """What the pure rules make of the whole stream, one record at a time, in send order."""
    state = MemoryState()
    for key, value, _reason in stream:
        plan = plan_batch([(partition_for(key, PARTITIONS), key, value)], state, wall_clock,
                          RULES)
        assert not plan.producer_status, "a fuzz record changed producer health"
        state.commit(plan)
    return state


async def test_fuzzed_bad_records_interleaved_with_good_ones(platform: Platform) -> None:
    stream, kinds = fuzz_stream()
    expected_letters = {i: reason for i, (_k, _v, reason) in enumerate(stream) if reason}
    assert len(expected_letters) == FUZZ_BAD
    reference = reference_state(stream)
    event_ids = sorted(reference.events)
    assert len(event_ids) == FUZZ_EVENTS

    worker = await platform.start_worker()
    topic = platform.topic("feed.v1")
    producer = big_producer()
    await producer.start()
    started = time.monotonic()
    try:
        futures = [await producer.send(topic, key=key, value=value,
                                       partition=partition_for(key, PARTITIONS))
                   for key, value, _reason in stream]
        sent = [(m.partition, m.offset) for m in await asyncio.gather(*futures)]
    finally:
        await producer.stop()
    index_of = {position: i for i, position in enumerate(sent)}

    by_event: dict[str, list[Snapshot]] = {}
    for snapshot in reference.markets.values():
        by_event.setdefault(snapshot["event_id"], []).append(snapshot)
    expected_views = {e: event_view(reference.events[e], by_event.get(e, [])) for e in event_ids}

    async def http_matches() -> bool:
        for event_id in event_ids:
            if await event_body(worker, event_id) != expected_views[event_id]:
                return False
        return True

    await eventually(http_matches, 180, "every event to equal the pure reference")
    dlq = platform.topic("feed.dlq.v1")

    async def all_dead_lettered() -> list[tuple[str, Any]] | None:
        letters = await read_all(dlq)
        return letters if len(letters) >= FUZZ_BAD else None

    await eventually(all_dead_lettered, 120, f"{FUZZ_BAD} dead letters")
    elapsed = time.monotonic() - started
    # Every record sent has been read and its output committed: a dead letter too many
    # would be in the topic now.
    await drained(f"odds-{platform.name}", (topic,), 60)
    letters = [letter for _key, letter in await read_all(dlq)]
    assert len(letters) == FUZZ_BAD
    seen: dict[int, str] = {}
    for letter in letters:
        source = letter["source"]
        assert source["topic"] == topic
        index = index_of[(source["partition"], source["offset"])]
        assert index not in seen, f"record {index} dead-lettered twice"
        seen[index] = letter["reason"]
    assert seen == expected_letters  # the same records, each with the pure code's reason

    expected_topic = dict(reference.markets)
    assert await read_compacted(platform.topic("markets.v1")) == expected_topic
    assert await worker.status("/health") == 200
    assert_worker_unharmed(worker)
    print(f"\nfuzz: {len(stream)} records ({FUZZ_GOOD} good, {FUZZ_BAD} bad, "  # noqa: T201
          f"{kinds['(still valid)']} mutants still valid) in {elapsed:.1f} s; bad by mutation: "
          + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
