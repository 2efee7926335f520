"""Request bodies read with a bound (``web.bodies``): never more than the limit is read."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import pytest
from aiohttp import streams
from aiohttp.test_utils import make_mocked_request

from web.bodies import TooLarge, read_bounded, too_large

LIMIT = 20_000


def request(chunks: list[bytes], headers: dict[str, str] | None = None,
            eof: bool = True) -> tuple[Any, streams.StreamReader]:
    protocol = mock.Mock(_reading_paused=False)
    payload = streams.StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
    for chunk in chunks:
        payload.feed_data(chunk)
    if eof:
        payload.feed_eof()
    return make_mocked_request("POST", "/graphql", headers=headers or {},
                               payload=payload), payload


async def test_a_body_within_the_limit_is_read_whole() -> None:
    body = b"x" * LIMIT
    found, _ = request([body[:7000], body[7000:]], {"Content-Length": str(LIMIT)})
    assert await read_bounded(found, LIMIT) == body
    empty, _ = request([])
    assert await read_bounded(empty, LIMIT) == b""


async def test_an_announced_length_over_the_limit_is_refused_unread() -> None:
    found, payload = request([b"x" * 1000], {"Content-Length": str(150 * 2**20)}, eof=False)
    with pytest.raises(TooLarge, match="157286400 bytes"):
        await read_bounded(found, LIMIT)
    assert payload.total_bytes == 1000 and not payload.at_eof()
    assert len(payload._buffer) == 1  # nothing taken out


async def test_a_chunked_body_is_read_only_past_the_limit() -> None:
    found, payload = request([b"x" * 16384] * 4, {"Transfer-Encoding": "chunked"}, eof=False)
    with pytest.raises(TooLarge):
        await read_bounded(found, LIMIT)
    assert sum(len(chunk) for chunk in payload._buffer) >= 4 * 16384 - (LIMIT + 1)


def test_the_refusal_is_a_413_in_the_error_shape_that_closes_the_connection() -> None:
    response: Any = too_large("body of 9 bytes is larger than 8 bytes")
    assert response.status == 413 and not response.keep_alive
    assert response.body == (b'{"error": {"code": "too_large", "message": '
                             b'"body of 9 bytes is larger than 8 bytes"}}')
