"""The worker's HTTP server: Faust's aiohttp driver with a header deadline and quiet errors.

A connection must deliver each request's headers within ``header_timeout`` seconds of the
request's first byte (of the connection's opening, for its first request), or it is closed:
slow or stalled headers cannot hold sockets. An idle connection between requests keeps
aiohttp's keep-alive timeout. A request that cannot be parsed is the client's fault: it is
answered 400 in the platform's JSON shape and logged once at INFO, without a traceback.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import hdrs
from aiohttp import web as aioweb
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest
from faust.types import AppT
from faust.web.drivers import aiohttp as faust_aiohttp

from app.error_shape import json_error

#: The ``Server`` header of every response: no versions.
SERVER = "odds-platform"
REASON_CHARS = 160


def printable(text: str) -> str:
    """Return ``text`` as one short line of printable characters, safe to log."""
    line = " ".join(text.split())
    return "".join(c if c.isprintable() else "?" for c in line)[:REASON_CHARS]


def describe(exc: BaseException | None, message: str | None = None) -> str:
    """Return one printable line saying why a request could not be parsed."""
    return printable(f"{type(exc).__name__}: {message or exc}" if exc is not None
                     else message or "?")


class GuardedRequestHandler(RequestHandler):
    """aiohttp's HTTP/1 protocol with a deadline on request headers."""

    def __init__(self, manager: aioweb.Server, *, header_timeout: float,
                 **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        self._body: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Bytes that arrive while a body is read belong to that body, and empty lines between
        # requests to none; bytes that complete a body and start the next request in one
        # segment are not timed (the keep-alive timeout still bounds that connection).
        in_body = self._body is not None and not self._body.is_eof()
        requests = self._request_count
        super().data_received(data)
        if self._request_count != requests:
            self._disarm()
            self._body = self._messages[-1][1]
        elif (data.strip(b"\r\n") and not in_body and self._header_timer is None
              and not self._closing()):
            self._arm()

    def _closing(self) -> bool:
        return self._force_close or self._close or self._upgraded

    def _arm(self) -> None:
        self._header_timer = self._loop.call_later(self._header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        self.logger.debug("closing connection from %s: no complete request headers within"
                          " %.0f s", self.peername, self._header_timeout)
        self.force_close()

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """Log a body the client framed or encoded wrongly at INFO; anything else as aiohttp."""
        exc = kw.get("exc_info")
        if not isinstance(exc, RequestPayloadError):
            super().log_exception(*args, **kw)
            return
        # Met when aiohttp drains what the handler left unread (after web.errors answered
        # 400 to a handler that read it): once per request.
        peer = self.peername
        host = peer[0] if isinstance(peer, tuple) else peer
        self.logger.info("malformed HTTP request body from %s: %s", host, describe(exc))

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> aioweb.StreamResponse:
        """Answer a malformed request 400 in JSON, logged at INFO; a fault as aiohttp does."""
        if status >= 500:
            response = super().handle_error(request, status, exc, message)
            response.headers[hdrs.SERVER] = SERVER
            return response
        self.logger.info("malformed HTTP request from %s: %s", request.remote,
                         describe(exc, message))
        if request.writer.output_size > 0:
            raise ConnectionError("the response was sent already: cannot answer an error")
        response = json_error(status, "malformed HTTP request")
        response.headers[hdrs.SERVER] = SERVER
        response.force_close()
        return response


class GuardedServer(aioweb.Server):
    """aiohttp's low-level server, whose connections have a header deadline."""

    def __init__(self, handler: Any, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.header_timeout = header_timeout

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(self, loop=self._loop, header_timeout=self.header_timeout,
                                     **self._kwargs)


class GuardedRunner(aioweb.AppRunner):
    """aiohttp's application runner, serving with ``GuardedServer``."""

    def __init__(self, app: aioweb.Application, *, header_timeout: float,
                 **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout = header_timeout

    async def _make_server(self) -> aioweb.Server:
        made = await super()._make_server()  # starts the application, builds its handler
        return GuardedServer(made.request_handler, request_factory=made.request_factory,
                             handler_cancellation=made.handler_cancellation,
                             header_timeout=self.header_timeout, **made._kwargs)


async def server_header(_request: aioweb.Request, response: aioweb.StreamResponse) -> None:
    """Name the server without versions (aiohttp's default names Python's and its own)."""
    response.headers[hdrs.SERVER] = SERVER


class PlatformWeb(faust_aiohttp.Web):
    """Faust's aiohttp web driver, serving through ``GuardedRunner``."""

    def __init__(self, app: AppT, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._runner = GuardedRunner(self.web_app, access_log=None,
                                     header_timeout=header_timeout)
        self.web_app.on_response_prepare.append(server_header)
