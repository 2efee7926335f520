"""A hand-written check of ``odds_change`` equal to its JSON Schema, for the hot path.

``models/schemas/odds_change.json`` stays the contract; a property test holds this check to
exactly the same verdicts as the schema on generated and mutated messages.
"""

from __future__ import annotations

import re
from typing import Any

EVENT_ID = re.compile(r"[a-z0-9_]+:[a-z0-9_]+:[A-Za-z0-9_.-]+")
MARKET_STATUS = frozenset({"active", "suspended", "deactivated", "handed_over", "settled",
                           "cancelled"})
CASHOUT_STATUS = frozenset({"available", "unavailable", "closed"})
EVENT_STATUS = frozenset({"not_started", "live", "suspended", "ended", "closed", "cancelled",
                          "delayed", "interrupted", "postponed", "abandoned"})


class Invalid(ValueError):
    """The message breaks the contract; the text says where."""


def _int(value: Any) -> bool:
    # JSON Schema counts 2.0 as an integer; ``decode`` turns such values into ints.
    return type(value) is int or (type(value) is float and value.is_integer())


def _number(value: Any) -> bool:
    return type(value) is float or type(value) is int


def _ascii_id(value: Any, longest: int) -> bool:
    return (type(value) is str and 0 < len(value) <= longest and value.isascii()
            and value.isprintable() and " " not in value)


def _levels_problem(levels: Any, name: str) -> str | None:
    if type(levels) is not list or len(levels) > 3:
        return f".{name} must be a list of at most 3 levels"
    for level in levels:
        if (type(level) is not list or len(level) != 2
                or not all(_number(x) and x >= 0 for x in level)):
            return f".{name} levels must be [price, size] pairs of numbers >= 0"
    return None


def _outcome_problem(outcome: Any) -> str | None:
    """Return what is wrong with one outcome, as the end of a sentence about it, or None."""
    if type(outcome) is not dict or "id" not in outcome:
        return " must be an object with an id"
    if not _ascii_id(outcome["id"], 128):
        return ".id must be 1-128 printable ASCII characters"
    size = len(outcome)
    if "odds" in outcome and (size == 2 or (size == 3 and "active" in outcome)):
        # The common shapes, {id, odds} and {id, odds, active}: the checks of the path below.
        value = outcome["odds"]
        if not (_number(value) and 1.0 < value <= 10000):
            return ".odds must be a number > 1 and <= 10000"
        return None if size == 2 or type(outcome["active"]) is bool else (
            ".active must be a boolean")
    for name in ("odds", "last_traded"):
        if name in outcome:
            value = outcome[name]
            if not (_number(value) and 1.0 < value <= 10000):
                return f".{name} must be a number > 1 and <= 10000"
    if "active" in outcome and type(outcome["active"]) is not bool:
        return ".active must be a boolean"
    if "probability" in outcome:
        value = outcome["probability"]
        if not (_number(value) and 0 <= value <= 1):
            return ".probability must be a number from 0 to 1"
    if "traded_volume" in outcome:
        value = outcome["traded_volume"]
        if not (_number(value) and value >= 0):
            return ".traded_volume must be a number >= 0"
    for name in ("back", "lay"):
        if name in outcome:
            problem = _levels_problem(outcome[name], name)
            if problem is not None:
                return problem
    return None


def _market_problem(market: Any) -> str | None:
    """Return what is wrong with one market (or its outcomes), or None."""
    if type(market) is not dict or "id" not in market or "outcomes" not in market:
        return " must be an object with id and outcomes"
    if not _ascii_id(market["id"], 64) or "/" in market["id"]:
        return ".id must be 1-64 printable ASCII characters other than '/'"
    if "specifiers" in market and not (type(market["specifiers"]) is str
                                       and len(market["specifiers"]) <= 255):
        return ".specifiers must be a string of at most 255 characters"
    if "status" in market and not (type(market["status"]) is str
                                   and market["status"] in MARKET_STATUS):
        return f".status must be one of {sorted(MARKET_STATUS)}"
    if "in_play" in market and type(market["in_play"]) is not bool:
        return ".in_play must be a boolean"
    if "bet_delay" in market and not (_int(market["bet_delay"]) and market["bet_delay"] >= 0):
        return ".bet_delay must be an integer >= 0"
    if "cashout_status" in market and not (type(market["cashout_status"]) is str
                                           and market["cashout_status"] in CASHOUT_STATUS):
        return f".cashout_status must be one of {sorted(CASHOUT_STATUS)}"
    if "number_of_winners" in market and not (_int(market["number_of_winners"])
                                              and market["number_of_winners"] >= 1):
        return ".number_of_winners must be an integer >= 1"
    outcomes = market["outcomes"]
    if type(outcomes) is not list or len(outcomes) > 500:
        return ".outcomes must be a list of at most 500"
    for i, outcome in enumerate(outcomes):
        problem = _outcome_problem(outcome)
        if problem is not None:
            return f".outcomes[{i}]{problem}"
    return None


