"""A send the broker refuses stops the worker before it commits: the input is read again.

The UOF adapter's output to ``feed.v1`` is refused (the topic's ``max.message.bytes`` is
lowered under it): the worker must log the failure, commit nothing past the input and stop;
once the topic takes the record again, a restarted worker applies it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from models.keys import partition_for
from tests.integration.support import (
    BOOTSTRAP,
    Platform,
    Worker,
    committed_offsets,
    end_offsets,
    eventually,
    produce,
    read_all,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(300)]

FIRST, SECOND = "sr:match:7101", "sr:match:7102"
MARKETS = 40


def uof_odds(event_id: str, markets: int, odds: float) -> bytes:
    body = "".join(f'<market id="{1000 + m}" status="1"><outcome id="1" odds="{odds}" '
                   f'active="1"/><outcome id="2" odds="1.6" active="1"/></market>'
                   for m in range(markets))
    return (f'<odds_change event_id="{event_id}" timestamp="{int(time.time() * 1000)}" '
            f'product="1"><odds>{body}</odds></odds_change>').encode()


async def set_max_message_bytes(topic: str, limit: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(
            ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": str(limit)})])
    finally:
        await admin.close()


async def priced(worker: Worker, event_id: str, markets: int) -> bool:
    status, body = await worker.get(f"/events/{event_id}")
    return status == 200 and len(body["markets"]) == markets


async def stopped(worker: Worker) -> bool:
    return worker.proc.poll() is not None


async def test_a_refused_send_stops_the_worker_and_its_input_is_read_again(
        platform: Platform) -> None:
    raw, feed = platform.topic("feed.raw.uof.v1"), platform.topic("feed.v1")
    worker = await platform.start_worker()
    await produce(raw, [(FIRST.encode(), uof_odds(FIRST, 1, 2.0))])
    await eventually(lambda: priced(worker, FIRST, 1), 90, "the first event")

    # Every record the adapter makes of the second message is larger than this.
    await set_max_message_bytes(feed, 1024)
    partition = partition_for(SECOND.encode(), platform.partitions)
    before = (await end_offsets(raw))[partition]
    await produce(raw, [(SECOND.encode(), uof_odds(SECOND, MARKETS, 2.5))])
    await eventually(lambda: stopped(worker), 120, "the worker to stop")
    log = worker.log.read_text(errors="replace")
    assert "a send failed" in log, worker.log_tail()
    committed = await committed_offsets(f"odds-{platform.name}", raw)
    assert committed.get(partition, -1) <= before, (committed, before)
    assert await feed_has_no(feed, SECOND)

    await set_max_message_bytes(feed, 2 * 1024 * 1024)
    worker = await platform.start_worker()
    await eventually(lambda: priced(worker, SECOND, MARKETS), 120,
                     "the second event, read again after the restart")
    body: dict[str, Any] = (await worker.get(f"/events/{SECOND}"))[1]
    assert {m["outcomes"][0]["odds"] for m in body["markets"]} == {2.5}


async def feed_has_no(topic: str, event_id: str) -> bool:
    """No record of ``event_id`` reached ``topic``."""
    return all(key != event_id for key, _value in await read_all(topic))
