"""Kafka brokers that refuse or go silent, on real sockets, for the readiness probes' tests."""

import asyncio
import socket
import struct

from aiokafka.client import AIOKafkaClient
from aiokafka.structs import BrokerMetadata


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client_knowing(*ports: int) -> AIOKafkaClient:
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
