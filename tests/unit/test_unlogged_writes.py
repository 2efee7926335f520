"""Table writes skip RocksDB's log: a crash keeps a prefix with its offset, a flush all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from faust.stores.rocksdb import RocksDBOptions, Store

OFFSET_KEY = Store.offset_key

#: Runs in a child process, which ends with ``os._exit`` and so never closes its database:
#: what RocksDB holds afterwards is what a crashed worker would leave.
CHILD = """
import os, sys
from types import SimpleNamespace
from faust.stores.rocksdb import RocksDBOptions
from outbound.transaction import BatchSender
from tables.io import RocksTableIO
from app.faust_seams.store import PartitionedStore

path, flush_last = sys.argv[1], sys.argv[2] == "flush"
db = RocksDBOptions(use_rocksdict=True).open(path)
# The platform's store without Faust's app and table around it: its one database.
data = PartitionedStore.__new__(PartitionedStore)
data._db_for_partition = lambda partition: db
topic = SimpleNamespace(get_topic_name=lambda: "markets-changelog")
table = type("Table", (), {"name": "markets", "data": data, "changelog_topic": topic})()
event = SimpleNamespace(message=SimpleNamespace(partition=0))
io = RocksTableIO(16)
io.stage(table, event, "a", {"v": 1}, BatchSender())
io.apply({("markets-changelog", 0): 10})
io.forget()  # a rebalance: flushed
io.stage(table, event, "a", {"v": 2}, BatchSender())
io.stage(table, event, "b", {"v": 2}, BatchSender())
io.apply({("markets-changelog", 0): 12})
assert io.get(table, 0, event, "b") == {"v": 2}
if flush_last:
    io.forget()
os._exit(0)
"""


def _run_and_reopen(path: Path, mode: str) -> dict[bytes, bytes]:
    child = CHILD
    subprocess.run([sys.executable, "-c", child, str(path), mode], check=True,
                   cwd=Path(__file__).parents[2], timeout=60)
    db = RocksDBOptions(use_rocksdict=True).open(path)
    try:
        return {key: db[key] for key in (b"a", b"b", OFFSET_KEY) if key in db}
    finally:
        db.close()


@pytest.mark.timeout(60)
def test_a_crash_loses_the_unflushed_writes_and_keeps_the_offset_of_what_remains(
        tmp_path: Path) -> None:
    assert _run_and_reopen(tmp_path / "db", "crash") == {
        b"a": b'{"v":1}', OFFSET_KEY: b"10"}


@pytest.mark.timeout(60)
def test_forget_flushes_every_unlogged_write(tmp_path: Path) -> None:
    assert _run_and_reopen(tmp_path / "db", "flush") == {
        b"a": b'{"v":2}', b"b": b'{"v":2}', OFFSET_KEY: b"12"}
