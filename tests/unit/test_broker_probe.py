"""The readiness probe's broker check, against sockets that refuse or never answer."""

import asyncio
import socket
import struct

from aiokafka.client import AIOKafkaClient
from aiokafka.structs import BrokerMetadata

from web.health import broker_problem


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client_knowing(*ports: int) -> AIOKafkaClient:
    """A client whose cluster metadata names brokers 1, 2, ... at ``ports`` on this host."""
    client = AIOKafkaClient(bootstrap_servers=f"127.0.0.1:{ports[0]}",
                            request_timeout_ms=30_000)
    client.cluster._brokers = {node: BrokerMetadata(node, "127.0.0.1", port, None)
                               for node, port in enumerate(ports, start=1)}
    return client


class SilentBroker:
    """Completes aiokafka's connection handshake (ApiVersions), then never answers: a
    broker cut off behind a connection that is still open.

    aiokafka opens connections one at a time, so a broker silent from the start would hold
    every other connection back for its 30 s request timeout, whatever the probe does.
    """

    def __init__(self) -> None:
        self.accepted: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> int:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted.append(writer)  # keeps the connection open
            size = struct.unpack(">i", await reader.readexactly(4))[0]
            request = await reader.readexactly(size)
            correlation_id = request[4:8]
            # ApiVersions v0 response: no error; Metadata (3) and ApiVersions (18), v0-v12.
            body = correlation_id + struct.pack(">hihhhhhh", 0, 2, 3, 0, 12, 18, 0, 12)
            writer.write(struct.pack(">i", len(body)) + body)
            await writer.drain()

        self.server = await asyncio.start_server(silent, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        for writer in self.accepted:
            writer.close()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


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
    silent = SilentBroker()
    async with silent as port:
        client = _client_knowing(port)
        loop = asyncio.get_running_loop()
        started = loop.time()
        problem = await broker_problem(client, "feed.v1", within=0.5)
        assert problem == "Kafka unreachable (broker 1: TimeoutError)"
        # The probe's own limit, not the client's 30 s request timeout, ended the wait.
        assert 0.45 <= loop.time() - started < 5.0
        assert silent.accepted, "the probe never reached the silent broker"
        await client.close()


async def test_brokers_are_asked_at_once_so_silent_ones_cost_the_limit_once() -> None:
    first, second, third = SilentBroker(), SilentBroker(), SilentBroker()
    async with first as port1, second as port2, third as port3:
        client = _client_knowing(port1, _closed_port(), port2, port3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        problem = await broker_problem(client, "feed.v1", within=1.0)
        elapsed = loop.time() - started
        assert problem == ("Kafka unreachable (broker 1: TimeoutError, broker 2: "
                           "NodeNotReadyError, broker 3: TimeoutError, broker 4: TimeoutError)")
        # Asked one after another, three silent brokers would take 3 s.
        assert 0.95 <= elapsed < 2.5
        assert first.accepted and second.accepted and third.accepted
        await client.close()
