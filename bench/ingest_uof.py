"""The UOF ingestor's throughput: provider messages per second into Kafka, CPU per message.

A publisher process (``bench/amqp_publisher.py``: frames built in advance, written in large
writes) sends realistic odds_change messages (five markets, 1,000 matches) to the
``unifiedfeed`` exchange of the local RabbitMQ as fast as the broker takes them, with
Sportradar's routing keys; the ingestor (``faust -A app ingest uof``, its own process)
consumes them into a scratch raw topic. The rate is messages over the time from the first
publish to Kafka holding the last record; the ingestor's CPU is read from /proc before and
after. When the queue stays empty the publisher, not the ingestor, set the pace: the report
gives both rates. With ``--backlog`` the ingestor is stopped (SIGSTOP) while everything is
published and timed from its SIGCONT to Kafka holding the last record: the rate at which it
drains a full queue, its own whatever the publisher's.

    python -m bench.ingest_uof [--messages 200000] [--backlog]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path

from bench.ingest_probe import cpu_seconds, wait_landed, wait_ready
from bench.kafka_io import BOOTSTRAP, Kafka
from bench.platform import ROOT, faust_command, free_port, spawn, stop_process

AMQP_URL = os.environ.get("UOF_AMQP_URL", "amqp://odds:odds@127.0.0.1:5672/unifiedfeed")
MATCHES = 1000
PARTITIONS = 8


def odds_change(match: int, ts: int, step: int) -> bytes:
    """One live odds_change of five markets, as Sportradar sends them."""
    markets = []
    for market_id, outcomes in (("1", ("1", "2", "3")), ("18", ("12", "13")),
                                ("60", ("1", "2", "3")), ("29", ("74", "76")),
                                ("16", ("1714", "1715"))):
        spec = ' specifiers="total=2.5"' if market_id == "18" else ""
        prices = "".join(f'<outcome id="{o}" odds="{1.5 + (step + i) % 40 / 20:.2f}" active="1"/>'
                         for i, o in enumerate(outcomes))
        markets.append(f'<market id="{market_id}"{spec} status="1">{prices}</market>')
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<odds_change product="1" event_id="sr:match:{match}" timestamp="{ts}">'
            f'<sport_event_status status="1" match_status="6" home_score="0" away_score="1"/>'
            f'<odds>{"".join(markets)}</odds></odds_change>').encode()


async def publish(count: int) -> float:
    """Publish ``count`` messages without confirms (bench.amqp_publisher, its own process);
    return the seconds it took, up to the broker's CloseOk."""
    messages = [(f"hi.-.live.odds_change.1.sr:match.{40000 + m}.-",
                 odds_change(40000 + m, int(time.time() * 1000), m).decode())
                for m in range(MATCHES)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.amqp_publisher", "--url", AMQP_URL,
        "--exchange", "unifiedfeed", "--count", str(count),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    out, _ = await proc.communicate(json.dumps(messages).encode())
    if proc.returncode != 0:
        raise RuntimeError(f"the publisher exited with {proc.returncode}")
    return float(json.loads(out)["seconds"])


async def run(messages: int, log: Path, *, backlog: bool = False) -> dict[str, float | int]:
    """Publish ``messages`` and time them into Kafka. With ``backlog`` the ingestor is stopped
    (SIGSTOP) while they are published and timed from its SIGCONT: the rate is then the
    ingestor's own, whatever the publisher's."""
    prefix = f"benchuof{uuid.uuid4().hex[:8]}."
    topic = f"{prefix}feed.raw.uof.v1"
    kafka = Kafka(BOOTSTRAP)
    await kafka.start()
    port = free_port()
    env = {**os.environ, "TOPIC_PREFIX": prefix, "INGEST_WEB_PORT": str(port),
           "TOPIC_PARTITIONS": str(PARTITIONS), "UOF_AMQP_URL": AMQP_URL}
    proc = spawn(faust_command("app", "uvloop", "ingest", "uof"), env, log)
    try:
        await kafka.create_topic(topic, PARTITIONS)
        await wait_ready(f"http://127.0.0.1:{port}", proc)

        async def landed_records() -> int:
            return sum((await kafka.end_offsets(topic)).values())

        if backlog:
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                published = await publish(messages)
                cpu_before, started = cpu_seconds(proc.pid), time.perf_counter()
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            landed = await wait_landed(landed_records, messages) - started
        else:
            cpu_before, started = cpu_seconds(proc.pid), time.perf_counter()
            publisher = asyncio.create_task(publish(messages))
            landed = await wait_landed(landed_records, messages) - started
            published = await publisher
        cpu = cpu_seconds(proc.pid) - cpu_before
    finally:
        await asyncio.to_thread(stop_process, proc)
        await kafka.delete_topics(prefix)
        await kafka.stop()
    return {"messages": messages, "backlog": backlog, "seconds": round(landed, 2),
            "messages_per_second": round(messages / landed),
            "publisher_messages_per_second": round(messages / published),
            "ingestor_cpu_us_per_message": round(cpu / messages * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--log", type=Path, default=Path("bench/results/ingest_uof.log"))
    parser.add_argument("--backlog", action="store_true",
                        help="publish everything while the ingestor is stopped, then time "
                             "its drain of the queue (its own rate, not the publisher's)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.messages, args.log, backlog=args.backlog))))


if __name__ == "__main__":
    main()
