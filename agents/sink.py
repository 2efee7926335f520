"""The MySQL sink agent: outbound topics in batches, written idempotently."""

from __future__ import annotations

from typing import cast

import orjson
from faust.streams import Stream
from faust.types import StreamT

from app import metrics, topics
from app.faust_app import app, settings
from sinks.mysql import MySQLSink, SinkBatch

sink = MySQLSink(settings.mysql)

SOURCES = app.topic(
    *(t.get_topic_name() for t in (topics.markets, topics.events, topics.settlements,
                                   topics.odds_changes)),
    key_serializer="raw", value_serializer="raw",
)
_FIELD_BY_TOPIC = {
    topics.markets.get_topic_name(): "markets",
    topics.events.get_topic_name(): "events",
    topics.settlements.get_topic_name(): "settlements",
    topics.odds_changes.get_topic_name(): "odds_changes",
}


@app.agent(SOURCES, name="mysql-sink")
async def mysql_sink_agent(stream: StreamT[bytes]) -> None:
    """Write outbound records to MySQL; offsets advance only after a batch has landed."""
    batches = cast(Stream[bytes], stream).take_events(
        settings.sink_batch_size, within=settings.sink_within
    )
    async for events in batches:
        batch = SinkBatch()
        for event in events:
            if event.message.value is not None:
                getattr(batch, _FIELD_BY_TOPIC[event.message.topic]).append(
                    orjson.loads(event.message.value))
        metrics.SINK_BATCH_SIZE.observe(len(events))
        await sink.write_with_retry(batch)
