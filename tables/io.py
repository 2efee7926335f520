"""Batched table access: read a partition's RocksDB directly, write each batch at once.

Faust's table API costs a RocksDB put, a changelog send and an offset write per key
(docs/decisions/0012). On the RocksDB store this module reads the partition database directly and
writes a batch's changed keys in one ``WriteBatch`` per partition, after their changelog
records (sent in the same outbound batch) are acknowledged. Decoded values are kept in a
bounded cache per table, so a hot key is not read and decoded again each batch. On the
memory store, used by unit tests, it falls back to the plain table API.

These writes skip RocksDB's write-ahead log, as Kafka Streams' do: the committed changelog
is the durable copy. A process crash loses what the memtables held since their last flush,
always a suffix of the writes, so the database keeps a prefix with the changelog offset it
reached (written in the same batch) and recovery reads the changelog on from there. Logged
writes (Faust's recovery, standbys) must never follow unlogged ones unflushed, or a crash
would replay them over a gap: ``forget``, called at every rebalance, flushes first.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from typing import Any, Protocol

import orjson
from faust.types import EventT, TableT
from rocksdict import WriteOptions

from app.faust_seams.store import PartitionedStore
from models.market import Snapshot
from outbound.transaction import BatchSender
from tables import state


class TableIO(Protocol):
    """Reads and writes table values in the partition of a feed record."""

    def get(self, table: TableT[Any, Any], partition: int, event: EventT[Any],
            key: str) -> Snapshot | None: ...

    def stage(self, table: TableT[Any, Any], event: EventT[Any], key: str,
              value: Snapshot, sender: BatchSender | None) -> None: ...

    def apply(self, offsets: dict[tuple[str, int], int]) -> None: ...

    def forget(self) -> None: ...


class DecodedCache:
    """The last values written or read, decoded, per ``(partition, key)``; oldest out first.

    Safe because table values are never mutated in place. It must be cleared whenever a
    partition's database changes other than through ``RocksTableIO.apply``: at every
    rebalance (another worker may have written the partition in the meantime).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        # Not a plain dict: evicting its first key scans the slots freed by earlier
        # evictions, a cost that grows as the cache churns (docs/decisions/0012).
        self.values: OrderedDict[tuple[int, bytes], Snapshot] = OrderedDict()

    def get(self, partition: int, key: bytes) -> Snapshot | None:
        return self.values.get((partition, key))

    def put(self, partition: int, key: bytes, value: Snapshot) -> None:
        values = self.values
        values[(partition, key)] = value
        values.move_to_end((partition, key))  # rewritten: evicted last
        if len(values) > self.capacity:
            values.popitem(last=False)

    def clear(self) -> None:
        self.values.clear()


#: Entries per table (markets: ``MARKET_CACHE_SIZE``). Every message about an event reads
#: it, so a few thousand entries hold the live events; producers are few. The value sizes
#: and hit rates behind these numbers: docs/decisions/0011.
CACHE_CAPACITY = {state.events.name: 4096, state.producers.name: 1024}


class RocksTableIO:
    """Direct access to the partition databases of Faust's RocksDB store."""

    def __init__(self, market_cache: int) -> None:
        self.staged: defaultdict[
            tuple[TableT[Any, Any], int], list[tuple[bytes, bytes, Snapshot]]] = defaultdict(list)
        capacity = {**CACHE_CAPACITY, state.markets.name: market_cache}
        self.caches = {name: DecodedCache(size) for name, size in capacity.items() if size}
        #: Databases written without the log since their last flush.
        self.unlogged: dict[tuple[str, int], Any] = {}
        self.write_options = WriteOptions()
        # A property, though rocksdict's stub declares a method.
        self.write_options.disable_wal = True  # type: ignore[method-assign,assignment]

    def forget(self) -> None:
        """Flush what the log does not hold, and drop every cached value (a rebalance may
        hand back partitions changed elsewhere, and recovery's writes are logged)."""
        self.flush()
        for cache in self.caches.values():
            cache.clear()

    def flush(self) -> None:
        """Write the memtables of every database written since the last flush to disk."""
        while self.unlogged:
            _, db = self.unlogged.popitem()
            db.flush()

    @staticmethod
    def _store(table: TableT[Any, Any]) -> PartitionedStore:
        store: PartitionedStore = table.data  # type: ignore[assignment]
        return store

    def get(self, table: TableT[Any, Any], partition: int, event: EventT[Any],
            key: str) -> Snapshot | None:
        return self.read(table, partition, key)

    def read(self, table: TableT[Any, Any], partition: int, key: str) -> Snapshot | None:
        """Return a table value of this worker's ``partition``, decoded once and cached."""
        raw_key = key.encode()
        cache = self.caches.get(table.name)
        if cache is not None and (hit := cache.get(partition, raw_key)) is not None:
            return hit
        raw = self._store(table).partition_db(partition).get(raw_key)
        if raw is None:
            return None
        value: Snapshot = orjson.loads(raw)
        if cache is not None:
            cache.put(partition, raw_key, value)
        return value

    def stage(self, table: TableT[Any, Any], event: EventT[Any], key: str,
              value: Snapshot, sender: BatchSender | None) -> None:
        assert sender is not None  # noqa: S101 - the RocksDB path always has a batch sender
        partition = event.message.partition
        raw_key, raw_value = key.encode(), orjson.dumps(value)
        topic = table.changelog_topic.get_topic_name()
        sender.add(topic, partition, raw_key, raw_value)
        self.staged[(table, partition)].append((raw_key, raw_value, value))

    def apply(self, offsets: dict[tuple[str, int], int]) -> None:
        """Write staged values once their changelog records are acknowledged."""
        for (table, partition), items in self.staged.items():
            offset = offsets.get((table.changelog_topic.get_topic_name(), partition))
            db = self._store(table).write_partition(
                partition, ((raw_key, raw_value) for raw_key, raw_value, _ in items), offset,
                self.write_options)
            self.unlogged[(table.name, partition)] = db
            cache = self.caches.get(table.name)
            if cache is not None:
                for raw_key, _, value in items:
                    cache.put(partition, raw_key, value)
        self.staged.clear()


class FaustTableIO:
    """The plain table API (memory store): changelog sends are Faust's own."""

    def __init__(self) -> None:
        self.staged: list[tuple[TableT[Any, Any], EventT[Any], str, Snapshot]] = []

    def get(self, table: TableT[Any, Any], partition: int, event: EventT[Any],
            key: str) -> Snapshot | None:
        with state.event_context(event):
            value: Snapshot | None = table.get(key)
        return value

    def stage(self, table: TableT[Any, Any], event: EventT[Any], key: str,
              value: Snapshot, sender: BatchSender | None) -> None:
        self.staged.append((table, event, key, value))

    def apply(self, offsets: dict[tuple[str, int], int]) -> None:
        for table, event, key, value in self.staged:
            with state.event_context(event):
                table[key] = value
        self.staged.clear()

    def forget(self) -> None:
        """Nothing cached: Faust's own table API is read every time."""
