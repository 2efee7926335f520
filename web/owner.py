"""Read one event's state where it lives: this worker's tables, or its owner over HTTP."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from yarl import URL

from app.faust_app import app
from tables import state

log = logging.getLogger(__name__)

OWNER_TIMEOUT = aiohttp.ClientTimeout(total=5)


class OwnerUnavailable(RuntimeError):
    """The worker that owns the event is not known yet or did not answer."""


def owner_url(event_id: str) -> URL | None:
    """Return the owner's base URL, or None when this worker owns the event."""
    try:
        dest = app.router.key_store(state.events.name, event_id)
    except (KeyError, TypeError, LookupError) as exc:
        raise OwnerUnavailable("partition owner unknown; retry shortly") from exc
    canonical = URL(str(app.conf.canonical_url))
    if (dest.host, dest.port) == (canonical.host, canonical.port):
        return None
    return dest


async def owned_json(event_id: str, path: str, query: Mapping[str, str],
                     local: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    """Return ``local()`` on the owner, else GET ``path`` from it; None means not found."""
    base = owner_url(event_id)
    if base is None:
        return local()
    return await _ask(base.with_path(path, encoded=False).with_query(query), None)


async def owned_post(event_id: str, path: str, body: dict[str, Any],
                     local: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Return ``await local()`` on the owner, else the owner's answer to POST ``body`` to
    ``path``."""
    base = owner_url(event_id)
    if base is None:
        return await local()
    answer = await _ask(base.with_path(path, encoded=False), body)
    if answer is None:
        raise OwnerUnavailable("the owning worker does not know the route")
    return answer


async def _ask(url: URL, body: dict[str, Any] | None) -> dict[str, Any] | None:
    method = "GET" if body is None else "POST"
    try:
        async with app.http_client.request(method, url, json=body,
                                           timeout=OWNER_TIMEOUT) as response:
            if response.status == 404:
                return None
            if response.status != 200:
                raise OwnerUnavailable(f"the owning worker answered HTTP {response.status}")
            answer: dict[str, Any] = await response.json()
            return answer
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise OwnerUnavailable(f"the owning worker did not answer ({type(exc).__name__})") \
            from exc
