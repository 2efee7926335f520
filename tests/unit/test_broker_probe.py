"""The readiness probe's broker check, against sockets that refuse or never answer."""

import asyncio
import socket

from aiokafka.client import AIOKafkaClient
from aiokafka.structs import BrokerMetadata

from web.health import broker_problem


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client_knowing(port: int) -> AIOKafkaClient:
    """A client whose cluster metadata names one broker, at ``port`` on this host."""
    client = AIOKafkaClient(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=30_000)
    client.cluster._brokers = {1: BrokerMetadata(1, "127.0.0.1", port, None)}
    return client


async def test_no_known_broker_is_a_problem() -> None:
    client = AIOKafkaClient(bootstrap_servers="127.0.0.1:1")
    assert await broker_problem(client, "feed.v1") == "Kafka unreachable: no broker known yet"
    await client.close()


async def test_a_refused_connection_is_a_problem() -> None:
    client = _client_knowing(_closed_port())
    problem = await broker_problem(client, "feed.v1", within=5.0)
    assert problem == "Kafka unreachable (broker 1: NodeNotReadyError)"
    await client.close()


async def test_a_broker_that_never_answers_times_out() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # keeps the connection open, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = _client_knowing(port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    problem = await broker_problem(client, "feed.v1", within=0.5)
    assert problem == "Kafka unreachable (broker 1: TimeoutError)"
    # The probe's own limit, not the client's 30 s request timeout, ended the wait.
    assert 0.45 <= loop.time() - started < 5.0
    assert accepted, "the probe never reached the silent broker"
    await client.close()
    for writer in accepted:
        writer.close()
    server.close()
    await server.wait_closed()
