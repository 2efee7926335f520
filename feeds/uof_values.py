"""Read typed UOF attribute values strictly; anything malformed raises ``AdapterError``."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from xml.etree.ElementTree import Element

from feeds.errors import AdapterError

T = TypeVar("T")

# Strict lexical forms: Python's int() and float() also accept "1_0", "infinity" and
# non-ASCII digits, none of which is an XSD int or double.
_INT = re.compile(r"[+-]?[0-9]{1,18}")
_FLOAT = re.compile(r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][+-]?[0-9]{1,3})?")
_NOT_A_NUMBER = frozenset({"nan", "-nan", "+nan", "inf", "-inf", "+inf",
                           "infinity", "-infinity", "+infinity"})
_URN = re.compile(r"[a-z0-9_]+:[a-z0-9_]+:[A-Za-z0-9_.-]+")
_URN_MAX = 100
_EXACT_INT = 2**53
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MS = 9_999_999_999_999  # the contract's largest timestamp


def _show(value: str) -> str:
    return repr(value[:32])


def text(element: Element, name: str) -> str | None:
    """Return an attribute stripped of whitespace; absent or empty is None."""
    value = element.get(name)
    if value is None:
        return None
    return value.strip() or None


def required(element: Element, name: str) -> str:
    """Return an attribute that must be present and non-empty."""
    value = text(element, name)
    if value is None:
        raise AdapterError(f"<{element.tag}> lacks {name}")
    return value


def optional_int(element: Element, name: str) -> int | None:
    """Return an integer attribute, or None when absent."""
    value = text(element, name)
    if value is None:
        return None
    if not _INT.fullmatch(value):
        raise AdapterError(f"<{element.tag}> {name}={_show(value)} is not an integer")
    return int(value)


def required_int(element: Element, name: str) -> int:
    """Return an integer attribute that must be present."""
    value = optional_int(element, name)
    if value is None:
        raise AdapterError(f"<{element.tag}> lacks {name}")
    return value


def number(element: Element, name: str, *, nan_is_absent: bool = False) -> float | None:
    """Return a finite float attribute; NaN or infinity is None when ``nan_is_absent``."""
    value = text(element, name)
    if value is None:
        return None
    if value.lower() in _NOT_A_NUMBER and nan_is_absent:
        return None
    result = float(value) if _FLOAT.fullmatch(value) else math.nan
    if not math.isfinite(result):
        raise AdapterError(f"<{element.tag}> {name}={_show(value)} is not a finite number")
    return result


def decimal(element: Element, name: str) -> int | float | None:
    """Return an ``xs:decimal`` attribute: an int when whole and exact, else a float."""
    result = number(element, name)
    if result is None or not result.is_integer() or abs(result) > _EXACT_INT:
        return result
    return int(result)


def required_decimal(element: Element, name: str) -> int | float:
    """Return an ``xs:decimal`` attribute that must be present."""
    value = decimal(element, name)
    if value is None:
        raise AdapterError(f"<{element.tag}> lacks {name}")
    return value


def flag(element: Element, name: str) -> bool | None:
    """Return a ``0``/``1`` attribute as a bool, or None when absent."""
    value = optional_int(element, name)
    if value is None:
        return None
    if value not in (0, 1):
        raise AdapterError(f"<{element.tag}> {name}={value} is not 0 or 1")
    return value == 1


def coded(element: Element, name: str, codes: Mapping[int, T]) -> T | None:
    """Return the canonical value of an integer code, or None when absent."""
    code = optional_int(element, name)
    if code is None:
        return None
    if code not in codes:
        raise AdapterError(f"<{element.tag}> {name}={code} is not a known code")
    return codes[code]


def required_coded(element: Element, name: str, codes: Mapping[int, T]) -> T:
    """Return the canonical value of an integer code that must be present."""
    value = coded(element, name, codes)
    if value is None:
        raise AdapterError(f"<{element.tag}> lacks {name}")
    return value


def urn(element: Element, name: str) -> str:
    """Return a URN attribute such as ``sr:match:123``."""
    value = required(element, name)
    if len(value) > _URN_MAX or not _URN.fullmatch(value):
        raise AdapterError(f"<{element.tag}> {name}={_show(value)} is not a URN")
    return value


def instant(element: Element, name: str) -> int | None:
    """Return an ISO-8601 date-time attribute with a UTC offset as ms since the epoch."""
    value = text(element, name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise AdapterError(
            f"<{element.tag}> {name}={_show(value)} is not an ISO-8601 date-time") from None
    if parsed.utcoffset() is None:
        raise AdapterError(f"<{element.tag}> {name}={_show(value)} has no UTC offset")
    ms = (parsed - _EPOCH) // timedelta(milliseconds=1)
    if not 0 <= ms <= _MAX_MS:
        raise AdapterError(f"<{element.tag}> {name}={_show(value)} is out of range")
    return ms


def required_instant(element: Element, name: str) -> int:
    """Return an ISO-8601 date-time attribute that must be present, in ms since the epoch."""
    value = instant(element, name)
    if value is None:
        raise AdapterError(f"<{element.tag}> lacks {name}")
    return value
