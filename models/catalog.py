"""Names of markets and outcomes from UOF market descriptions, and UOF market groups (pure).

A ``Catalog`` holds the records of ``feeds.uof_descriptions.parse_descriptions`` (fed one by
one from a compacted topic) and renders the UOF name templates: ``{total}`` the specifier as
sent, ``{+hcp}`` / ``{-hcp}`` signed and negated, ``{!goalnr}`` an ordinal, ``{(x+1)}`` integer
arithmetic, ``{$competitor1}`` / ``{$competitor2}`` / ``{$event}`` the fixture's names and
``{%player}`` the specifier's raw value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any, NamedTuple, TypeAlias

from models.market import MarketNames

__all__ = ["Catalog", "MarketNames", "load_group_map", "ordinal", "render"]

GLOBAL = "*"
NAMES_CACHE = 65_536
GROUPS_CACHE = 4096
HOME, AWAY = "Home", "Away"

_OPERATORS = frozenset("+-!$%")
_OPERAND = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:([+-])([0-9]{1,9}))?")
_NUMBER = re.compile(r"[+-]?[0-9]{1,18}(?:\.[0-9]{1,18})?")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class _Expr(NamedTuple):
    """One ``{...}`` placeholder: operator (``""`` for none), specifier name, offset."""

    operator: str
    operand: str
    offset: int


#: A compiled template: literal text and placeholders; None stands for one that cannot render.
_Part: TypeAlias = str | _Expr | None
_Template: TypeAlias = tuple[_Part, ...]


def _expression(body: str) -> _Expr | None:
    operator = body[:1] if body[:1] in _OPERATORS else ""
    operand = body[len(operator):]
    if operand.startswith("(") and operand.endswith(")"):
        operand = operand[1:-1]
    match = _OPERAND.fullmatch(operand)
    if match is None:
        return None
    name, sign, amount = match.groups()
    offset = 0 if amount is None else int(amount) if sign == "+" else -int(amount)
    return _Expr(operator, name, offset)


@lru_cache(maxsize=8192)
def _compile(template: str) -> _Template:
    parts: list[_Part] = []
    end = 0
    for match in _PLACEHOLDER.finditer(template):
        if match.start() > end:
            parts.append(template[end:match.start()])
        parts.append(_expression(match.group(1)))
        end = match.end()
    if end < len(template):
        parts.append(template[end:])
    return tuple(parts)


def ordinal(number: int) -> str:
    """Return the English ordinal of ``number``: ``1st``, ``2nd``, ``11th``, ``21st``."""
    tens, units = abs(number) % 100 // 10, abs(number) % 10
    suffix = "th" if tens == 1 or units > 3 else ("th", "st", "nd", "rd")[units]
    return f"{number}{suffix}"


def _signed(text: str, negate: bool) -> str:
    if Decimal(text) == 0:
        return "0"
    sign, digits = (text[0], text[1:]) if text[0] in "+-" else ("+", text)
    if negate:
        sign = "+" if sign == "-" else "-"
    return sign + digits


def _value(expr: _Expr, specifiers: Mapping[str, str]) -> str | None:
    raw = specifiers.get(expr.operand)
    if raw is None or expr.operator == "%":
        return raw
    if not _NUMBER.fullmatch(raw):
        # Not a number (a European handicap's "0:1", say): shown as sent.
        return raw
    text = raw if expr.offset == 0 else format(Decimal(raw) + expr.offset, "f")
    if expr.operator == "!":
        number = Decimal(text)
        return ordinal(int(number)) if number == number.to_integral_value() else raw
    if expr.operator in ("+", "-"):
        return _signed(text, negate=expr.operator == "-")
    return text


def _entity(operand: str, home: str | None, away: str | None) -> str | None:
    if operand == "competitor1":
        return home or HOME
    if operand == "competitor2":
        return away or AWAY
    if operand == "event":
        return f"{home or HOME} vs {away or AWAY}"
    return None


def _render(template: _Template, specifiers: Mapping[str, str], home: str | None,
            away: str | None) -> str | None:
    out: list[str] = []
    for part in template:
        if isinstance(part, str):
            out.append(part)
            continue
        if part is None:
            return None
        text = (_entity(part.operand, home, away) if part.operator == "$"
                else _value(part, specifiers))
        if text is None:
            return None
        out.append(text)
    return "".join(out)


def render(template: str, specifiers: Mapping[str, str], home: str | None,
           away: str | None) -> str | None:
    """Render a UOF name template; None when a placeholder's specifier is missing."""
    return _render(_compile(template), specifiers, home, away)


def parse_specifiers(specifiers: str) -> dict[str, str]:
    """Return the ``name=value`` pairs of a specifiers string as a dict."""
    found: dict[str, str] = {}
    for pair in specifiers.split("|") if specifiers else ():
        name, sep, value = pair.partition("=")
        if sep:
            found[name] = value
    return found


