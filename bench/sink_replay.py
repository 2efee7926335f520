"""The MySQL sink alone: the bench workload's outbound records written into an empty database.

The records are what the worker publishes for the workload (``models.engine.plan_batch`` over
batches of ``--worker-batch`` feed messages, in the order ``agents.odds.publish`` sends them),
planned before the clock starts. The measured part is the sink's: decoding each batch of
``--batch`` records and ``MySQLSink.write``. CPU is this process's and the MariaDB server's
(the process listening on the DSN's port, so run it on the machine that runs MariaDB), per
feed message and per row written; other load on the machine shows in the second.

    python -m bench.sink_replay [--messages 100000] [--batch 2000] [--records FILE]

``--records FILE`` saves the planned records there, or reads them if it exists: the same input
for two versions of the sink.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiomysql
import orjson

from app import metrics
from bench.platform import BASE_DSN, cpu_seconds, listening_pid
from bench.workload import Workload
from config.settings import MySQLConfig
from models.engine import plan_batch
from models.event import published_event
from models.keys import partition_for
from models.memory import MemoryState
from sinks.mysql import MySQLSink, SinkBatch

PARTITIONS = 8


def outbound(messages: int, events: int, seed: int, worker_batch: int
             ) -> list[tuple[str, bytes]]:
    """The sink's input for ``messages`` workload messages: ``(SinkBatch field, value)``."""
    feed = Workload(events=events, seed=seed).generate(messages)
    state = MemoryState()
    records: list[tuple[str, bytes]] = []
    chunk: list[tuple[int, bytes, bytes]] = []

    def publish() -> None:
        plan = plan_batch(chunk, state, lambda: 0)
        state.commit(plan)
        records.extend(("odds_changes", orjson.dumps(r.value)) for r in plan.odds_changes)
        records.extend(("settlements", orjson.dumps(r.value)) for r in plan.settlements)
        records.extend(("markets", orjson.dumps(p.state)) for p in plan.markets.values())
        records.extend(("events", orjson.dumps(published_event(p.state)))
                       for p in plan.events.values())
        chunk.clear()

    for key, value in feed.records():
        chunk.append((partition_for(key, PARTITIONS), key, value))
        if len(chunk) >= worker_batch:
            publish()
    if chunk:
        publish()
    return records


def load_or_plan(path: Path | None, args: argparse.Namespace
                 ) -> tuple[int, list[tuple[str, bytes]]]:
    """Feed messages and their records: saved in ``path``, or planned (and saved there)."""
    if path is not None and path.exists():
        head, *lines = path.read_bytes().splitlines()
        return int(head), [(f.decode(), v) for f, v in (x.split(b"\t", 1) for x in lines)]
    records = outbound(args.messages, args.events, args.seed, args.worker_batch)
    if path is not None:  # JSON holds no raw tab or newline
        path.write_bytes(b"%d\n" % args.messages
                         + b"".join(f.encode() + b"\t" + v + b"\n" for f, v in records))
    return args.messages, records


def rows_by_table() -> dict[str, float]:
    return {s.labels["table"]: s.value for m in metrics.SINK_ROWS.collect()
            for s in m.samples if s.name.endswith("_total")}


async def _admin(base: MySQLConfig, sql: str, *args: Any) -> list[Any]:
    conn = await aiomysql.connect(host=base.host, port=base.port, user=base.user,
                                  password=base.password, autocommit=True)
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql, args or None)
            return list(await cur.fetchall())
    finally:
        conn.close()


async def _size(base: MySQLConfig, database: str) -> dict[str, int]:
    """Bytes of data and indexes per table, as InnoDB counts them after ``ANALYZE``."""
    query = ("SELECT table_name, data_length + index_length FROM information_schema.tables"
             " WHERE table_schema = %s AND table_type = 'BASE TABLE'")
    names = [name for name, _ in await _admin(base, query, database)]
    await _admin(base, "ANALYZE TABLE " + ", ".join(f"`{database}`.`{n}`" for n in names))
    return {name: int(size) for name, size in await _admin(base, query, database) if size}


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def replay(records: list[tuple[str, bytes]], batch: int, keep: bool) -> dict[str, Any]:
    """Write ``records`` in batches into a new database; return what it cost."""
    base = MySQLConfig.from_dsn(BASE_DSN)
    config = replace(base, database=f"bench_sink_{uuid.uuid4().hex[:8]}")
    server = listening_pid(base.port)
    await _admin(base, f"CREATE DATABASE `{config.database}`")
    sink = MySQLSink(config)
    try:
        await sink.start()  # the schema, outside the measurement
        before = rows_by_table()
        own, db, wall = _own_cpu(), cpu_seconds(server) if server else None, time.perf_counter()
        loads = orjson.loads
        for start in range(0, len(records), batch):
            decoded = SinkBatch()
            for field, value in records[start:start + batch]:
                getattr(decoded, field).append(loads(value))
            await sink.write(decoded)
        wall = time.perf_counter() - wall
        own = _own_cpu() - own
        db = cpu_seconds(server) - db if server and db is not None else None
        rows = {t: int(n - before.get(t, 0.0)) for t, n in rows_by_table().items()
                if n > before.get(t, 0.0)}
        size = await _size(base, config.database)
    finally:
        await sink.close()
        if not keep:
            await _admin(base, f"DROP DATABASE IF EXISTS `{config.database}`")
    return {"database": config.database, "seconds": wall, "sink_cpu": own, "mariadb_cpu": db,
            "rows": rows, "bytes": size}


def report(messages: int, records: list[tuple[str, bytes]], run: dict[str, Any]) -> str:
    rows = sum(run["rows"].values())
    per = {"sink": run["sink_cpu"], "mariadb": run["mariadb_cpu"]}
    lines = [f"{messages:,} feed messages, {len(records):,} records "
             f"({dict(Counter(f for f, _ in records))}) in {run['seconds']:.1f} s",
             f"rows {rows:,} ({run['rows']}): {rows / messages:.2f} per message, "
             f"{rows / run['seconds']:,.0f}/s; {messages / run['seconds']:,.0f} messages/s",
             "MiB of data and indexes: " + ", ".join(
                 f"{t} {n / 2**20:,.1f}" for t, n in sorted(run["bytes"].items()))]
    for name, cpu in per.items():
        if cpu is not None:
            lines.append(f"{name} CPU {cpu:.1f} s: {cpu / messages * 1e6:.1f} us per message, "
                         f"{cpu / rows * 1e6:.2f} us per row")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worker-batch", type=int, default=256,
                        help="feed messages per planned batch (the worker's ~270 at full load)")
    parser.add_argument("--batch", type=int, default=2000, help="records per sink batch "
                        "(SINK_BATCH_SIZE)")
    parser.add_argument("--records", type=Path, help="read the records from this file, or "
                        "plan them and save them there")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args(argv)
    messages, records = load_or_plan(args.records, args)
    run = asyncio.run(replay(records, args.batch, args.keep))
    print(report(messages, records, run))


if __name__ == "__main__":
    main()
