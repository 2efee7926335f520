"""Translate Sportradar Unified Odds Feed (UOF) XML into canonical ``feed.v1`` messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.etree.ElementTree import Element

from feeds.errors import AdapterError
from feeds.safe_xml import local_name, parse_xml
from feeds.uof_values import (
    coded,
    decimal,
    flag,
    instant,
    number,
    optional_int,
    required,
    required_coded,
    required_decimal,
    required_instant,
    required_int,
    text,
    urn,
)
from models.feed import FeedError, canonical_specifiers
from models.market import MarketStatus

Message = dict[str, Any]

# UOF codes (UnifiedFeed.xsd simple types) and their canonical names.
MARKET_STATUS = {1: MarketStatus.ACTIVE.value, 0: MarketStatus.DEACTIVATED.value,
                 -1: MarketStatus.SUSPENDED.value, -2: MarketStatus.HANDED_OVER.value,
                 -3: MarketStatus.SETTLED.value, -4: MarketStatus.CANCELLED.value}
EVENT_STATUS = {0: "not_started", 1: "live", 2: "suspended", 3: "ended", 4: "closed",
                5: "cancelled", 6: "delayed", 7: "interrupted", 8: "postponed", 9: "abandoned"}
CHANGE_TYPE = {1: "new", 2: "datetime", 3: "cancelled", 4: "format", 5: "coverage"}
CASHOUT_STATUS = {1: "available", -1: "unavailable", -2: "closed"}
RESULT = {1: "won", 0: "lost", -1: "undecided"}
CERTAINTY = {1: 1, 2: 2}
VOID_FACTORS = (None, 0.5, 1.0)
#: The ``producer`` of a record from the provider's API rather than from a feed producer.
API_PRODUCER = 0
#: The contract's longest sport name, and longest competition or competitor name.
MAX_SPORT = 100
MAX_NAME = 200


def _put(message: Message, key: str, value: object) -> None:
    if value is not None:
        message[key] = value


def _header(root: Element, *, event: bool = True) -> Message:
    message: Message = {"type": root.tag}
    if event:
        message["event_id"] = urn(root, "event_id")
    message["producer"] = required_int(root, "product")
    message["ts"] = required_int(root, "timestamp")
    _put(message, "request_id", optional_int(root, "request_id"))
    return message


def _market_key(element: Element) -> Message:
    market_id = required(element, "id")
    try:
        specifiers = canonical_specifiers(text(element, "specifiers") or "")
    except FeedError as exc:
        raise AdapterError(f"market {market_id[:64]}: {exc.reason[:100]}") from None
    # extended_specifiers is deliberately ignored: it is not part of the market key.
    return {"id": market_id, "specifiers": specifiers}


def _window(message: Message, root: Element) -> None:
    _put(message, "start_time", optional_int(root, "start_time"))
    _put(message, "end_time", optional_int(root, "end_time"))


def _odds_outcome(element: Element) -> Message:
    outcome: Message = {"id": required(element, "id")}
    _put(outcome, "odds", number(element, "odds"))
    _put(outcome, "active", flag(element, "active"))
    _put(outcome, "probability", number(element, "probabilities", nan_is_absent=True))
    return outcome


def _odds_market(element: Element) -> Message:
    market = _market_key(element)
    market["status"] = coded(element, "status", MARKET_STATUS) or MarketStatus.ACTIVE.value
    _put(market, "cashout_status", coded(element, "cashout_status", CASHOUT_STATUS))
    market["outcomes"] = [_odds_outcome(o) for o in element.iterfind("outcome")]
    return market


def _sport_event_status(element: Element) -> Message:
    status: Message = {"status": required_coded(element, "status", EVENT_STATUS)}
    _put(status, "match_status", optional_int(element, "match_status"))
    _put(status, "home_score", decimal(element, "home_score"))
    _put(status, "away_score", decimal(element, "away_score"))
    clock = element.find("clock")
    if clock is not None:
        _put(status, "clock", text(clock, "match_time"))
    periods = [_period_score(p) for p in element.iterfind("period_scores/period_score")]
    _put(status, "period_scores", periods or None)
    return status


def _period_score(element: Element) -> Message:
    period: Message = {"number": required_int(element, "number")}
    _put(period, "type", text(element, "type"))
    _put(period, "match_status", optional_int(element, "match_status_code"))
    period["home_score"] = required_decimal(element, "home_score")
    period["away_score"] = required_decimal(element, "away_score")
    return period


def odds_change(root: Element) -> Message:
    """Translate ``<odds_change>``: prices, market statuses and the event's live status."""
    message = _header(root)
    odds = root.find("odds")
    if odds is not None:
        for name in ("betting_status", "betstop_reason"):
            value = optional_int(odds, name)
            _put(message, name, None if value is None else str(value))
    status = root.find("sport_event_status")
    if status is not None:
        message["sport_event_status"] = _sport_event_status(status)
    markets = odds.iterfind("market") if odds is not None else iter(())
    message["markets"] = [_odds_market(m) for m in markets]
    return message


def bet_stop(root: Element) -> Message:
    """Translate ``<bet_stop>``; its groups are UOF market-group names, or ``all``."""
    message = _header(root)
    groups = [g.strip() for g in required(root, "groups").split("|") if g.strip()]
    # No usable group name suspends everything: the safe reading of a bet stop.
    message["groups"] = "all" if not groups or "all" in groups else groups
    _put(message, "market_status", coded(root, "market_status", MARKET_STATUS))
    return message


def _settled_outcome(element: Element) -> Message:
    outcome: Message = {"id": required(element, "id"),
                        "result": required_coded(element, "result", RESULT)}
    void_factor = number(element, "void_factor")
    if void_factor not in VOID_FACTORS:
        raise AdapterError(f"void_factor {void_factor} is not 0.5 or 1")
    _put(outcome, "void_factor", void_factor)
    _put(outcome, "dead_heat_factor", number(element, "dead_heat_factor"))
    return outcome


