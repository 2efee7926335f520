"""The Betfair ingestor's throughput into Kafka and its CPU per message.

    python -m bench.ingest_betfair --messages 200000

A local TLS Exchange Stream server (tests/betfair_stream_server.py) answers the handshake,
then streams the recorded race's lines cycled (clk and pt increasing) as fast as the ingestor
reads them. The ingestor runs as its own process (``faust -A app ingest betfair``) into a
scratch topic prefix on the real Kafka. The clock starts when the subscription is answered and
stops when Kafka's end offsets of the raw topic hold every line; the CPU is the ingestor
process's (utime + stime from /proc/<pid>/stat) over the same span. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from app.kafka_security import bootstrap_servers
from bench.ingest_probe import cpu_seconds, wait_landed
from bench.platform import faust_command, free_port, spawn, stop_process
from tests.betfair_stream_server import FakeExchangeStream, Session, StreamTls, cycled_lines

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "tests" / "resources" / "betfair" / "BASIC-1.132153978"
BROKER_URL = os.environ.get("BROKER_URL", "kafka://127.0.0.1:9092")
TOPIC = "feed.raw.betfair.v1"
APP_KEY, SESSION = "bench-app-key", "bench-session"
WRITE_CHUNK = 256 * 1024


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Stream:
    """The feed: the pre-encoded lines in big writes, then heartbeats until the client goes."""

    def __init__(self, payload: bytes, pid: list[int]) -> None:
        self.payload = payload
        self.pid = pid
        self.started = 0.0
        self.cpu_at_start = 0.0
        self.written = 0.0
        self.streaming = asyncio.Event()

    async def __call__(self, session: Session) -> None:
        await session.send({"op": "status", "id": session.subscription["id"],
                            "statusCode": "SUCCESS", "connectionClosed": False})
        self.started = time.perf_counter()
        self.cpu_at_start = cpu_seconds(self.pid[0])
        self.streaming.set()
        view = memoryview(self.payload)
        for offset in range(0, len(view), WRITE_CHUNK):
            await session.send_raw(view[offset:offset + WRITE_CHUNK].tobytes())
        self.written = time.perf_counter()
        await session.heartbeats("end")


async def end_offsets_total(consumer: AIOKafkaConsumer, parts: list[TopicPartition]) -> int:
    ends = await consumer.end_offsets(parts)
    return int(sum(ends.values()))


async def run(messages: int, partitions: int) -> dict[str, Any]:
    bootstrap = bootstrap_servers(BROKER_URL)
    prefix = f"bench-ingest-{uuid.uuid4().hex[:8]}."
    topic = prefix + TOPIC
    lines = [orjson.loads(line) for line in RECORDED.read_bytes().splitlines() if line.strip()]
    payload = b"".join(cycled_lines(lines, messages))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs={
        "max.message.bytes": str(8 * 1024 * 1024)})])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    parts = [TopicPartition(topic, p) for p in range(partitions)]
    pid: list[int] = [0]
    stream = Stream(payload, pid)
    with tempfile.TemporaryDirectory() as scratch:
        tls = StreamTls.make(Path(scratch))
        server = FakeExchangeStream(tls, APP_KEY, SESSION, stream)
        port = await server.start()
        env = {**os.environ, "BROKER_URL": BROKER_URL, "TOPIC_PREFIX": prefix,
               "APP_ID": f"odds-{prefix.rstrip('.')}", "APP_DATADIR": scratch,
               "TOPIC_PARTITIONS": str(partitions), "EVENT_LOOP": "uvloop",
               "INGEST_WEB_PORT": str(free_port()),
               "BETFAIR_STREAM_URL": f"tls://127.0.0.1:{port}",
               "BETFAIR_STREAM_CAFILE": str(tls.cafile), "BETFAIR_APP_KEY": APP_KEY,
               "BETFAIR_SESSION_TOKEN": SESSION, "BETFAIR_HEARTBEAT_MS": "5000"}
        log_path = Path(scratch) / "ingest.log"
        load_before = os.getloadavg()
        proc = spawn(faust_command("app", None, "ingest", "betfair"), env, log_path)
        pid[0] = proc.pid
        try:
            await asyncio.wait_for(stream.streaming.wait(), 120)

            async def landed() -> int:
                if proc.poll() is not None:
                    raise RuntimeError(f"the ingestor exited:\n{log_path.read_text()[-3000:]}")
                return await end_offsets_total(consumer, parts)

            finished = await wait_landed(landed, messages, poll_s=0.02)
            total = await end_offsets_total(consumer, parts)
            cpu = cpu_seconds(proc.pid) - stream.cpu_at_start
            rss = rss_mib(proc.pid)
        finally:
            await asyncio.to_thread(stop_process, proc)
            await server.stop()
            await consumer.stop()
            await admin.delete_topics([topic])
            await admin.close()
    elapsed = finished - stream.started
    return {
        "messages": messages,
        "records_in_kafka": total,
        "payload_bytes": len(payload),
        "seconds": round(elapsed, 3),
        "messages_per_s": round(messages / elapsed),
        "server_wrote_all_after_s": round(stream.written - stream.started, 3),
        "ingestor_cpu_s": round(cpu, 2),
        "cpu_us_per_message": round(cpu / messages * 1e6, 1),
        "ingestor_cpu_share": round(cpu / elapsed, 2),
        "ingestor_rss_mib": round(rss, 1),
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "partitions": partitions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.messages, args.partitions))))


if __name__ == "__main__":
    main()