def _check_status(status: Any) -> None:
    if (type(status) is not dict or type(status.get("status")) is not str
            or status["status"] not in EVENT_STATUS):
        raise Invalid(f"sport_event_status.status must be one of {sorted(EVENT_STATUS)}")
    if "match_status" in status and not _int(status["match_status"]):
        raise Invalid("sport_event_status.match_status must be an integer")
    for name in ("home_score", "away_score"):
        if name in status and not (_number(status[name]) and 0 <= status[name] <= 100000):
            raise Invalid(f"sport_event_status.{name} must be a number from 0 to 100000")
    if "clock" in status and not (type(status["clock"]) is str and len(status["clock"]) <= 20):
        raise Invalid("sport_event_status.clock must be a string of at most 20 characters")
    if "period_scores" in status:
        _check_period_scores(status["period_scores"])


def _score(value: Any) -> bool:
    return _number(value) and 0 <= value <= 100000


def _check_period_scores(periods: Any) -> None:
    if type(periods) is not list or len(periods) > 50:
        raise Invalid("sport_event_status.period_scores must be a list of at most 50")
    for i, period in enumerate(periods):
        where = f"sport_event_status.period_scores[{i}]"
        if type(period) is not dict or not all(
                k in period for k in ("number", "home_score", "away_score")):
            raise Invalid(f"{where} must be an object with number, home_score and away_score")
        if not (_int(period["number"]) and 0 <= period["number"] <= 1000):
            raise Invalid(f"{where}.number must be an integer from 0 to 1000")
        if not (_score(period["home_score"]) and _score(period["away_score"])):
            raise Invalid(f"{where} scores must be numbers from 0 to 100000")
        if "type" in period and not (type(period["type"]) is str and len(period["type"]) <= 32):
            raise Invalid(f"{where}.type must be a string of at most 32 characters")
        if "match_status" in period and not _int(period["match_status"]):
            raise Invalid(f"{where}.match_status must be an integer")


def check_odds_change(message: dict[str, Any]) -> None:
    """Raise ``Invalid`` unless ``message`` satisfies ``odds_change.json``."""
    for name in ("event_id", "producer", "ts", "markets"):
        if name not in message:
            raise Invalid(f"'{name}' is a required property")
    event_id = message["event_id"]
    if not (type(event_id) is str and 3 <= len(event_id) <= 100
            and EVENT_ID.fullmatch(event_id)):
        raise Invalid("event_id must be a URN such as sr:match:123")
    if not (_int(message["producer"]) and 0 <= message["producer"] <= 1000):
        raise Invalid("producer must be an integer from 0 to 1000")
    if not (_int(message["ts"]) and 0 <= message["ts"] <= 9999999999999):
        raise Invalid("ts must be an integer of milliseconds")
    if "request_id" in message and not (_int(message["request_id"])
                                        and message["request_id"] >= 0):
        raise Invalid("request_id must be an integer >= 0")
    for name in ("betting_status", "betstop_reason"):
        if name in message and not (type(message[name]) is str and len(message[name]) <= 100):
            raise Invalid(f"{name} must be a string of at most 100 characters")
    if "sport_event_status" in message:
        _check_status(message["sport_event_status"])
    markets = message["markets"]
    if type(markets) is not list or len(markets) > 2000:
        raise Invalid("markets must be a list of at most 2000")
    for i, market in enumerate(markets):
        problem = _market_problem(market)
        if problem is not None:
            raise Invalid(f"markets[{i}]{problem}")
