"""Materialise ``markets.v1`` into memory and print price moves as they happen.

    python examples/consumer.py --bootstrap 127.0.0.1:9092 --topic-prefix ""

The pattern every consumer of a compacted topic follows: read it from the beginning (no
consumer group, every partition), apply each record by key (a newer ``version`` replaces the
held snapshot; a record without a value is a tombstone: the key is gone), and once the end
offsets seen at start are reached, keep following. Only then are changes news.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

Snapshot = dict[str, Any]


def out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def moves(old: Snapshot | None, new: Snapshot) -> list[str]:
    """Describe what a consumer would show: price moves and status changes."""
    key = f"{new['event_id']} market {new['market_id']}"
    if new["specifiers"]:
        key += f" [{new['specifiers']}]"
    found = []
    if old is not None and old["status"] != new["status"]:
        found.append(f"{key}: {old['status']} -> {new['status']}")
    before = {o["id"]: o["odds"] for o in (old or {}).get("outcomes", ())}
    for outcome in new["outcomes"]:
        was, now = before.get(outcome["id"]), outcome["odds"]
        if old is not None and was != now and was is not None and now is not None:
            arrow = "up" if now > was else "down"
            found.append(f"{key} outcome {outcome['id']}: {was} -> {now} ({arrow})")
    return found


class Markets:
    """The latest snapshot of every market, by ``markets.v1`` key."""

    def __init__(self) -> None:
        self.snapshots: dict[str, Snapshot] = {}

    def apply(self, key: str, value: bytes | None) -> list[str]:
        """Apply one record; return the moves it made."""
        if value is None:
            self.snapshots.pop(key, None)
            return [f"{key}: removed"]
        snapshot = orjson.loads(value)
        held = self.snapshots.get(key)
        if held is not None and snapshot["version"] <= held["version"]:
            return []  # a redelivery: versions only grow
        self.snapshots[key] = snapshot
        return moves(held, snapshot)


async def consume(bootstrap: str, prefix: str, once: bool) -> Markets:
    markets = Markets()
    topic = f"{prefix}markets.v1"
    # No group: every partition is ours, read from the first offset still held.
    # read_committed: the worker publishes each batch in a transaction; this sees only
    # committed batches, never records of a batch a crash aborted.
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise SystemExit(f"topic {topic} does not exist")
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        behind = {tp for tp, end in ends.items() if end > 0}
        if not behind:
            out(f"{topic} is empty; following")
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    found = markets.apply(record.key.decode(), record.value)
                    if not behind:
                        for line in found:
                            out(line)
            if behind:
                # By position, not by the last record: a transaction's commit marker, never
                # handed over, is the last entry of the log.
                for tp in list(behind):
                    if await consumer.position(tp) >= ends[tp]:
                        behind.discard(tp)
                if not behind:
                    out(f"materialised {len(markets.snapshots)} markets; following")
            if not behind and once:
                return markets
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092",
                        help="Kafka bootstrap servers, host:port[,host:port]")
    parser.add_argument("--topic-prefix", default="",
                        help="the deployment's TOPIC_PREFIX (empty by default)")
    parser.add_argument("--once", action="store_true",
                        help="stop once the topic is materialised instead of following it")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(consume(args.bootstrap, args.topic_prefix, args.once))


if __name__ == "__main__":
    main()
