"""The probe and metrics endpoints of a service process: ``/health``, ``/ready``, ``/metrics``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

#: A probe's answer: HTTP status and JSON body.
Verdict = tuple[int, dict[str, Any]]


def probes_app(health: Callable[[], Awaitable[Verdict]],
               ready: Callable[[], Awaitable[Verdict]]) -> web.Application:
    """Return the endpoints; each probe is asked on every request."""

    def view(probe: Callable[[], Awaitable[Verdict]]) -> Callable[
            [web.Request], Awaitable[web.Response]]:
        async def answer(_request: web.Request) -> web.Response:
            status, body = await probe()
            return web.json_response(body, status=status)
        return answer

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    served = web.Application()
    served.router.add_get("/health", view(health))
    served.router.add_get("/ready", view(ready))
    served.router.add_get("/metrics", metrics)
    return served


@contextlib.asynccontextmanager
async def serving(application: web.Application, host: str, port: int) -> AsyncIterator[None]:
    """Serve ``application`` on ``host:port`` for the duration of the block."""
    # No access log: probes and scrapes every few seconds would bury what matters.
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield
    finally:
        await runner.cleanup()


def stop_on_signals() -> asyncio.Event:
    """Return an event that SIGTERM or SIGINT sets (a service process's clean stop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop
