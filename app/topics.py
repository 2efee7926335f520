"""Every Kafka topic of the platform, declared once with its partitions and configs."""

from __future__ import annotations

from faust.types import TopicT

from app.faust_app import app, settings

COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
RETAINED_7D = {"cleanup.policy": "delete", "retention.ms": str(7 * 24 * 3600 * 1000)}


def _topic(name: str, config: dict[str, str]) -> TopicT:
    return app.topic(
        settings.topic(name),
        partitions=settings.topic_partitions,
        key_serializer="raw",
        value_serializer="raw",
        config=config,
    )


RETAINED_30D = {"cleanup.policy": "delete", "retention.ms": str(30 * 24 * 3600 * 1000)}
#: Inbound topics take records larger than their consumer accepts (feed.v1 and UOF: 1 MiB,
#: Betfair: 4 MiB), so an oversize record reaches the worker and is dead-lettered with its size
#: instead of being refused to its producer by the broker's default limit (~1 MiB).
INBOUND_2MIB = {**RETAINED_7D, "max.message.bytes": str(2 * 1024 * 1024)}
INBOUND_8MIB = {**RETAINED_7D, "max.message.bytes": str(8 * 1024 * 1024)}

#: Inbound raw UOF XML, one message per record, key = event id (``producer:{id}`` otherwise).
raw_uof = _topic("feed.raw.uof.v1", INBOUND_2MIB)
#: Inbound raw Betfair Exchange Stream ``mcm`` messages, key = the stream they came from.
raw_betfair = _topic("feed.raw.betfair.v1", INBOUND_8MIB)
#: Internal: Betfair market changes re-keyed by market id (one owner per market's ladders).
raw_betfair_markets = _topic("feed.raw.betfair.markets.v1", RETAINED_7D)
#: Inbound: canonical feed messages, key = event id (``producer:{id}`` for producer messages).
feed = _topic("feed.v1", INBOUND_2MIB)
#: Outbound: full market snapshot on every change, key = market key.
markets = _topic("markets.v1", COMPACTED)
#: Outbound: one record per market version that changed prices or status, with the list of
#: those changes, key = market key.
odds_changes = _topic("odds-changes.v2", RETAINED_7D)
#: Outbound: event state (fixture, live status, market counts), key = event id.
events = _topic("events.v1", COMPACTED)
#: Outbound: settlements, cancels and their rollbacks, key = market key.
settlements = _topic("settlements.v1", RETAINED_30D)
#: Outbound to the ingestion side: recoveries to request from a producer, key = producer id.
recovery_requests = _topic("recovery_requests.v1", RETAINED_7D)
#: Records that could not be decoded or broke the contract, with the reason.
dead_letters = _topic("feed.dlq.v1", RETAINED_7D)
#: Market descriptions (names, outcome names, market groups), key = ``{market_id}``,
#: ``{market_id}?variant={variant}`` or ``*?variant={variant}``; every worker reads it whole.
market_descriptions = _topic("market-descriptions.v1", COMPACTED)

ALL_TOPICS: tuple[TopicT, ...] = (raw_uof, raw_betfair, raw_betfair_markets, feed, markets,
                                  odds_changes, events, settlements, recovery_requests,
                                  dead_letters, market_descriptions)
