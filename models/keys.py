"""Keys of the platform's records and tables, and the partition a key belongs to."""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import murmur2


# murmur2 is pure Python and every feed record's placement is checked; event keys repeat.
@lru_cache(maxsize=65536)
def partition_for(key: bytes, partitions: int) -> int:
    """Return the partition Kafka's default partitioner gives ``key``."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


def market_key(event_id: str, market_id: str, specifiers: str) -> str:
    """Return the key of a market: ``{event_id}/{market_id}/{specifiers}``."""
    return f"{event_id}/{market_id}/{specifiers}"


def producer_key(producer: int) -> str:
    """Return the record key of producer-level messages (their home partition)."""
    return f"producer:{producer}"


def partition_producer_key(producer: int, partition: int) -> str:
    """Return the key of one partition's view of a producer's health."""
    return f"producer:{producer}@{partition}"
