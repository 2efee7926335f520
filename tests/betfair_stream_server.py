"""A local Betfair Exchange Stream server for the tests and the benchmark.

TLS with a certificate authority made on the spot (trustme); the handshake as Betfair does it
(``connection``, then a ``status`` answering ``authentication`` and ``marketSubscription``,
checking the app key and the session); what follows the subscription is a ``feed``: a replay of
a recorded file that drops the connection once and resumes from the client's clocks, or a
benchmark's pre-encoded lines as fast as the client reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import trustme

CRLF = b"\r\n"
INITIAL_CLK = "AAAAAAAAAAA6AAAAAAAAAA=="  # historic files carry clk only: the image gets this


@dataclass
class StreamTls:
    """A CA written to ``cafile`` (for BETFAIR_STREAM_CAFILE) and the server's context."""

    cafile: Path
    server_context: ssl.SSLContext

    @classmethod
    def make(cls, directory: Path, host: str = "127.0.0.1") -> StreamTls:
        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(host).configure_cert(context)
        cafile = directory / "betfair-test-ca.pem"
        ca.cert_pem.write_to_path(str(cafile))
        return cls(cafile, context)


@dataclass
class Session:
    """One subscribed connection, handed to the feed."""

    index: int  # 0 for the first connection
    subscription: dict[str, Any]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def send(self, message: dict[str, Any]) -> None:
        self.writer.write(orjson.dumps(message) + CRLF)
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await self.writer.wait_closed()

    async def heartbeats(self, clk: str | None) -> None:
        """Send ``ct: HEARTBEAT`` every heartbeatMs until the client goes away."""
        interval = self.subscription.get("heartbeatMs", 5000) / 1000
        with contextlib.suppress(OSError, ssl.SSLError):
            while not self.writer.is_closing():
                await asyncio.sleep(interval)
                await self.send({"op": "mcm", "id": self.subscription["id"], "clk": clk,
                                 "pt": int(time.time() * 1000), "ct": "HEARTBEAT"})


Feed = Callable[[Session], Awaitable[None]]


@dataclass
class FakeExchangeStream:
    """The server: checks the credentials, records every request, runs ``feed`` per session."""

    tls: StreamTls
    app_key: str
    session_token: str
    feed: Feed
    #: Answer the authentication with this status instead of checking it (e.g. an outage).
    auth_status: dict[str, Any] | None = None
    authentications: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self, host: str = "127.0.0.1") -> int:
        """Listen on a free port; return it."""
        self._server = await asyncio.start_server(self._accepted, host, 0,
                                                  ssl=self.tls.server_context)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        index = self.connections
        self.connections += 1
        try:
            await self._serve(index, reader, writer)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away, or the server stops
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def _serve(self, index: int, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        def status(request_id: Any, **fields: Any) -> bytes:
            return orjson.dumps({"op": "status", "id": request_id, **fields}) + CRLF

        writer.write(orjson.dumps({"op": "connection",
                                   "connectionId": f"002-{index:012d}-1"}) + CRLF)
        auth = orjson.loads(await reader.readuntil(CRLF))
        self.authentications.append(auth)
        if self.auth_status is not None:
            writer.write(status(auth.get("id"), **self.auth_status))
            await writer.drain()
            return
        if auth.get("op") != "authentication" or auth.get("appKey") != self.app_key:
            writer.write(status(auth.get("id"), statusCode="FAILURE", errorCode="INVALID_APP_KEY",
                                errorMessage="AppKey is not valid", connectionClosed=True))
            await writer.drain()
            return
        if auth.get("session") != self.session_token:
            writer.write(status(auth.get("id"), statusCode="FAILURE",
                                errorCode="INVALID_SESSION_INFORMATION",
                                errorMessage="Session token is not valid",
                                connectionClosed=True))
            await writer.drain()
            return
        writer.write(status(auth.get("id"), statusCode="SUCCESS", connectionClosed=False,
                            connectionsAvailable=9))
        subscription = orjson.loads(await reader.readuntil(CRLF))
        self.subscriptions.append(subscription)
        if subscription.get("op") != "marketSubscription":
            writer.write(status(subscription.get("id"), statusCode="FAILURE",
                                errorCode="INVALID_REQUEST", connectionClosed=True))
            await writer.drain()
            return
        self.subscribed.set()
        await self.feed(Session(index, subscription, reader, writer))


@dataclass
class Replay:
    """Replays recorded ``mcm`` lines: the first as the image (initialClk, SUB_IMAGE); drops
    the first connection after line ``drop_after``; a re-subscription resumes after the line
    whose clk it carries (RESUB_DELTA), an unknown clock gets INVALID_CLOCK. ``inject`` puts
    raw lines after the given line index (once). Heartbeats follow the last line."""

    lines: list[dict[str, Any]]
    drop_after: int | None = None
    inject: dict[int, list[bytes]] = field(default_factory=dict)
    dropped: bool = False
    resumed_at: list[int] = field(default_factory=list)

    @classmethod
    def from_file(cls, path: Path, **kwargs: Any) -> Replay:
        lines = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
        return cls(lines, **kwargs)

    async def __call__(self, session: Session) -> None:
        subscription = session.subscription
        start, change_type = 0, "SUB_IMAGE"
        if subscription.get("clk") is not None:
            clocks = [line.get("clk") for line in self.lines]
            if subscription.get("initialClk") != INITIAL_CLK or \
                    subscription["clk"] not in clocks:
                await session.send({"op": "status", "id": subscription["id"],
                                    "statusCode": "FAILURE", "errorCode": "INVALID_CLOCK",
                                    "connectionClosed": True})
                await session.close()
                return
            start, change_type = clocks.index(subscription["clk"]) + 1, "RESUB_DELTA"
        await session.send({"op": "status", "id": subscription["id"], "statusCode": "SUCCESS",
                            "connectionClosed": False})
        self.resumed_at.append(start)
        for index in range(start, len(self.lines)):
            message = {"op": "mcm", "id": subscription["id"], **self.lines[index]}
            if index == start:
                message["ct"] = change_type
                if change_type == "SUB_IMAGE":
                    message["initialClk"] = INITIAL_CLK
            await session.send(message)
            for raw in self.inject.pop(index, ()):
                await session.send_raw(raw + CRLF)
            if index == self.drop_after and not self.dropped:
                self.dropped = True
                await session.close()
                return
        await session.heartbeats(self.lines[-1].get("clk"))


def cycled_lines(lines: list[dict[str, Any]], count: int, subscription_id: int = 2,
                 start_pt: int | None = None) -> Iterable[bytes]:
    """``count`` encoded mcm lines: the recorded ones cycled, clk and pt increasing."""
    pt = start_pt if start_pt is not None else int(time.time() * 1000)
    for number in range(count):
        message = {**lines[number % len(lines)], "op": "mcm", "id": subscription_id,
                   "clk": str(1_000_000 + number), "pt": pt + number // 10}
        if number == 0:
            message["ct"], message["initialClk"] = "SUB_IMAGE", INITIAL_CLK
        yield orjson.dumps(message) + CRLF
