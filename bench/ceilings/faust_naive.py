"""The baseline: a Faust agent written the way Faust's documentation shows.

One event at a time, the message deserialized into ``faust.Record`` models, a RocksDB table,
``table[key] = value`` for every market the message carries (and the event's last message
type for the others). Faust's default settings; no batching, no tuning. Started by
``bench.run`` as

    BENCH_APP_ID=.. BENCH_TOPIC=.. BENCH_EXPECT=N BENCH_RESULT=file BENCH_DATADIR=dir \\
        python -m faust -A bench.ceilings.faust_naive worker -l info
"""

import os
from typing import List, Optional  # noqa: UP035 - resolved by Faust at class creation

import faust

from bench.ceilings.progress import Progress


class Outcome(faust.Record):
    id: str
    odds: Optional[float] = None  # noqa: UP045
    active: bool = True


class Market(faust.Record):
    id: str
    outcomes: List[Outcome]  # noqa: UP006
    specifiers: str = ""
    status: str = "active"


class FeedMessage(faust.Record, serializer="json"):
    type: str
    producer: int
    ts: int
    event_id: str = ""
    markets: Optional[List[Market]] = None  # noqa: UP006, UP045


app = faust.App(
    os.environ["BENCH_APP_ID"],
    broker=os.environ.get("BROKER_URL", "kafka://127.0.0.1:9092"),
    store="rocksdb://",
    datadir=os.environ.get("BENCH_DATADIR", "/tmp/bench-naive"),  # noqa: S108
    topic_partitions=int(os.environ.get("TOPIC_PARTITIONS", "8")),
    web_enabled=False,
)
feed = app.topic(os.environ["BENCH_TOPIC"], key_type=str, value_type=FeedMessage)
markets = app.Table("markets", default=None, value_type=Market)
events = app.Table("events", default=None, value_type=str)
progress = Progress.from_env()


@app.agent(feed, name="naive")
async def naive(stream: faust.StreamT[FeedMessage]) -> None:
    """Store each market of each message in the table, one message at a time."""
    async for message in stream:
        for market in message.markets or ():
            markets[f"{message.event_id}/{market.id}/{market.specifiers}"] = market
        if not message.markets:
            events[message.event_id] = message.type
        progress.add(1)
