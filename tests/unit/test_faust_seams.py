"""The code that reaches into Faust's internals runs on the release it was written against."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import faust
import faust.stores

from app.faust_seams import FAUST_VERSION
from app.faust_seams.store import PartitionedStore, store_url


def test_the_installed_faust_is_the_release_the_seams_were_written_against() -> None:
    assert faust.__version__ == FAUST_VERSION, (
        f"faust-streaming {faust.__version__} is installed, the overrides of its internals "
        f"were written against {FAUST_VERSION}: read every module app/faust_seams/__init__.py "
        "lists against the new release, then update FAUST_VERSION")


def test_the_rocksdb_setting_gets_the_platform_store_by_its_url() -> None:
    url = store_url("rocksdb://", "markets.v1")
    assert url is not None and faust.stores.by_url(url) is PartitionedStore
    assert issubclass(PartitionedStore, faust.stores.by_url("rocksdb://"))
    assert store_url("memory://", "markets.v1") is None


def test_every_table_on_rocksdb_is_the_platform_store(tmp_path: Path) -> None:
    found = subprocess.run(
        [sys.executable, "-c", "import json\nfrom tables import state\n"
         "print(json.dumps([sorted({type(t.data).__name__ for t in state.TABLES}), "
         "sorted(t.data.partition_path(0).name for t in state.TABLES)]))"],
        env={**os.environ, "APP_STORE": "rocksdb://", "APP_DATADIR": str(tmp_path)},
        cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=60, check=True)
    classes, files = json.loads(found.stdout.splitlines()[-1])
    assert classes == ["PartitionedStore"]
    assert "markets.v1-0.db" in files and "applied-0.db" in files
