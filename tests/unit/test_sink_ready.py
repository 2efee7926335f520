"""The separate MySQL sink's ``/ready``: MySQL and a Kafka broker must both answer."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from cli.sink import health_app
from config import Settings
from sinks.consumer import SinkConsumer
from tests.unit.broker_fakes import client_knowing, closed_port
from tests.unit.probing import get_json


class FakeSink:
    """MySQL that answers or not."""

    def __init__(self, up: bool) -> None:
        self.up = up

    async def ping(self) -> bool:
        return self.up

    async def close(self) -> None:
        return None


async def ready(consumer: SinkConsumer) -> tuple[int, Any]:
    return await get_json(health_app(consumer), "/ready")


def sink_consumer(mysql_up: bool) -> SinkConsumer:
    return SinkConsumer(Settings.from_env({}), FakeSink(mysql_up), {})  # type: ignore[arg-type]


async def test_not_ready_before_its_consumer_runs() -> None:
    consumer = sink_consumer(mysql_up=True)
    assert await ready(consumer) == (503, {"status": "not_ready", "reasons": [
        "Kafka consumer not running (starting, or restarting after a failure)"]})


async def test_not_ready_while_no_broker_answers_nor_mysql() -> None:
    consumer = sink_consumer(mysql_up=False)
    client = client_knowing(closed_port())
    consumer.consumer = SimpleNamespace(_client=client)  # type: ignore[assignment]
    try:
        assert await ready(consumer) == (503, {"status": "not_ready", "reasons": [
            "MySQL unreachable", "Kafka unreachable (broker 1: NodeNotReadyError)"]})
    finally:
        await client.close()
