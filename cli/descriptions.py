"""CLI command ``descriptions load``: UOF market descriptions XML into market-descriptions.v1."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faust.cli import argument

from app import topics
from app.faust_app import app, settings
from app.kafka_security import client_kwargs
from feeds.errors import AdapterError
from feeds.uof_descriptions import parse_descriptions

EXIT_FAILURE = 1


def read_descriptions(paths: tuple[Path, ...]) -> list[tuple[str, dict[str, Any]]]:
    """Parse every file in order (a later record of a key replaces an earlier one)."""
    records: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        try:
            records.extend(parse_descriptions(path.read_bytes()))
        except AdapterError as exc:
            raise AdapterError(f"{path}: {exc.reason}") from None
        except OSError as exc:
            raise AdapterError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return records


@app.command(
    argument("action", type=click.Choice(["load"])),
    argument("paths", nargs=-1, required=True,
             type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)),
)
async def descriptions(self: Any, action: str, paths: tuple[Path, ...]) -> None:
    """Load market descriptions (Sportradar's markets.xml or variants.xml) for every worker."""
    try:
        records = await asyncio.to_thread(read_descriptions, paths)
    except AdapterError as exc:
        self.say(f"descriptions: unreadable input: {exc.reason}", file=self.stderr)
        raise SystemExit(EXIT_FAILURE) from None
    topic = topics.market_descriptions.get_topic_name()
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all", enable_idempotence=True)
    try:
        await producer.start()
        try:
            sends = [await producer.send(topic, orjson.dumps(value), key=key.encode())
                     for key, value in records]
            await asyncio.gather(*sends)
        finally:
            await producer.stop()
    except KafkaError as exc:
        self.say(f"descriptions: Kafka refused the records: {exc!r}", file=self.stderr)
        raise SystemExit(EXIT_FAILURE) from None
    self.say(f"descriptions: {len(records)} loaded into {topic} from "
             f"{', '.join(str(p) for p in paths)}")