@lru_cache(maxsize=1)
def _public_group_map() -> dict[str, frozenset[str]]:
    raw = resources.files("models").joinpath("data/market_groups.json").read_bytes()
    return _group_map(json.loads(raw))


def load_group_map() -> dict[str, frozenset[str]]:
    """Return the public UOF market-group map shipped in ``models/data/market_groups.json``."""
    return dict(_public_group_map())


def _group_map(raw: Mapping[str, Iterable[int | str]]) -> dict[str, frozenset[str]]:
    return {str(group): frozenset(str(market_id) for market_id in ids)
            for group, ids in raw.items()}


class _Description(NamedTuple):
    """A description record, its templates compiled."""

    market_id: str
    name: _Template | None
    groups: frozenset[str]
    outcomes: tuple[tuple[str, _Template | None], ...]


def _key(market_id: str, variant: str | None) -> str:
    return f"{market_id}?variant={variant}" if variant else market_id


def _template(value: object, key: str) -> _Template | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"description {key[:64]!r} has a name that is not a string")
    return _compile(value)


def _description(key: str, value: Mapping[str, Any]) -> _Description:
    market_id, variant = value.get("market_id"), value.get("variant")
    if not isinstance(market_id, str) or not (variant is None or isinstance(variant, str)):
        raise ValueError(f"description {key[:64]!r} has no market id")
    if _key(market_id, variant) != key:
        raise ValueError(f"description {key[:64]!r} is keyed as another market or variant")
    groups, outcomes = value.get("groups") or [], value.get("outcomes") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ValueError(f"description {key[:64]!r} has malformed groups")
    if not isinstance(outcomes, list) or not all(
            isinstance(o, dict) and isinstance(o.get("id"), str) for o in outcomes):
        raise ValueError(f"description {key[:64]!r} has malformed outcomes")
    return _Description(market_id, _template(value.get("name"), key), frozenset(groups),
                        tuple((o["id"], _template(o.get("name"), key)) for o in outcomes))


class Catalog:
    """Market descriptions by key, with cached rendered names and group members."""

    def __init__(self, group_map: Mapping[str, Iterable[int | str]] | None = None) -> None:
        self._groups_map = (_public_group_map() if group_map is None
                            else _group_map(group_map))
        self._descriptions: dict[str, _Description] = {}
        self._members: dict[str, frozenset[str] | None] = {}
        # Per instance, so that put() clears this catalog's names only.
        self._cached_names = lru_cache(maxsize=NAMES_CACHE)(self._names)

    def __len__(self) -> int:
        return len(self._descriptions)

    def put(self, key: str, value: Mapping[str, Any] | None) -> None:
        """Add, replace or (``value`` None) delete one description record."""
        if value is None:
            self._descriptions.pop(key, None)
        else:
            self._descriptions[key] = _description(key, value)
        self._cached_names.cache_clear()
        self._members.clear()

    def names(self, market_id: str, specifiers: str, home: str | None,
              away: str | None) -> MarketNames | None:
        """Return a market's rendered names (cached: do not mutate); None if undescribed."""
        return self._cached_names(market_id, specifiers, home, away)

    def _names(self, market_id: str, specifiers: str, home: str | None,
               away: str | None) -> MarketNames | None:
        values = parse_specifiers(specifiers)
        variant = values.get("variant")
        base = self._descriptions.get(market_id)
        own = self._descriptions.get(_key(market_id, variant)) if variant else None
        if base is None and own is None:
            return None
        extra = own or (self._descriptions.get(_key(GLOBAL, variant)) if variant else None)
        template = None if base is None else base.name
        if template is None and own is not None:
            template = own.name
        market = None if template is None else _render(template, values, home, away)
        outcomes: dict[str, str | None] = {}
        for source in (base, extra):
            for outcome_id, template in source.outcomes if source else ():
                outcomes[outcome_id] = (None if template is None
                                        else _render(template, values, home, away))
        return MarketNames(market, outcomes)

    def group_members(self, group: str) -> frozenset[str] | None:
        """Return the market ids of a UOF market group; None when the group is unknown."""
        if group in self._members:
            return self._members[group]
        described, listed = set(), set()
        for key, description in self._descriptions.items():
            if key == description.market_id:
                described.add(key)
            if group in description.groups and description.market_id != GLOBAL:
                listed.add(description.market_id)
        public = self._groups_map.get(group)
        members = None
        if listed or public is not None:
            members = frozenset(listed.union(m for m in public or () if m not in described))
        if len(self._members) >= GROUPS_CACHE:
            self._members.clear()
        self._members[group] = members
        return members
