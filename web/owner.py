"""Read one event's state where it lives: this worker's tables, or its owner over HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
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
    url = base.with_path(path, encoded=False).with_query(query)
    try:
        async with app.http_client.get(url, timeout=OWNER_TIMEOUT) as response:
            if response.status == 404:
                return None
            if response.status != 200:
                raise OwnerUnavailable(f"the owning worker answered HTTP {response.status}")
            body: dict[str, Any] = await response.json()
            return body
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise OwnerUnavailable(f"the owning worker did not answer ({type(exc).__name__})") \
            from exc
