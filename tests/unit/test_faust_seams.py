"""The code that reaches into Faust's internals runs on the release it was written against."""

from __future__ import annotations

import faust
import faust.stores

from app.faust_seams import FAUST_VERSION
from tables.store import PartitionedStore, store_url


def test_the_installed_faust_is_the_release_the_seams_were_written_against() -> None:
    assert faust.__version__ == FAUST_VERSION, (
        f"faust-streaming {faust.__version__} is installed, the overrides of its internals "
        f"were written against {FAUST_VERSION}: read every module app/faust_seams/__init__.py "
        "lists against the new release, then update FAUST_VERSION")


def test_the_rocksdb_setting_gets_the_platform_store_by_its_url() -> None:
    assert faust.stores.by_url(store_url("rocksdb://")) is PartitionedStore
    assert issubclass(PartitionedStore, faust.stores.by_url("rocksdb://"))
    assert store_url("memory://") == "memory://"
