"""The tables' store: Faust's RocksDB store (rocksdict driver) with its partition databases
open to the batched table I/O (``tables.io``), the bulk restore and partition scans.

Registered with Faust under its own URL scheme (``SCHEME``); every table is created with it
wherever the settings say ``rocksdb://`` (a per-table URL: Faust reads the app's store from
``APP_STORE`` itself, over any argument), so everything this module relies on in Faust's store
is here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from faust.stores import STORES
from faust.stores.rocksdb import Store as FaustRocksStore

#: The URL scheme of ``PartitionedStore``.
SCHEME = "partitioned-rocksdb"


class PartitionedStore(FaustRocksStore):
    """Faust's RocksDB store, read and written one partition database at a time."""

    def partition_db(self, partition: int) -> Any:
        """The open database of one partition (opened on first use)."""
        return self._db_for_partition(partition)

    def partition_items(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        """Every stored key and value of one partition, without the changelog offset."""
        offset_key = self.offset_key
        for raw_key, raw_value in self.partition_db(partition).items():
            if raw_key != offset_key and raw_value is not None:
                yield raw_key, raw_value

    def estimated_keys(self, partitions: Iterable[int]) -> int:
        """About how many keys the open databases of ``partitions`` hold (RocksDB's estimate)."""
        dbs = self._dbs
        wanted = set(partitions)
        return sum(int(db.property_int_value("rocksdb.estimate-num-keys") or 0)
                   for partition, db in list(dbs.items()) if partition in wanted)

    def write_partition(self, partition: int, items: Iterable[tuple[bytes, bytes]],
                        offset: int | None, options: Any) -> Any:
        """Write ``items`` and, when given, the changelog offset they reach, atomically;
        return the database written."""
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        for raw_key, raw_value in items:
            batch.put(raw_key, raw_value)
        if offset is not None:
            # Recovery resumes after this offset: written atomically with the values.
            batch.put(self.offset_key, str(offset).encode())
        db = self.partition_db(partition)
        db.write(batch, options)
        return db


STORES.aliases.setdefault(SCHEME, f"{__name__}:PartitionedStore")


def store_url(setting: str, table: str) -> str | None:
    """The store URL of ``table`` for the ``APP_STORE`` setting: this store's, named after the
    table as Faust names its files, for ``rocksdb://``; None (the app's) otherwise."""
    return f"{SCHEME}:{table}" if setting == "rocksdb://" else None
