"""The Betfair ingestor: the Exchange Stream API into ``feed.raw.betfair.v1``, line by line.

The protocol is CRLF-delimited JSON over TLS. The server greets with ``{"op":"connection",
"connectionId":...}``; the client sends ``authentication`` (app key and session token) and a
``marketSubscription``, and the server answers each with a ``status`` carrying the request's
``id`` (``statusCode`` SUCCESS or FAILURE, ``errorCode``, ``errorMessage``,
``connectionClosed``). Then come ``mcm`` lines: the subscription image (``ct: SUB_IMAGE``),
deltas, heartbeats (``ct: HEARTBEAT``) when nothing else was sent for ``heartbeatMs``, and after
a re-subscription with ``initialClk`` and ``clk`` one ``ct: RESUB_DELTA`` that patches the
client up to date. Large changes come in segments (``segmentType`` SEG_START, SEG, SEG_END).

Every ``mcm`` line goes to the raw topic as received, in order, under one key (the platform's
splitter parses it); ``connection`` and ``status`` lines are the protocol and stay here. The
pure parts (requests, clocks, the status policy, line splitting) are separate from the I/O so
that they can be tested alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import Counter

from app import metrics
from config.settings import BETFAIR_FIELDS, BetfairStreamConfig
from ingest.backoff import Backoff
from ingest.raw_writer import RawTopicWriter
from ingest.service import SHOWN, IngestFatal, IngestStatus, lag_seconds, sleep_unless_stopped

log = logging.getLogger(__name__)

PROVIDER = "betfair"
AUTHENTICATION_ID = 1
SUBSCRIPTION_ID = 2
CRLF = b"\r\n"
CONNECT_TIMEOUT_S = 15.0  # TCP and TLS handshakes
READ_CHUNK = 256 * 1024
#: The read-ahead the stream reader buffers before it stops reading the socket. Lines are
#: split here, not by the reader, so this bounds memory, not the length of a line.
READ_AHEAD = 4 * 1024 * 1024
#: The longest line forwarded: the raw topic takes records of up to 8 MiB (max.message.bytes),
#: less the batch's and the headers' overhead. Betfair segments anything near this size.
MAX_LINE_BYTES = 7 * 1024 * 1024
#: No line for this many heartbeat intervals (at least MIN_READ_TIMEOUT_S) is a dead connection.
READ_TIMEOUT_HEARTBEATS = 3
MIN_READ_TIMEOUT_S = 5.0
STOP_GRACE_S = 10.0  # how long a stopping session may take to hand over what it read
MAX_CLOCK_CHARS = 256  # real clocks have tens of characters; the splitter allows 256
BAD_LINE_LOG_INTERVAL_S = 10.0

#: Error codes that no retry fixes: the credentials (or the app key's rights) are refused.
AUTH_ERRORS = frozenset({"NO_APP_KEY", "INVALID_APP_KEY", "NO_SESSION",
                         "INVALID_SESSION_INFORMATION", "NOT_AUTHORIZED"})
#: Error codes that say the request itself is wrong (the filter, a field): fix the settings.
REQUEST_ERRORS = frozenset({"INVALID_INPUT", "INVALID_REQUEST"})
#: The clocks sent are not (or no longer) valid: subscribe afresh, for a new image.
CLOCK_ERRORS = frozenset({"INVALID_CLOCK"})
#: Every code the API documents (ESASwaggerSchema.json); any other is counted as OTHER.
KNOWN_ERRORS = AUTH_ERRORS | REQUEST_ERRORS | CLOCK_ERRORS | frozenset({
    "UNEXPECTED_ERROR", "TIMEOUT", "SUBSCRIPTION_LIMIT_EXCEEDED", "CONNECTION_FAILED",
    "MAX_CONNECTION_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS"})
#: The ingestor's own counts in odds_ingest_provider_errors_total, beside Betfair's codes.
MALFORMED = "malformed_line"  # not JSON, not an object, or no op: forwarded all the same
UNEXPECTED_OP = "unexpected_op"  # an op this subscription never asks for: forwarded
OVERSIZED = "oversized_line"  # longer than MAX_LINE_BYTES: dropped, the topic cannot hold it
SEGMENT_OPEN = ("SEG_START", "SEG")
_WORD = re.compile(r"[A-Z][A-Z_]{0,63}")


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}..."


# -- requests -------------------------------------------------------------------------------

def authentication_request(config: BetfairStreamConfig,
                           request_id: int = AUTHENTICATION_ID) -> dict[str, Any]:
    """Return the ``authentication`` request (the app key and the session token)."""
    return {"op": "authentication", "id": request_id, "appKey": config.app_key,
            "session": config.session_token}


def subscription_request(config: BetfairStreamConfig, resume: tuple[str, str] | None = None,
                         request_id: int = SUBSCRIPTION_ID) -> dict[str, Any]:
    """Return the ``marketSubscription`` request; ``resume`` is (initialClk, clk) to go on from.

    The same filter every time: Betfair resumes a subscription only when it is sent again as
    it was, with the clocks.
    """
    request: dict[str, Any] = {
        "op": "marketSubscription", "id": request_id,
        "marketFilter": dict(config.market_filter),
        "marketDataFilter": {"fields": list(BETFAIR_FIELDS),
                             "ladderLevels": config.ladder_levels},
        "heartbeatMs": config.heartbeat_ms,
        "segmentationEnabled": True,
    }
    if config.conflate_ms > 0:
        request["conflateMs"] = config.conflate_ms
    if resume is not None:
        request["initialClk"], request["clk"] = resume
    return request


def encode_request(request: Mapping[str, Any]) -> bytes:
    """Return a request as one line of the protocol."""
    return orjson.dumps(request) + CRLF


def read_timeout_s(config: BetfairStreamConfig) -> float:
    """Return how long a silent connection is trusted (heartbeats come every heartbeat_ms)."""
    interval_ms = max(config.heartbeat_ms, config.conflate_ms)
    return max(MIN_READ_TIMEOUT_S, READ_TIMEOUT_HEARTBEATS * interval_ms / 1000)


# -- clocks ---------------------------------------------------------------------------------

def _clock(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_CLOCK_CHARS:
        return value
    return None


class ClockKeeper:
    """The latest ``initialClk`` and ``clk`` of the ``mcm`` lines handed to Kafka.

    A segmented change counts once its SEG_END is handed over: resuming from the middle of
    one could skip the segments not yet received, while resuming from before it only gets
    them again (Betfair's deltas set values, so a repeat changes nothing).
    """

    __slots__ = ("_segment_clk", "_segment_initial", "clk", "initial_clk")

    def __init__(self) -> None:
        self.initial_clk: str | None = None
        self.clk: str | None = None
        self._segment_initial: str | None = None
        self._segment_clk: str | None = None

    def observe(self, message: Mapping[str, Any]) -> None:
        """Take the clocks of one ``mcm`` message; non-string or absurd ones are ignored."""
        initial, clk = _clock(message.get("initialClk")), _clock(message.get("clk"))
        segment = message.get("segmentType")
        if segment in SEGMENT_OPEN:
            if segment == "SEG_START":
                self._segment_initial = self._segment_clk = None
            self._segment_initial = initial or self._segment_initial
            self._segment_clk = clk or self._segment_clk
            return
        # SEG_END, or an unsegmented message (which also ends a segment left unfinished).
        initial = initial or self._segment_initial
        clk = clk or self._segment_clk
        self._segment_initial = self._segment_clk = None
        if initial is not None:
            self.initial_clk = initial
        if clk is not None:
            self.clk = clk

    def abandon_segment(self) -> None:
        """Forget the clocks of a segmented change cut short (the connection dropped)."""
        self._segment_initial = self._segment_clk = None

    def forget(self) -> None:
        """Forget everything: the next subscription starts afresh with a new image."""
        self.initial_clk = self.clk = None
        self.abandon_segment()

    def resume_point(self) -> tuple[str, str] | None:
        """Return (initialClk, clk) to re-subscribe with, or None to subscribe afresh."""
        if self.initial_clk is None or self.clk is None:
            return None
        return self.initial_clk, self.clk


# -- status policy --------------------------------------------------------------------------

class Action(enum.Enum):
    """What a ``status`` line asks of the ingestor."""

    CONTINUE = "continue"
    RECONNECT = "reconnect"  # with a backoff, resuming from the clocks
    SUBSCRIBE_AFRESH = "subscribe_afresh"  # reconnect, forget the clocks
    STOP = "stop"  # nothing a retry fixes: exit with a clear message


@dataclass(frozen=True, slots=True)
class StatusVerdict:
    action: Action
    code: str  # Betfair's errorCode (OTHER if not a documented one), "" on success
    detail: str  # for the logs and the exit message


def error_label(code: object) -> str:
    """Return the metric label for a provider error code: a documented code, or OTHER."""
    return code if isinstance(code, str) and code in KNOWN_ERRORS else "OTHER"


def judge_status(message: Mapping[str, Any]) -> StatusVerdict:
    """Return the action for one ``status`` line, as the Exchange Stream API documents it."""
    status_code = message.get("statusCode")
    error = message.get("errorCode")
    closed = message.get("connectionClosed") is True
    if status_code == "SUCCESS" and error is None and not closed:
        return StatusVerdict(Action.CONTINUE, "", "")
    shown_code = error if isinstance(error, str) and _WORD.fullmatch(error) else _shown(error)
    detail = f"{shown_code or 'no error code'} (status {_shown(status_code)}"
    if message.get("errorMessage"):
        detail += f": {_shown(message['errorMessage'])}"
    detail += ", connection closed)" if closed else ")"
    code = error_label(error)  # a documented code or OTHER: safe to compare and to label
    if code in AUTH_ERRORS:
        return StatusVerdict(Action.STOP, code, (
            f"Betfair refused the authentication: {detail}; check BETFAIR_APP_KEY and "
            "BETFAIR_SESSION_TOKEN (a session token expires: log in again for a new one)"))
    if code in REQUEST_ERRORS:
        return StatusVerdict(Action.STOP, code, (
            f"Betfair refused the request: {detail}; check BETFAIR_MARKET_FILTER and the "
            "subscription settings"))
    if code in CLOCK_ERRORS:
        return StatusVerdict(Action.SUBSCRIBE_AFRESH, code, detail)
    return StatusVerdict(Action.RECONNECT, code, detail)


# -- lines ----------------------------------------------------------------------------------

class LineSplitter:
    """Cuts a byte stream into its lines (CRLF, or a bare LF), without the terminator.

    A line longer than ``max_bytes`` is skipped as it arrives (never buffered whole) and
    counted in ``oversized``; empty lines are dropped.
    """

    __slots__ = ("_parts", "_size", "_skipping", "max_bytes", "oversized")

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = MAX_LINE_BYTES if max_bytes is None else max_bytes
        self.oversized = 0
        self._parts: list[bytes] = []
        self._size = 0
        self._skipping = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """Return the lines the chunk completes, in order."""
        pieces = chunk.split(b"\n")
        tail = pieces.pop()
        lines: list[bytes] = []
        if pieces:
            if self._skipping:
                self._skipping = False
                pieces[0] = b""
            elif self._parts:
                self._parts.append(pieces[0])
                pieces[0] = b"".join(self._parts)
                self._parts, self._size = [], 0
            limit = self.max_bytes
            for piece in pieces:
                if piece[-1:] == b"\r":
                    piece = piece[:-1]
                if not piece:
                    continue
                if len(piece) > limit:
                    self.oversized += 1
                    continue
                lines.append(piece)
        if tail and not self._skipping:
            self._parts.append(tail)
            self._size += len(tail)
            if self._size > self.max_bytes + 1:  # + 1: a CR may still come
                self._parts, self._size, self._skipping = [], 0, True
                self.oversized += 1
        return lines


def decode(line: bytes) -> dict[str, Any] | None:
    """Return a line's JSON object if it has an ``op``, else None (malformed)."""
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        return None
    return message


# -- I/O ------------------------------------------------------------------------------------

class StreamDropped(ConnectionError):
    """The connection is gone or unusable: reconnect and resume from the clocks."""


def tls_context(config: BetfairStreamConfig) -> ssl.SSLContext:
    """Return the TLS context (the system CAs, or ``BETFAIR_STREAM_CAFILE``)."""
    return ssl.create_default_context(cafile=str(config.cafile) if config.cafile else None)


def _acked() -> None:
    """Nothing waits for Kafka's acknowledgement: the writer resends until Kafka has it."""


#: The errors that mean "this connection is gone": reconnect after a backoff.
CONNECTION_ERRORS = (OSError, asyncio.TimeoutError, ssl.SSLError, EOFError)


class Phase(enum.Enum):
    GREETING = "waiting for the connection message"
    AUTHENTICATING = "authenticating"
    SUBSCRIBING = "subscribing"
    STREAMING = "streaming"


class BetfairIngestor:
    """Subscribes to the Exchange Stream and forwards every ``mcm`` line; reconnects and
    re-subscribes with the clocks of the last line handed to Kafka."""

    def __init__(self, config: BetfairStreamConfig, writer: RawTopicWriter,
                 backoff: Backoff | None = None) -> None:
        self.config = config
        self.writer = writer
        self.backoff = backoff or Backoff()
        self.status = IngestStatus(PROVIDER)
        self.clocks = ClockKeeper()
        self.key = b"betfair:" + config.stream_name.encode()
        self.read_timeout_s = read_timeout_s(config)
        self.connection_id: str | None = None
        self._transport: asyncio.StreamWriter | None = None
        self._messages = metrics.INGEST_MESSAGES.labels(PROVIDER)
        self._lag = metrics.INGEST_LAG.labels(PROVIDER)
        self._errors: dict[str, Counter] = {}
        self._bad_lines = 0
        self._bad_logged_at = -BAD_LINE_LOG_INTERVAL_S

    def _count_error(self, code: str) -> None:
        child = self._errors.get(code)
        if child is None:
            child = self._errors[code] = metrics.INGEST_PROVIDER_ERRORS.labels(PROVIDER, code)
        child.inc()

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, subscribe and forward until ``stop`` is set; reconnect after failures.

        Raises IngestFatal when Betfair refuses the credentials or the request for good.
        """
        if not self.config.app_key or not self.config.session_token:
            raise IngestFatal("BETFAIR_APP_KEY and BETFAIR_SESSION_TOKEN (or their _FILE "
                              "variants) must both be set")
        context = tls_context(self.config)
        try:
            while not stop.is_set():
                try:
                    await self._attempt(context, stop)
                except IngestFatal as exc:
                    self.status.set_connected(False, str(exc)[:SHOWN])
                    raise
                except CONNECTION_ERRORS as exc:
                    await self._reconnect_after(exc, stop)
        finally:
            await self.writer.flush()

    async def _attempt(self, context: ssl.SSLContext, stop: asyncio.Event) -> None:
        """One connection, until it drops (raises) or ``stop`` is set (returns)."""
        session = asyncio.create_task(self._session(context, stop), name="betfair-session")
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({session, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not session.done():
            # Stop reading: closing the socket ends the session once it has handed over the
            # lines it already read; one still connecting, or stuck on a Kafka outage, is
            # cancelled.
            if self._transport is None:
                session.cancel()
            else:
                self._transport.transport.abort()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError,
                                     *CONNECTION_ERRORS):
                await asyncio.wait_for(session, STOP_GRACE_S)
            return
        session.result()
        if not stop.is_set():
            raise StreamDropped("the session ended")

    async def _reconnect_after(self, exc: BaseException, stop: asyncio.Event) -> None:
        problem = self.status.connection_lost(exc)
        delay = self.backoff.next_delay()
        resume = self.clocks.resume_point()
        log.warning("betfair: connection to %s:%d lost or refused (%s); reconnecting in %.1fs, "
                    "%s", self.config.host, self.config.port, problem, delay,
                    f"resuming from clk {resume[1]}" if resume else "subscribing afresh")
        await sleep_unless_stopped(stop, delay)

    async def _session(self, context: ssl.SSLContext, stop: asyncio.Event) -> None:
        config = self.config
        reader, transport = await asyncio.wait_for(
            asyncio.open_connection(config.host, config.port, ssl=context,
                                    server_hostname=config.host, limit=READ_AHEAD),
            CONNECT_TIMEOUT_S)
        self._transport = transport
        try:
            await self._stream(reader, transport, stop)
        finally:
            self._transport = None
            self.clocks.abandon_segment()
            self.status.set_connected(False)
            transport.transport.abort()

    async def _stream(self, reader: asyncio.StreamReader, transport: asyncio.StreamWriter,
                      stop: asyncio.Event) -> None:
        """Read lines until the connection ends: the handshake, then the changes."""
        splitter = LineSplitter()
        phase = Phase.GREETING
        oversized = 0
        timeout = self.read_timeout_s
        while True:
            try:
                async with asyncio.timeout(timeout):
                    chunk = await reader.read(READ_CHUNK)
            except TimeoutError:
                raise StreamDropped(f"no line from Betfair for {timeout:.0f}s while "
                                    f"{phase.value}") from None
            if not chunk:
                if stop.is_set():
                    return
                raise StreamDropped(f"closed by Betfair while {phase.value}")
            for line in splitter.feed(chunk):
                if phase is Phase.STREAMING:
                    await self._line(line)
                else:
                    phase = await self._handshake_line(line, phase, transport)
            if splitter.oversized != oversized:
                self._oversized(splitter.oversized - oversized)
                oversized = splitter.oversized
            if stop.is_set():
                return

    def _oversized(self, count: int) -> None:
        for _ in range(count):
            self._count_error(OVERSIZED)
        log.error("betfair: %d line(s) longer than %d bytes dropped (the raw topic cannot hold "
                  "them)", count, MAX_LINE_BYTES)

    async def _line(self, line: bytes) -> None:
        """Forward one line received while streaming (the hot path)."""
        message = decode(line)
        if message is None:
            self._count_error(MALFORMED)
            self._bad_line("a malformed line", line)
            await self._forward(line, None)
            return
        op = message["op"]
        if op == "mcm":
            await self._forward(line, message)
            self.clocks.observe(message)
        elif op == "status":
            self._status(message)
        elif op == "connection":
            self.connection_id = _shown(message.get("connectionId"))
        else:
            self._count_error(UNEXPECTED_OP)
            self._bad_line(f"a line with the unexpected op {_shown(op)[:64]}", line)
            await self._forward(line, message)

    def _bad_line(self, what: str, line: bytes) -> None:
        """Log a bad line now and then (every one is counted): a flood must not flood logs."""
        self._bad_lines += 1
        now = time.monotonic()
        if now - self._bad_logged_at >= BAD_LINE_LOG_INTERVAL_S:
            log.warning("betfair: forwarding %s (the splitter dead-letters it; %d bad line(s) "
                        "since the last report): %s", what, self._bad_lines,
                        _shown(line[:SHOWN]))
            self._bad_logged_at, self._bad_lines = now, 0

    async def _forward(self, line: bytes, message: dict[str, Any] | None) -> None:
        received = time.time()
        self._messages.inc()
        status = self.status
        status.messages += 1
        status.last_message = time.monotonic()
        if message is not None:
            publish_time = message.get("pt")
            if type(publish_time) is int:
                self._lag.observe(lag_seconds(publish_time, received))
        await self.writer.send(self.key, line,
                               (("received_ms", str(int(received * 1000)).encode()),), _acked)

    def _status(self, message: Mapping[str, Any]) -> StatusVerdict:
        """Act on a ``status`` line: return on success, raise for anything else."""
        verdict = judge_status(message)
        if verdict.action is Action.CONTINUE:
            return verdict
        self._count_error(verdict.code)
        log.error("betfair: error status: %s", verdict.detail)
        if verdict.action is Action.STOP:
            raise IngestFatal(verdict.detail)
        if verdict.action is Action.SUBSCRIBE_AFRESH:
            self.clocks.forget()
            raise StreamDropped(f"{verdict.detail}; the clocks are forgotten, the next "
                                "subscription starts with a new image")
        raise StreamDropped(verdict.detail)

    async def _handshake_line(self, line: bytes, phase: Phase,
                              transport: asyncio.StreamWriter) -> Phase:
        """Handle one line before the subscription is confirmed; return the next phase."""
        message = decode(line)
        op = message["op"] if message is not None else None
        if message is not None and op == "connection" and phase is Phase.GREETING:
            self.connection_id = _shown(message.get("connectionId"))
            transport.write(encode_request(authentication_request(self.config)))
            return Phase.AUTHENTICATING
        if message is not None and op == "status":
            self._status(message)
            request_id = message.get("id")
            if phase is Phase.AUTHENTICATING and request_id == AUTHENTICATION_ID:
                resume = self.clocks.resume_point()
                transport.write(encode_request(subscription_request(self.config, resume)))
                return Phase.SUBSCRIBING
            if phase is Phase.SUBSCRIBING and request_id == SUBSCRIPTION_ID:
                self._subscribed(message)
                return Phase.STREAMING
            return phase
        # Data before the subscription's status (or a stray line): forwarded like any other.
        await self._line(line)
        return phase

    def _subscribed(self, message: Mapping[str, Any]) -> None:
        self.status.set_connected(True)
        self.backoff.reset()
        resume = self.clocks.resume_point()
        log.info("betfair: subscribed on %s:%d (connection %s, %s connections available), %s",
                 self.config.host, self.config.port, self.connection_id,
                 _shown(message.get("connectionsAvailable")),
                 f"resuming from clk {resume[1]}" if resume else "starting with an image")
