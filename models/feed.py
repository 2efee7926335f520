"""Decode and validate canonical ``feed.v1`` messages (JSON Schema per type)."""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib import resources
from typing import Any, cast

import fastjsonschema
import orjson

from models.fastcheck import Invalid, check_odds_change

MAX_MESSAGE_BYTES = 1024 * 1024
MAX_SPECIFIERS = 255
EVENT_TYPES = ("fixture_change", "odds_change", "bet_stop", "bet_settlement",
               "rollback_bet_settlement", "bet_cancel", "rollback_bet_cancel")
#: Producer-level messages: no event id; keyed ``producer:{id}``.
PRODUCER_TYPES = ("alive", "snapshot_complete", "producer_silent", "producer_status",
                  "recovery_retry")
#: Written by the platform itself, never by a provider adapter.
INTERNAL_TYPES = ("producer_silent", "producer_status", "recovery_retry")
FEED_TYPES = EVENT_TYPES + PRODUCER_TYPES


class FeedError(ValueError):
    """A feed record that cannot be decoded or breaks the contract; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_schema(message_type: str) -> dict[str, Any]:
    """Return the JSON Schema shipped for one feed message type."""
    text = resources.files("models").joinpath(f"schemas/{message_type}.json").read_text("utf-8")
    return cast(dict[str, Any], json.loads(text))


@cache
def _validator(message_type: str) -> Any:
    return fastjsonschema.compile(load_schema(message_type))


@lru_cache(maxsize=65536)
def canonical_specifiers(raw: str) -> str:
    """Sort ``name=value`` pairs by name and join them with ``|`` (cached: lines repeat)."""
    if not raw:
        return ""
    pairs = []
    for part in raw.split("|"):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise FeedError(f"malformed specifier {part!r}")
        pairs.append((name.strip(), value.strip()))
    pairs.sort()
    return "|".join(f"{name}={value}" for name, value in pairs)


def decode(raw: bytes | None) -> dict[str, Any]:
    """Parse one feed record and check it against the contract; raise ``FeedError``."""
    if raw is None:
        raise FeedError("empty record")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise FeedError(f"record of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"malformed JSON: {exc}") from None
    if not isinstance(message, dict):
        raise FeedError("message is not a JSON object")
    message_type = message.get("type")
    if message_type not in FEED_TYPES:
        raise FeedError(f"unknown message type {message_type!r}")
    try:
        if message_type == "odds_change":
            check_odds_change(message)  # the hot path: same verdicts as the schema, faster
        else:
            _validator(message_type)(message)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise FeedError(f"{message_type} breaks the contract: {exc.message}") from None
    except Invalid as exc:
        raise FeedError(f"{message_type} breaks the contract: {exc}") from None
    for name in ("producer", "ts", "request_id"):
        if type(message.get(name)) is float:  # 5.0 is an integer to JSON Schema
            message[name] = int(message[name])
    for market in message.get("markets", ()):
        raw_specifiers = market.get("specifiers", "")
        if type(raw_specifiers) is not str:
            raise FeedError(f"specifiers of market {market['id']} must be a string")
        market["specifiers"] = canonical_specifiers(raw_specifiers)
        if len(market["specifiers"]) > MAX_SPECIFIERS:
            raise FeedError(f"specifiers of market {market['id']} exceed {MAX_SPECIFIERS} chars")
    return cast(dict[str, Any], message)
