"""The odds agent's transaction, sent by aiokafka and by confluent-kafka: CPU per record.

Both clients send the same batches (records spread over topic partitions as a feed batch's
outputs are) each as one transaction to the local broker, and need the last offset per
partition back, as the worker does. CPU is the process's (user + system, librdkafka's threads
included), wall time is from the first begin to the last commit. Alternating rounds, so that
the machine's drift falls on both.

    pip install confluent-kafka  # not a dependency of the platform
    python -m bench.producer_compare [--transactions 40] [--records 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import resource
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.kafka_io import BOOTSTRAP
from outbound.transaction import BatchSender, Transactions

TOPICS = 4
PARTITIONS = 8
VALUE_BYTES = 350

Batch = list[tuple[str, int, bytes, bytes]]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def batches(prefix: str, transactions: int, records: int) -> list[Batch]:
    """Records of ``transactions`` batches, round robin over the topics' partitions."""
    filler = os.urandom(VALUE_BYTES // 2).hex().encode()
    made = []
    for t in range(transactions):
        batch = []
        for r in range(records):
            slot = r % (TOPICS * PARTITIONS)
            batch.append((f"{prefix}.t{slot // PARTITIONS}", slot % PARTITIONS,
                          f"sr:match:{t}/{r}/total=2.5".encode(), filler))
        made.append(batch)
    return made


async def create_topics(prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"{prefix}.t{i}", PARTITIONS, 1)
                                   for i in range(TOPICS)])
    finally:
        await admin.close()


async def delete_topics(prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.delete_topics([f"{prefix}.t{i}" for i in range(TOPICS)])
    finally:
        await admin.close()


async def with_aiokafka(work: list[Batch]) -> dict[tuple[str, int], int]:
    """The worker's path: ``BatchSender`` in ``Transactions`` over a transactional producer."""
    transactional_id = f"bench-aiokafka-{uuid.uuid4().hex[:8]}"
    transactions = Transactions(lambda: AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, linger_ms=0, max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024, acks="all", enable_idempotence=True,
        transactional_id=transactional_id))
    await transactions.start()
    last: dict[tuple[str, int], int] = {}
    try:
        for batch in work:
            sender = BatchSender()
            for topic, partition, key, value in batch:
                sender.add(topic, partition, key, value)
            last.update(await transactions.commit(sender))
    finally:
        await transactions.stop()
    return last


def with_confluent(work: list[Batch]) -> dict[tuple[str, int], int]:
    """librdkafka's transactional producer; a delivery report only for the last record of
    each partition in a transaction (its offset is the partition's last)."""
    producer = importlib.import_module("confluent_kafka").Producer({
        "bootstrap.servers": BOOTSTRAP, "transactional.id":
            f"bench-confluent-{uuid.uuid4().hex[:8]}", "linger.ms": 0,
        "batch.size": 512 * 1024, "message.max.bytes": 4 * 1024 * 1024, "acks": "all",
        "enable.idempotence": True})
    producer.init_transactions(30)
    last: dict[tuple[str, int], int] = {}

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            raise RuntimeError(f"delivery failed: {err}")
        last[(msg.topic(), msg.partition())] = msg.offset()

    produce = producer.produce
    for batch in work:
        producer.begin_transaction()
        final: dict[tuple[str, int], int] = {}
        for index, (topic, partition, _key, _value) in enumerate(batch):
            final[(topic, partition)] = index
        ends = set(final.values())
        for index, (topic, partition, key, value) in enumerate(batch):
            if index in ends:
                produce(topic, value, key, partition, on_delivery=delivered)
            else:
                produce(topic, value, key, partition)
        producer.commit_transaction(30)
        producer.poll(0)  # serve the delivery reports of this transaction
    producer.flush(30)
    return last


def measure(name: str, run: Callable[[], Any], records: int) -> dict[str, float]:
    cpu, wall = cpu_seconds(), time.perf_counter()
    last = run()
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    if len(last) != TOPICS * PARTITIONS:
        raise RuntimeError(f"{name}: offsets for {len(last)} partitions")
    return {"cpu_us_per_record": cpu / records * 1e6, "records_per_s": records / wall}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=40)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    prefix = f"pcmp{uuid.uuid4().hex[:6]}"
    asyncio.run(create_topics(prefix))
    total = args.transactions * args.records
    try:
        work = batches(prefix, args.transactions, args.records)
        # A first transaction of each warms the connections and the metadata.
        asyncio.run(with_aiokafka(work[:1]))
        with_confluent(work[:1])
        for round_ in range(args.rounds):
            runs = {
                "aiokafka": measure("aiokafka", lambda: asyncio.run(with_aiokafka(work)), total),
                "confluent-kafka": measure("confluent-kafka", lambda: with_confluent(work), total),
            }
            ratio = runs["confluent-kafka"]["cpu_us_per_record"] / \
                runs["aiokafka"]["cpu_us_per_record"]
            line = ", ".join(f"{name} {r['cpu_us_per_record']:.2f} us CPU/record, "
                             f"{r['records_per_s']:,.0f} records/s" for name, r in runs.items())
            print(f"round {round_ + 1}: {line}; CPU ratio {ratio:.2f}")
    finally:
        asyncio.run(delete_topics(prefix))


if __name__ == "__main__":
    main()
