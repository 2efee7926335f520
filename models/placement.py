"""Which partition a record belongs to: Kafka's default partitioner on its key."""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import murmur2


# murmur2 is pure Python and every feed record's placement is checked; event keys repeat.
@lru_cache(maxsize=65536)
def partition_for(key: bytes, partitions: int) -> int:
    """Return the partition Kafka's default partitioner gives ``key``."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)
