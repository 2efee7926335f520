"""The MySQL sink agent: ``markets.v1`` in batches, upserted idempotently."""

from __future__ import annotations

import orjson
from faust.types import StreamT

from app import topics
from app.faust_app import app, settings
from sinks.mysql import MySQLSink

sink = MySQLSink(settings.mysql)


@app.agent(topics.markets, name="mysql-sink")
async def mysql_sink_agent(stream: StreamT[bytes]) -> None:
    """Write market snapshots to MySQL; offsets advance only after a batch has landed."""
    async for values in stream.take(settings.sink_batch_size, within=settings.sink_within):
        snapshots = [orjson.loads(v) for v in values if v is not None]
        await sink.write_with_retry(snapshots)
