"""The worker's HTTP server (``app.web_server``) on a real socket: header deadline, quiet 400s."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web as aioweb

from app.web_server import SERVER, GuardedRunner, describe, printable, server_header
from tests.integration.support import free_port

TIMEOUT = 0.3
#: Longest a test waits for something that should happen after ``TIMEOUT``.
PATIENCE = 5.0

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connect = Callable[[], Awaitable[Connection]]


async def echo(request: aioweb.Request) -> aioweb.Response:
    return aioweb.Response(body=await request.read())


async def ignore(_request: aioweb.Request) -> aioweb.Response:
    return aioweb.Response(body=b"ignored")


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Open connections to a server with a ``TIMEOUT`` header deadline; close all after."""
    served = aioweb.Application()
    served.router.add_route("*", "/", echo)
    served.router.add_route("*", "/ignore", ignore)
    served.on_response_prepare.append(server_header)
    runner = GuardedRunner(served, header_timeout=TIMEOUT, access_log=None)
    await runner.setup()
    port = free_port()
    await aioweb.TCPSite(runner, "127.0.0.1", port).start()
    opened: list[asyncio.StreamWriter] = []

    async def open_one() -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        opened.append(writer)
        return reader, writer

    try:
        yield open_one
    finally:
        for writer in opened:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await runner.cleanup()


async def closed(reader: asyncio.StreamReader, seconds: float = PATIENCE) -> bool:
    """Read until the server closes the connection; False if it is open after ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(4096):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def request(connection: Connection, raw: bytes) -> tuple[str, bytes]:
    """Send one request; return its response head and body (Content-Length framed)."""
    reader, writer = connection
    writer.write(raw)
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    length = next(int(line.split(":")[1]) for line in head.split("\r\n")
                  if line.lower().startswith("content-length:"))
    return head, await reader.readexactly(length)


async def test_half_sent_headers_and_silence_are_cut_off(connect: Connect) -> None:
    started = time.monotonic()  # before the connections: their deadlines start there
    half, writer = await connect()
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    silent, _ = await connect()
    assert await closed(half)
    assert await closed(silent)
    assert TIMEOUT <= time.monotonic() - started < PATIENCE


async def test_trickling_headers_do_not_extend_the_deadline(connect: Connect) -> None:
    reader, writer = await connect()
    started = time.monotonic()
    writer.write(b"GET / HTTP/1.1\r\n")
    cut = False
    while not cut and time.monotonic() - started < PATIENCE:
        writer.write(b"X: y\r\n")  # one header line every TIMEOUT / 10
        cut = await closed(reader, TIMEOUT / 10)
    assert cut
    assert time.monotonic() - started < PATIENCE


async def test_idle_keep_alive_and_slow_bodies_are_not_timed(connect: Connect) -> None:
    kept = await connect()
    head, _ = await request(kept, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith("HTTP/1.1 200") and f"Server: {SERVER}\r\n" in head
    kept[1].write(b"\r\n")  # an empty line between requests starts none
    # A probe opened now is cut off after the deadline, so once it is, the kept-alive
    # connection has been idle for longer than that.
    probe, _ = await connect()
    assert await closed(probe)
    head, _ = await request(kept, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith("HTTP/1.1 200")
    kept[1].write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc")
    probe, _ = await connect()
    assert await closed(probe)
    head, body = await request(kept, b"def")
    assert head.startswith("HTTP/1.1 200") and body == b"abcdef"


async def test_a_malformed_request_is_a_json_400_logged_once_at_info(
        connect: Connect, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    connection = await connect()
    head, body = await request(connection, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
    assert " 400 Bad Request\r\n" in head and f"Server: {SERVER}\r\n" in head
    assert json.loads(body) == {"error": {"code": "bad_request",
                                          "message": "malformed HTTP request"}}
    assert await closed(connection[0])
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [(r.levelno, r.exc_info) for r in records] == [(logging.INFO, None)], records
    assert records[0].getMessage().startswith("malformed HTTP request from 127.0.0.1: ")


async def test_a_body_that_cannot_be_decoded_is_logged_once_at_info(
        connect: Connect, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    connection = await connect()
    head, body = await request(connection, b"POST /ignore HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!")
    assert head.startswith("HTTP/1.1 200") and body == b"ignored"
    assert await closed(connection[0])
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [(r.levelno, r.exc_info) for r in records] == [(logging.INFO, None)], records
    assert records[0].getMessage().startswith("malformed HTTP request body from 127.0.0.1: ")


def test_reasons_are_one_printable_line() -> None:
    assert printable("a\r\nb\x1b[31m\tc" + "x" * 500) == "a b?[31m c" + "x" * 150
    assert describe(ValueError("boom")) == "ValueError: boom"
    assert describe(None, None) == "?"
