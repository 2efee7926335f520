"""Ask a service process's probe endpoints, served for real on a free local port."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from app.probes import serving
from tests.unit.broker_fakes import closed_port


async def get_json(application: web.Application, path: str) -> tuple[int, Any]:
    """Serve ``application``, GET ``path`` once; return the status and the JSON body."""
    port = closed_port()
    async with serving(application, "127.0.0.1", port), aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}{path}") as resp:
        return resp.status, await resp.json()
