"""A worker started with an empty data dir restores its tables from the changelogs in bulk
(``app.faust_seams.restore``): every key, byte for byte what the reference computes."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from rocksdict import AccessType, Options, Rdict

from feeds.generator import OddsGenerator
from models.event import published_event
from models.memory import MemoryState, replay
from tests.integration.support import (
    Platform,
    consumed,
    end_offsets,
    eventually,
    produce,
    stop_process,
)

pytestmark = pytest.mark.timeout(300)

OFFSET_KEY = b"__faust\x00offset__"


def read_table(datadir: Path, table: str, partitions: int) -> dict[str, Any]:
    """Every key of one table across its partition databases (the worker is stopped)."""
    found: dict[str, Any] = {}
    for partition in range(partitions):
        path = datadir / "v1" / "tables" / f"{table}-{partition}.db"
        db = Rdict(str(path), Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            found.update({k.decode(): orjson.loads(v) for k, v in db.items()
                          if k != OFFSET_KEY})
        finally:
            db.close()
    return found


async def test_empty_data_dir_is_restored_in_bulk(platform: Platform) -> None:
    generator = OddsGenerator(16, seed=21)
    now = int(time.time() * 1000)
    messages = list(generator.messages(1500, now - 60_000))
    feed = platform.topic("feed.v1")
    await produce(feed, [(m["event_id"].encode(), orjson.dumps(m)) for m in messages])
    ends = await end_offsets(feed)
    reference = MemoryState()
    replay(reference, messages, platform.partitions)

    worker = await platform.start_worker(0)

    await eventually(lambda: consumed(f"odds-{platform.name}", feed, ends), 120,
                     "the worker to consume the feed")
    stop_process(worker.proc)
    datadir = platform.tmp / "data0"
    # The markets and events tables are named after their changelogs, the output topics.
    assert read_table(datadir, "markets.v1", platform.partitions) == reference.markets
    shutil.rmtree(datadir)

    worker = await platform.start_worker(0)

    def restored() -> re.Match[str] | None:
        return re.search(r"bulk restore: (\d+) offsets of (\d+) changelog partitions .*"
                         r"\((\d+) left", worker.log.read_text(errors="replace"))

    async def logged() -> bool:
        return restored() is not None

    await eventually(logged, 120, "the bulk restore's log line")
    found = restored()
    assert found is not None
    offsets, _partitions, left = (int(g) for g in found.groups())
    assert left == 0
    assert offsets >= len(reference.markets) + len(reference.events)
    await eventually(worker.ready, 60, "the restored worker to be ready")
    stop_process(worker.proc)
    assert read_table(datadir, "markets.v1", platform.partitions) == reference.markets
    events = read_table(datadir, "events.v1", platform.partitions)
    assert events == {k: published_event(v) for k, v in reference.events.items()}