def bet_settlement(root: Element) -> Message:
    """Translate ``<bet_settlement>``: each market's outcome results, void and dead-heat factors."""
    message = _header(root)
    message["certainty"] = required_coded(root, "certainty", CERTAINTY)
    markets = []
    for element in [*root.iterfind("outcomes/market"), *root.iterfind("market")]:
        market = _market_key(element)
        _put(market, "void_reason", optional_int(element, "void_reason"))
        market["outcomes"] = [_settled_outcome(o) for o in element.iterfind("outcome")]
        markets.append(market)
    message["markets"] = markets
    return message


def rollback_bet_settlement(root: Element) -> Message:
    """Translate ``<rollback_bet_settlement>``: the markets whose settlement is undone."""
    message = _header(root)
    message["markets"] = [_market_key(m) for m in root.iterfind("market")]
    return message


def bet_cancel(root: Element) -> Message:
    """Translate ``<bet_cancel>``: the markets voided, with the optional bet-time window."""
    message = _header(root)
    _window(message, root)
    _put(message, "superceded_by", text(root, "superceded_by"))
    markets = []
    for element in root.iterfind("market"):
        market = _market_key(element)
        _put(market, "void_reason", optional_int(element, "void_reason"))
        markets.append(market)
    message["markets"] = markets
    return message


def rollback_bet_cancel(root: Element) -> Message:
    """Translate ``<rollback_bet_cancel>``: the markets whose cancel is undone."""
    message = _header(root)
    _window(message, root)
    message["markets"] = [_market_key(m) for m in root.iterfind("market")]
    return message


def fixture_change(root: Element) -> Message:
    """Translate ``<fixture_change>``; a change type outside the contract is left out."""
    message = _header(root)
    change_type = optional_int(root, "change_type")
    _put(message, "change_type", CHANGE_TYPE.get(change_type) if change_type is not None else None)
    _put(message, "start_time", optional_int(root, "start_time"))
    return message


def alive(root: Element) -> Message:
    """Translate ``<alive>``, the producer heartbeat."""
    message = _header(root, event=False)
    subscribed = flag(root, "subscribed")
    if subscribed is None:
        raise AdapterError("<alive> lacks subscribed")
    message["subscribed"] = subscribed
    return message


def snapshot_complete(root: Element) -> Message:
    """Translate ``<snapshot_complete>``, the end of a recovery request."""
    message = _header(root, event=False)
    message["request_id"] = required_int(root, "request_id")
    return message


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if local_name(child.tag) == name]


def _child(element: Element | None, name: str) -> Element | None:
    found = _children(element, name) if element is not None else []
    return found[0] if found else None


def _name(element: Element | None, limit: int) -> str | None:
    """Return an element's ``name`` attribute, at most ``limit`` characters."""
    if element is None:
        return None
    name = text(element, "name")
    if name is not None and len(name) > limit:
        raise AdapterError(f"<{element.tag}> name is longer than {limit} characters")
    return name


def _competitors(fixture: Element) -> Message:
    """Return ``home`` and ``away``: the names of the competitors so qualified."""
    holder = _child(fixture, "competitors")
    competitors = _children(holder, "competitor") if holder is not None else []
    sides: Message = {}
    for side in ("home", "away"):
        found = [c for c in competitors if text(c, "qualifier") == side]
        if len(found) > 1:
            raise AdapterError(f"<{fixture.tag}> has {len(found)} {side} competitors")
        if found:
            _put(sides, side, _name(found[0], MAX_NAME))
    return sides


def fixtures_fixture(root: Element) -> Message:
    """Translate the fixtures API's ``<fixtures_fixture>`` into one ``fixture_change``."""
    fixture = _child(root, "fixture")
    if fixture is None:
        raise AdapterError(f"<{root.tag[:64]}> lacks <fixture>")
    message: Message = {"type": "fixture_change", "event_id": urn(fixture, "id"),
                        "producer": API_PRODUCER, "ts": required_instant(root, "generated_at")}
    start_time = instant(fixture, "start_time")
    _put(message, "start_time", instant(fixture, "scheduled") if start_time is None
         else start_time)
    tournament = _child(fixture, "tournament")
    _put(message, "sport", _name(_child(tournament, "sport"), MAX_SPORT))
    _put(message, "competition", _name(tournament, MAX_NAME))
    message.update(_competitors(fixture))
    return message


TRANSLATORS: dict[str, Callable[[Element], Message]] = {
    "odds_change": odds_change,
    "bet_stop": bet_stop,
    "bet_settlement": bet_settlement,
    "rollback_bet_settlement": rollback_bet_settlement,
    "bet_cancel": bet_cancel,
    "rollback_bet_cancel": rollback_bet_cancel,
    "fixture_change": fixture_change,
    "alive": alive,
    "snapshot_complete": snapshot_complete,
}
#: Documents of the provider's API, by tag without a namespace (they declare one).
API_TRANSLATORS: dict[str, Callable[[Element], Message]] = {
    "fixtures_fixture": fixtures_fixture,
}


def translate_uof(raw: bytes) -> list[Message]:
    """Translate one raw UOF XML message into canonical feed.v1 messages; raise AdapterError."""
    if not raw:
        raise AdapterError("empty record")
    root = parse_xml(raw)
    translator = TRANSLATORS.get(root.tag) or API_TRANSLATORS.get(local_name(root.tag))
    if translator is None:
        raise AdapterError(f"unknown UOF message <{root.tag[:64]}>")
    return [translator(root)]
