"""Sportradar's UOF recovery API: the request URL (pure) and the one HTTP call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from models.producer import producer_info, recovers_itself

#: Header of the UOF API's access token (never in the URL, so URLs are safe to log).
TOKEN_HEADER = "x-access-token"  # noqa: S105  # a header name, not a secret


class RecoveryRequestError(ValueError):
    """A ``recovery_requests.v1`` record that cannot be decoded."""


class RecoveryApiError(Exception):
    """The recovery API could not be reached or did not answer in time."""


@dataclass(frozen=True, slots=True)
class RecoveryRequest:
    """One decoded ``recovery_requests.v1`` record."""

    producer: int
    request_id: int
    after_ts: int | None
    reason: str
    requested_ts: int


def _int_field(value: dict[str, Any], name: str, minimum: int) -> int:
    found = value.get(name)
    # bool is an int to Python, never to the schema.
    if not isinstance(found, int) or isinstance(found, bool) or found < minimum:
        raise RecoveryRequestError(f"{name} must be an integer >= {minimum}, got {found!r}")
    return found


def decode_request(raw: bytes | None) -> RecoveryRequest:
    """Decode a record's value; raise ``RecoveryRequestError`` when it is malformed."""
    try:
        value = orjson.loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        raise RecoveryRequestError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RecoveryRequestError(f"not a JSON object: {type(value).__name__}")
    after_ts = value.get("after_ts")
    if after_ts is not None:
        after_ts = _int_field(value, "after_ts", 0)
    reason = value.get("reason")
    if not isinstance(reason, str):
        raise RecoveryRequestError(f"reason must be a string, got {reason!r}")
    return RecoveryRequest(producer=_int_field(value, "producer", 0),
                           request_id=_int_field(value, "request_id", 1),
                           after_ts=after_ts, reason=reason,
                           requested_ts=_int_field(value, "requested_ts", 0))


def recovery_after(request: RecoveryRequest, now_ms: int) -> int | None:
    """Return the ``after`` to ask for, or None for a full recovery (none, 0 or too old)."""
    window = producer_info(request.producer).recovery_window_ms
    if not request.after_ts or window is None:
        return None
    # At the window's edge the API refuses `after` (the Go SDK's `>=`): recover in full.
    return None if now_ms - request.after_ts >= window else request.after_ts


def recovery_url(base_url: str, request: RecoveryRequest, now_ms: int) -> str | None:
    """Return the URL that initiates the recovery, or None when the API has no such product."""
    code = producer_info(request.producer).code
    if code is None or recovers_itself(request.producer):
        return None
    after = recovery_after(request, now_ms)
    params = {"request_id": request.request_id} if after is None else {
        "after": after, "request_id": request.request_id}
    return (f"{base_url.rstrip('/')}/v1/{quote(code, safe='')}/recovery/initiate_request?"
            f"{urlencode(params)}")


async def request_recovery(session: aiohttp.ClientSession, url: str, token: str,
                           timeout_s: float) -> int:
    """POST one recovery request and return the HTTP status; ``RecoveryApiError`` if none."""
    try:
        # No redirects: aiohttp would resend the token header to wherever one points.
        async with session.post(url, headers={TOKEN_HEADER: token}, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            await response.read()
            return response.status
    except TimeoutError as exc:
        raise RecoveryApiError(f"no answer within {timeout_s:g}s") from exc
    except aiohttp.ClientError as exc:
        raise RecoveryApiError(f"{type(exc).__name__}: {exc}") from exc
