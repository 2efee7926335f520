"""Raw aiokafka ceiling: consume a topic with ``getmany`` and produce each value to another.

No decoding, no state: what the broker and aiokafka allow one Python process on this machine.
Each fetched batch is sent without awaiting each record, then its acknowledgements are awaited
together (as the platform does per batch). Stops after ``--expect`` records and writes
``{"count", "first_batch", "t_first", "t_last", "rate"}`` to ``--result``.

    python -m bench.ceilings.passthrough --source T --target T2 --group G --expect N --result F
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.kafka_security import bootstrap_servers


async def run(args: argparse.Namespace) -> dict[str, float]:
    bootstrap = bootstrap_servers(os.environ.get("BROKER_URL", "kafka://127.0.0.1:9092"))
    consumer = AIOKafkaConsumer(
        args.source, bootstrap_servers=bootstrap, group_id=args.group,
        auto_offset_reset="earliest", enable_auto_commit=True,
        max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=32 * 1024 * 1024)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=512 * 1024)
    await consumer.start()
    await producer.start()
    count = first_batch = 0
    t_first = t_last = 0.0
    try:
        while count < args.expect:
            batches = await consumer.getmany(timeout_ms=500, max_records=5_000)
            if not batches:
                continue
            if not t_first:
                t_first = time.time()
            pending = []
            for records in batches.values():
                for record in records:
                    pending.append(await producer.send(args.target, key=record.key,
                                                       value=record.value))
            await asyncio.gather(*pending)
            if not first_batch:
                first_batch = len(pending)
            count += len(pending)
            t_last = time.time()
    finally:
        await producer.stop()
        await consumer.stop()
    rate = (count - first_batch) / (t_last - t_first) if t_last > t_first else 0.0
    return {"count": count, "first_batch": first_batch, "t_first": t_first,
            "t_last": t_last, "rate": rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(run(args))
    else:
        result = asyncio.run(run(args))
    partial = args.result.with_suffix(".tmp")
    partial.write_text(json.dumps(result))
    partial.rename(args.result)


if __name__ == "__main__":
    main()
