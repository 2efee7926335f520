"""Validate request inputs: ids, filters and page sizes (pure; raise ``BadRequest``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from models.feed import MAX_SPECIFIERS, FeedError, canonical_specifiers

#: The event id pattern of the feed contract (``models/schemas/*.json``).
EVENT_ID = re.compile(r"[a-z0-9_]+:[a-z0-9_]+:[A-Za-z0-9_.-]+")
MAX_EVENT_ID = 100
#: Market ids are printable ASCII (``/`` cannot reach a path segment anyway).
MARKET_ID = re.compile(r"[!-.0-~]{1,64}")
SPORT = re.compile(r"[\w .&()'-]{1,100}")
EVENT_STATUSES = ("not_started", "live", "suspended", "ended", "closed", "cancelled",
                  "delayed", "interrupted", "postponed", "abandoned")
#: Sport event statuses that count as in play for ``live=true``.
LIVE_STATUSES = frozenset({"live", "interrupted", "suspended"})
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_OFFSET = 1_000_000
LIST_PARAMS = frozenset({"status", "sport", "live", "limit", "offset"})


class BadRequest(ValueError):
    """An input the API does not accept; the message says which and why."""


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters and page of ``GET /events``."""

    status: str | None = None
    sport: str | None = None
    live: bool | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def event_id(raw: str) -> str:
    """Return ``raw`` if it is an event id of the feed contract."""
    if len(raw) > MAX_EVENT_ID:
        raise BadRequest(f"event id longer than {MAX_EVENT_ID} characters")
    if not EVENT_ID.fullmatch(raw):
        raise BadRequest("event id must look like sr:match:123")
    return raw


def market_id(raw: str) -> str:
    """Return ``raw`` if it is a market id: 1 to 64 printable ASCII characters but '/'."""
    if not MARKET_ID.fullmatch(raw):
        raise BadRequest("market id must be 1 to 64 printable ASCII characters other than '/'")
    return raw


def specifiers(raw: str | None) -> str:
    """Return the canonical form of ``raw`` (``name=value`` pairs sorted by name)."""
    if raw is None or raw == "":
        return ""
    if len(raw) > MAX_SPECIFIERS:
        raise BadRequest(f"specifiers longer than {MAX_SPECIFIERS} characters")
    try:
        return canonical_specifiers(raw)
    except FeedError as exc:
        raise BadRequest(f"specifiers: {exc.reason}") from None


def _integer(name: str, raw: str, low: int, high: int) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return value


def status(raw: str) -> str:
    """Return ``raw`` if it is a sport event status."""
    if raw not in EVENT_STATUSES:
        raise BadRequest(f"status must be one of {', '.join(EVENT_STATUSES)}")
    return raw


def sport(raw: str) -> str:
    """Return ``raw`` if it can be a sport name (compared case-insensitively)."""
    if not SPORT.fullmatch(raw):
        raise BadRequest("sport must be 1 to 100 letters, digits, spaces or .&()'-_")
    return raw


def page(limit: int | None, offset: int | None) -> tuple[int, int]:
    """Check a page given as numbers (GraphQL)."""
    limit = DEFAULT_LIMIT if limit is None else limit
    offset = 0 if offset is None else offset
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise BadRequest(f"offset must be an integer from 0 to {MAX_OFFSET}")
    return limit, offset


def event_query(pairs: Iterable[tuple[str, str]]) -> EventQuery:
    """Parse the query string of ``GET /events``; unknown or repeated names are errors."""
    given: dict[str, str] = {}
    for name, value in pairs:
        if name not in LIST_PARAMS:
            raise BadRequest(f"unknown parameter {name[:40]!r}; allowed: "
                             f"{', '.join(sorted(LIST_PARAMS))}")
        if name in given:
            raise BadRequest(f"parameter {name!r} given more than once")
        given[name] = value
    live = given.get("live")
    if live not in (None, "true", "false"):
        raise BadRequest("live must be true or false")
    return EventQuery(
        status=status(given["status"]) if "status" in given else None,
        sport=sport(given["sport"]) if "sport" in given else None,
        live=None if live is None else live == "true",
        limit=_integer("limit", given["limit"], 1, MAX_LIMIT) if "limit" in given
        else DEFAULT_LIMIT,
        offset=_integer("offset", given["offset"], 0, MAX_OFFSET) if "offset" in given else 0,
    )
