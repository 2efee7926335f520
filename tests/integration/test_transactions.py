"""Batch transactions on the real broker: what read-committed readers see, and retries."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faust.types import TP

from app.faust_seams.committed_end import committed_ends, committed_reader
from outbound.transaction import BatchSender, Transactions
from tests.integration.support import BOOTSTRAP, end_offsets, read_all

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    name = f"txn-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 3, 1)])
        yield name
        await admin.delete_topics([name])
    finally:
        await admin.close()


def producer(transactional_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, transactional_id=transactional_id)


async def test_committed_ends_are_past_the_last_committed_record(topic: str) -> None:
    """Partition 0: 3 committed records, then 2 aborted; partition 1: aborted only;
    partition 2: empty. The committed ends are 3, 0 and 0, although the logs end later."""
    writer = producer(f"{topic}-writer")
    await writer.start()
    try:
        async with writer.transaction():
            for i in range(3):
                await writer.send(topic, b"committed %d" % i, partition=0)
        await writer.begin_transaction()
        for i in range(2):
            await writer.send(topic, b"aborted %d" % i, partition=0)
        await writer.send(topic, b"aborted", partition=1)
        await writer.abort_transaction()
    finally:
        await writer.stop()
    logs = await end_offsets(topic, isolation="read_uncommitted")
    assert logs[0] == 7 and logs[1] == 2, logs  # records plus commit and abort markers

    async with committed_reader(bootstrap_servers=BOOTSTRAP) as consumer:
        ends = {TP(topic, p): end for p, end in logs.items()}
        assert await committed_ends(consumer, ends) == {
            TP(topic, 0): 3, TP(topic, 1): 0, TP(topic, 2): 0}


async def test_a_failed_transaction_is_sent_again_whole_with_a_new_producer(topic: str) -> None:
    """Another producer takes the transactional id (fencing ours) while a batch is in flight:
    the commit fails, the batch is sent again by a new producer and committed once."""
    transactional_id = f"{topic}-worker"
    failures: list[BaseException] = []
    transactions = Transactions(lambda: producer(transactional_id), failures.append)
    await transactions.start()
    intruders: list[Any] = []

    async def fence_once() -> None:
        if not intruders:
            intruder = producer(transactional_id)
            await intruder.start()  # bumps the epoch: our producer is fenced
            intruders.append(intruder)

    sender = BatchSender()
    for partition in range(3):
        for i in range(5):
            sender.add(topic, partition, b"k%d" % i, orjson.dumps(f"p{partition}-{i}"))
    try:
        offsets = await transactions.commit(sender, fence_once)
    finally:
        await transactions.stop()
        for intruder in intruders:
            await intruder.stop()

    assert len(failures) == 1, failures
    assert not sender.pending
    assert set(offsets) == {(topic, p) for p in range(3)}
    got = sorted(value for _key, value in await read_all(topic))
    want = sorted(f"p{p}-{i}" for p in range(3) for i in range(5))
    assert got == want  # the first attempt's records are never seen
    uncommitted = sum((await end_offsets(topic, isolation="read_uncommitted")).values())
    assert uncommitted > len(want)  # they were written, though



async def test_bulk_restore_copies_committed_records_up_to_the_target(
        topic: str, tmp_path: Any) -> None:
    """app.faust_seams.restore: committed records only (aborted ones are never handed over),
    none past the target's last offset, tombstones delete, and the offset is written with the
    values."""
    from rocksdict import Options, Rdict

    from app.faust_seams.restore import Target, restore

    writer = producer(f"{topic}-restore")
    await writer.start()
    try:
        async with writer.transaction():
            for key in (b"a", b"b", b"c"):
                await writer.send(topic, b"v1", key=key, partition=0)  # 0-2, marker 3
        await writer.begin_transaction()
        await writer.send(topic, b"aborted", key=b"a", partition=0)  # 4
        await writer.abort_transaction()  # marker 5
        async with writer.transaction():
            await writer.send(topic, None, key=b"b", partition=0)  # 6: a tombstone
            await writer.send(topic, b"v2", key=b"c", partition=0)  # 7
            await writer.send(topic, b"later", key=b"d", partition=0)  # 8: past the target
    finally:
        await writer.stop()
    db = Rdict(str(tmp_path / "db"), Options(raw_mode=True))
    progress: list[tuple[Any, int]] = []
    tp = TP(topic, 0)
    try:
        async with committed_reader(bootstrap_servers=BOOTSTRAP) as consumer:
            nothing = await restore(consumer, {tp: Target(0, 7, db, b"offset")},
                                    lambda t, o: progress.append((t, o)), 0.0)
        assert nothing == {} and progress == [] and db.get(b"offset") is None
        async with committed_reader(bootstrap_servers=BOOTSTRAP) as consumer:
            applied = await restore(consumer, {tp: Target(0, 7, db, b"offset")},
                                    lambda t, o: progress.append((t, o)), 30.0)
        assert applied == {tp: 7} and progress[-1] == (tp, 7)
        assert dict(db.items()) == {b"a": b"v1", b"c": b"v2", b"offset": b"7"}
    finally:
        db.close()
