"""The MySQL sink of the worker: ``sinks.consumer`` in this process unless SINK_MODE=separate.

A plain consumer in its own group, committing only after a batch is written; stopping the
worker cancels a write under way before its commit.
"""

from __future__ import annotations

from typing import Any, cast

from faust.types import AppT

from app.faust_app import settings
from app.kafka_security import client_kwargs
from app.liveness import LIVENESS
from sinks.consumer import SinkConsumer
from sinks.mysql import MySQLSink

#: The inline sink's consumer (None when a separate ``faust -A app mysql-sink`` process
#: writes MySQL).
INLINE_SINK: SinkConsumer | None = None



def install(faust_app: AppT) -> None:
    """Run the MySQL sink in this worker when ``SINK_MODE=inline``."""
    global INLINE_SINK
    if settings.sink_mode != "inline":
        return
    writer = MySQLSink(settings.mysql)
    INLINE_SINK = SinkConsumer(settings, writer, client_kwargs(settings))
    LIVENESS.mysql_ping = writer.ping
    # Faust starts an instance as it is (its signature asks for a class).
    faust_app.service(cast(Any, INLINE_SINK))
