"""Parse UOF market descriptions (markets.xml, variant markets, variants.xml) into records.

Each record is ``(key, value)``: ``"{market_id}"`` for a market, ``"{market_id}?variant={v}"``
for a market-specific variant and ``"*?variant={v}"`` for a global variant of variants.xml.
``models.catalog.Catalog.put`` takes them as they are.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element

from feeds.errors import AdapterError
from feeds.safe_xml import local_name, parse_xml

DescriptionFields = dict[str, Any]

#: A full markets.xml with mappings is several megabytes; the element limit still applies.
MAX_DESCRIPTIONS_BYTES = 32 * 1024 * 1024
#: Real descriptions have a few hundred outcomes at most; this bounds one record's size.
MAX_OUTCOMES = 2048
MAX_SPECIFIERS = 64
MAX_GROUPS = 64
MAX_NAME = 256
GLOBAL = "*"

_MARKET_ID = re.compile(r"[!-~]{1,64}")
_OUTCOME_ID = re.compile(r"[!-~]{1,128}")
_WORD = re.compile(r"[!-~]{1,64}")


def _children(parent: Element, wrapper: str, name: str) -> list[Element]:
    return [child for holder in parent if local_name(holder.tag) == wrapper
            for child in holder if local_name(child.tag) == name]


def _token(element: Element, attr: str, pattern: re.Pattern[str], what: str) -> str:
    value = element.get(attr)
    if not value:
        raise AdapterError(f"<{local_name(element.tag)}> lacks {attr}")
    if not pattern.fullmatch(value):
        raise AdapterError(f"<{local_name(element.tag)}> {attr}={value[:32]!r} is not a valid "
                           f"{what}")
    return value


def _name(element: Element) -> str | None:
    value = element.get("name")
    if value is not None and len(value) > MAX_NAME:
        raise AdapterError(f"<{local_name(element.tag)}> name longer than {MAX_NAME} characters")
    return value


def _outcomes(parent: Element, owner: str) -> list[DescriptionFields]:
    elements = _children(parent, "outcomes", "outcome")
    if len(elements) > MAX_OUTCOMES:
        raise AdapterError(f"{owner} has more than {MAX_OUTCOMES} outcomes")
    return [{"id": _token(e, "id", _OUTCOME_ID, "outcome id"), "name": _name(e)}
            for e in elements]


def _specifiers(parent: Element, owner: str) -> list[DescriptionFields]:
    elements = _children(parent, "specifiers", "specifier")
    if len(elements) > MAX_SPECIFIERS:
        raise AdapterError(f"{owner} has more than {MAX_SPECIFIERS} specifiers")
    return [{"name": _token(e, "name", _WORD, "specifier name"),
             "type": _token(e, "type", _WORD, "specifier type") if e.get("type") else None}
            for e in elements]


def _groups(element: Element, owner: str) -> list[str]:
    groups = [g for g in (element.get("groups") or "").split("|") if g]
    if len(groups) > MAX_GROUPS or not all(_WORD.fullmatch(g) for g in groups):
        raise AdapterError(f"{owner} has malformed groups")
    return groups


def _market(element: Element) -> tuple[str, DescriptionFields]:
    market_id = _token(element, "id", _MARKET_ID, "market id")
    # "?" separates a market id from its variant in a key, and "*" names the global variants.
    if "?" in market_id or market_id == GLOBAL:
        raise AdapterError(f"<market> id={market_id[:32]!r} is not a valid market id")
    variant = element.get("variant")
    if variant is not None:
        variant = _token(element, "variant", _OUTCOME_ID, "variant")
    owner = f"market {market_id}" + (f" variant {variant}" if variant else "")
    value: DescriptionFields = {
        "market_id": market_id, "variant": variant, "name": _name(element),
        "groups": _groups(element, owner), "outcomes": _outcomes(element, owner),
        "specifiers": _specifiers(element, owner)}
    return (f"{market_id}?variant={variant}" if variant else market_id), value


def _variant(element: Element) -> tuple[str, DescriptionFields]:
    variant = _token(element, "id", _OUTCOME_ID, "variant")
    owner = f"variant {variant}"
    value: DescriptionFields = {
        "market_id": GLOBAL, "variant": variant, "name": _name(element),
        "groups": [], "outcomes": _outcomes(element, owner),
        "specifiers": _specifiers(element, owner)}
    return f"{GLOBAL}?variant={variant}", value


def parse_descriptions(raw: bytes) -> list[tuple[str, DescriptionFields]]:
    """Parse a markets.xml, variant-market or variants.xml response; raise ``AdapterError``."""
    root = parse_xml(raw, MAX_DESCRIPTIONS_BYTES)
    kind = local_name(root.tag)
    if kind == "market_descriptions":
        return [_market(e) for e in root if local_name(e.tag) == "market"]
    if kind == "variant_descriptions":
        return [_variant(e) for e in root if local_name(e.tag) == "variant"]
    raise AdapterError(f"unknown descriptions root <{kind[:64]}>")
