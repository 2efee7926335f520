"""Betfair Exchange Stream adapter: validate ``mcm`` records, cache markets, emit ``feed.v1``."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import orjson

from feeds.betfair_cache import (
    LADDER_LIMITS,
    LADDERS,
    MAX_LEVELS,
    MAX_MARKET_BYTES,
    MAX_RUNNERS,
    MarketState,
    Runner,
    apply_market_change,
    is_stale,
)
from feeds.errors import AdapterError

__all__ = [
    "BETFAIR_PRODUCER",
    "AdapterError",
    "AliveGate",
    "apply_market_change",
    "is_stale",
    "market_changes",
    "parse_market_change",
    "parse_stream_message",
    "split_records",
    "to_alive",
    "to_canonical",
]

BETFAIR_PRODUCER = 100  # the canonical ``producer`` of everything from the Betfair exchange
MAX_RAW_BYTES = 4 * 1024 * 1024
CHANGE_TYPES = (None, "SUB_IMAGE", "RESUB_DELTA", "HEARTBEAT")
MARKET_STATUS = {"OPEN": "active", "SUSPENDED": "suspended", "INACTIVE": "deactivated"}
WINNING_STATUSES = ("WINNER", "PLACED")
VOID_STATUSES = ("REMOVED", "REMOVED_VACANT")
DOWNSTREAM_LATENCY = 503  # the stream's ``status`` while Betfair's own updates lag
ALIVE_INTERVAL = 1.0  # seconds of monotonic time between two alives that change nothing
MAX_PERCENT = 100.0  # adjustment and reduction factors are percentages
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TS = 9_999_999_999_999
MAX_INT = 2**63 - 1
MAX_HANDICAP = 1_000_000
DEPTH = 3
MAX_TEXT = 256  # characters of a free string such as a clock (real ones have tens)
SHOWN = 64  # characters of a value quoted in a reason
MIN_ODDS, MAX_ODDS = 1.0, 10_000  # the contract's bounds on decimal odds (exclusive, inclusive)
# Which ladder gives a side's best prices, first non-empty wins (betfairlightweight's order).
BACK_LADDERS = ("atb", "bdatb", "batb")
LAY_LADDERS = ("atl", "bdatl", "batl")
_MARKET_ID = re.compile(r"[!-~]{1,64}")
_EVENT_ID = re.compile(r"[A-Za-z0-9_.-]{1,80}")
_SP_WORDS = ("NaN", "Infinity", "-Infinity")


def _fail(reason: str) -> NoReturn:
    raise AdapterError(reason)


def _shown(value: object) -> str:
    """Return ``repr(value)``, cut short: a reason must stay small whatever the input."""
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}..."


def _check_number(value: object, where: str, minimum: float | None = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _fail(f"{where} is not a number")
    if minimum is not None and value < minimum:
        _fail(f"{where} is below {minimum}")


def _check_int(value: object, where: str, maximum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        _fail(f"{where} is not an integer in [0, {maximum}]")


def _check_optional(item: dict[str, Any], name: str, kind: type, where: str) -> None:
    value = item.get(name)
    if value is not None and not isinstance(value, kind):
        _fail(f"{where}.{name} is not a {kind.__name__}")


def _check_text(item: dict[str, Any], name: str, where: str) -> None:
    _check_optional(item, name, str, where)
    if len(item.get(name) or "") > MAX_TEXT:
        _fail(f"{where}.{name} is longer than {MAX_TEXT} characters")


def _check_count(items: list[Any], limit: int, what: str) -> None:
    if len(items) > limit:
        _fail(f"{what} has {len(items)} entries, more than {limit}")


def _check_selection(item: object, where: str) -> dict[str, Any]:
    """Check a runner's ``id`` and ``hc``, shared by ``rc`` and definition runners."""
    if not isinstance(item, dict):
        _fail(f"{where} is not an object")
    _check_int(item.get("id"), f"{where}.id", MAX_INT)
    if "hc" in item:
        _check_number(item["hc"], f"{where}.hc", -MAX_HANDICAP)
        if item["hc"] > MAX_HANDICAP:
            _fail(f"{where}.hc is out of range")
    return item


def _check_ladder(entries: object, name: str, size_at: int, where: str) -> None:
    if not isinstance(entries, list):
        _fail(f"{where}.{name} is not a list")
    _check_count(entries, LADDER_LIMITS[size_at], f"{where}.{name}")
    for entry in entries:
        if not isinstance(entry, list) or len(entry) != size_at + 1:
            _fail(f"{where}.{name} has an entry that is not {size_at + 1} numbers")
        if size_at == 2:
            _check_int(entry[0], f"{where}.{name} level", MAX_LEVELS - 1)
        _check_number(entry[size_at - 1], f"{where}.{name} price")
        _check_number(entry[size_at], f"{where}.{name} size")


def _check_runner_change(item: object, where: str) -> None:
    change = _check_selection(item, where)
    for name in ("ltp", "tv"):
        if change.get(name) is not None:
            _check_number(change[name], f"{where}.{name}")
    for name in ("spn", "spf"):
        value = change.get(name)
        if value is not None and value not in _SP_WORDS:
            _check_number(value, f"{where}.{name}", None)
    for name, (size_at, _) in LADDERS.items():
        if name in change:
            _check_ladder(change[name], name, size_at, where)


def _check_definition_runner(item: object, where: str) -> None:
    runner = _check_selection(item, where)
    if runner.get("bsp") is not None:
        _check_number(runner["bsp"], f"{where}.bsp", None)
    factor = runner.get("adjustmentFactor")
    if factor is not None:
        _check_number(factor, f"{where}.adjustmentFactor")
        if factor > MAX_PERCENT:
            _fail(f"{where}.adjustmentFactor is above {MAX_PERCENT}")
    _check_text(runner, "status", where)
    _check_text(runner, "removalDate", where)


def _check_definition(definition: object, where: str) -> None:
    if not isinstance(definition, dict):
        _fail(f"{where} is not an object")
    _check_text(definition, "status", where)
    for name, kind in (("inPlay", bool), ("runners", list), ("eventId", str)):
        _check_optional(definition, name, kind, where)
    event_id = definition.get("eventId")
    if event_id is not None and not _EVENT_ID.fullmatch(event_id):
        _fail(f"{where}.eventId {_shown(event_id)} is not a plain id")
    for name in ("betDelay", "numberOfWinners", "version"):
        if definition.get(name) is not None:
            _check_int(definition[name], f"{where}.{name}", MAX_INT)
    runners = definition.get("runners") or []
    _check_count(runners, MAX_RUNNERS, f"{where}.runners")
    for index, runner in enumerate(runners):
        _check_definition_runner(runner, f"{where}.runners[{index}]")


def _check_market_change(change: object, where: str) -> None:
    if not isinstance(change, dict):
        _fail(f"{where} is not an object")
    market_id = change.get("id")
    if not isinstance(market_id, str) or not _MARKET_ID.fullmatch(market_id):
        _fail(f"{where}.id is not a market id")
    for name in ("img", "con"):
        _check_optional(change, name, bool, where)
    if change.get("tv") is not None:
        _check_number(change["tv"], f"{where}.tv")
    if "marketDefinition" in change:
        _check_definition(change["marketDefinition"], f"{where}.marketDefinition")
    runner_changes = change.get("rc", [])
    if not isinstance(runner_changes, list):
        _fail(f"{where}.rc is not a list")
    _check_count(runner_changes, MAX_RUNNERS, f"{where}.rc")
    for index, runner_change in enumerate(runner_changes):
        _check_runner_change(runner_change, f"{where}.rc[{index}]")


def _decode_object(raw: bytes | None, limit: int, what: str) -> dict[str, Any]:
    """Decode a record holding one JSON object of at most ``limit`` bytes."""
    if raw is None:
        _fail("empty record")
    if len(raw) > limit:
        _fail(f"record of {len(raw)} bytes exceeds {limit}")
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        _fail(f"malformed JSON: {exc}")
    if not isinstance(decoded, dict):
        _fail(f"{what} is not a JSON object")
    return decoded


def _check_envelope(message: dict[str, Any]) -> None:
    """Check the publish time and change type that every split change carries."""
    _check_int(message.get("pt"), "pt", MAX_TS)
    if message.get("ct") not in CHANGE_TYPES:
        _fail(f"unknown change type {_shown(message.get('ct'))}")


def parse_stream_message(raw: bytes | None) -> dict[str, Any]:
    """Decode one raw stream record and check it is a well-formed ``mcm``; raise AdapterError."""
    message = _decode_object(raw, MAX_RAW_BYTES, "message")
    if message.get("op") != "mcm":
        _fail(f"op {_shown(message.get('op'))} is not 'mcm'")
    _check_envelope(message)
    # The clocks resume a subscription on the ingestion side; checked, never copied on.
    _check_text(message, "clk", "message")
    _check_text(message, "initialClk", "message")
    status = message.get("status")
    if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
        _fail(f"status {_shown(status)} is not an integer")
    changes = message.get("mc", [])
    if not isinstance(changes, list):
        _fail("mc is not a list")
    for index, change in enumerate(changes):
        _check_market_change(change, f"mc[{index}]")
    return message


def market_changes(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Split a parsed message into ``(market_id, change)``; each change carries pt and ct."""
    if message.get("ct") == "HEARTBEAT":
        return []
    envelope = {"pt": message["pt"], "ct": message.get("ct")}
    return [(change["id"], {**change, **envelope}) for change in message.get("mc", ())]


def split_records(message: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """Return the re-keyed records of a parsed message; raise AdapterError if one is too big."""
    records = []
    for index, (market_id, change) in enumerate(market_changes(message)):
        value = orjson.dumps(change)
        if len(value) > MAX_MARKET_BYTES:
            _fail(f"mc[{index}] encodes to {len(value)} bytes, more than {MAX_MARKET_BYTES}")
        records.append((market_id.encode(), value))
    return records


def parse_market_change(key: bytes | None, raw: bytes | None) -> tuple[str, dict[str, Any]]:
    """Decode and re-check one re-keyed record as the splitter checked it; raise AdapterError."""
    try:
        market_id = (key or b"").decode()
    except UnicodeDecodeError:
        _fail(f"key {_shown(key)} is not UTF-8")
    change = _decode_object(raw, MAX_MARKET_BYTES, "change")
    _check_envelope(change)
    _check_market_change(change, "change")
    if change["id"] != market_id:
        _fail(f"key {_shown(market_id)} is not the change's market id {change['id']!r}")
    return market_id, change


def to_alive(message: dict[str, Any]) -> dict[str, Any]:
    """Return the canonical ``alive`` of the exchange producer for a parsed stream message."""
    return {"type": "alive", "producer": BETFAIR_PRODUCER, "ts": message["pt"],
            "subscribed": message.get("status") != DOWNSTREAM_LATENCY}


class AliveGate:
    """Let an alive through at once when ``subscribed`` flips, otherwise once per interval."""

    def __init__(self, interval: float = ALIVE_INTERVAL) -> None:
        self._interval = interval
        self._subscribed: bool | None = None
        self._emitted_at = 0.0

    def admit(self, subscribed: bool, now: float) -> bool:
        """Tell whether to emit an alive at monotonic time ``now``; remember it if so."""
        if subscribed == self._subscribed and now - self._emitted_at < self._interval:
            return False
        self._subscribed, self._emitted_at = subscribed, now
        return True


def best_levels(runner: Runner, ladders: tuple[str, ...]) -> list[list[float]]:
    """Return the best ``DEPTH`` ``[price, size]`` levels of the first non-empty ladder."""
    for name in ladders:
        ladder = runner.get(name)
        if ladder:
            price_at = LADDERS[name][0] - 1
            return [[entry[price_at], entry[price_at + 1]] for entry in ladder[:DEPTH]]
    return []


def _is_odds(price: float) -> bool:
    return MIN_ODDS < price <= MAX_ODDS


def _outcome(key: str, runner: Runner) -> dict[str, Any]:
    back = best_levels(runner, BACK_LADDERS)
    price = back[0][0] if back else None
    has_odds = price is not None and _is_odds(price)
    outcome: dict[str, Any] = {
        "id": key,
        "active": has_odds and runner["status"] in (None, "ACTIVE"),
    }
    if has_odds:
        outcome["odds"] = price
    outcome["back"] = back
    outcome["lay"] = best_levels(runner, LAY_LADDERS)
    if runner["ltp"] is not None and _is_odds(runner["ltp"]):  # 0 in an image: none traded
        outcome["last_traded"] = runner["ltp"]
    if runner["tv"] is not None:
        outcome["traded_volume"] = runner["tv"]
    return outcome


def _odds_change(state: MarketState, event_id: str, publish_time: int) -> dict[str, Any]:
    market: dict[str, Any] = {
        "id": state["market_id"],
        "specifiers": "",
        # CLOSED publishes as suspended: only the bet_settlement settles a market.
        "status": MARKET_STATUS.get(state["status"], "suspended"),
    }
    for name in ("in_play", "bet_delay"):
        if state[name] is not None:
            market[name] = state[name]
    if state["number_of_winners"]:  # 0 on some handicap markets; the contract wants >= 1
        market["number_of_winners"] = state["number_of_winners"]
    market["outcomes"] = [_outcome(key, runner) for key, runner in state["runners"].items()]
    return {"type": "odds_change", "event_id": event_id, "producer": BETFAIR_PRODUCER,
            "ts": publish_time, "markets": [market]}


def _removal_ts(removal_date: str | None) -> int | None:
    """Return an ISO-8601 ``removalDate`` in ms since the epoch; None if absent or unusable."""
    if removal_date is None:
        return None
    try:
        moment = datetime.fromisoformat(removal_date)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # Betfair's times are UTC
        ts = (moment - EPOCH) // timedelta(milliseconds=1)
    except (ValueError, OverflowError):
        return None
    return ts if 0 <= ts <= MAX_TS else None


def _void_outcome(key: str, runner: Runner) -> dict[str, Any]:
    outcome: dict[str, Any] = {"id": key, "result": "void"}
    removal_ts = _removal_ts(runner["removal_date"])
    if removal_ts is not None:
        outcome["removal_ts"] = removal_ts
    if runner["adjustment_factor"] is not None:
        outcome["reduction_factor"] = runner["adjustment_factor"]
    return outcome


def _settled_outcome(key: str, runner: Runner, dead_heat: float | None) -> dict[str, Any]:
    status = runner["status"]
    if status in WINNING_STATUSES:
        won = {"id": key, "result": "won"}
        return won if dead_heat is None else {**won, "dead_heat_factor": dead_heat}
    if status in VOID_STATUSES:
        return _void_outcome(key, runner)
    return {"id": key, "result": "lost" if status == "LOSER" else "undecided"}


def _dead_heat_factor(state: MarketState) -> float | None:
    """Return each winner's share when more runners won than the market pays, else None."""
    winners = sum(runner["status"] in WINNING_STATUSES for runner in state["runners"].values())
    places = state["number_of_winners"] or 1
    return places / winners if winners > places else None


def _reduction_factor(state: MarketState) -> float | None:
    """Return the sum of the removed runners' adjustment factors; None if none has one."""
    factors = [runner["adjustment_factor"] for runner in state["runners"].values()
               if runner["status"] in VOID_STATUSES and runner["adjustment_factor"] is not None]
    if not factors:
        return None
    # Rounded so binary noise does not show in a sum of decimal percentages; a reduction
    # cannot exceed the whole price, and the contract caps it at 100.
    return min(round(math.fsum(factors), 6), MAX_PERCENT)


def _bet_settlement(state: MarketState, event_id: str, publish_time: int) -> dict[str, Any]:
    dead_heat = _dead_heat_factor(state)
    market: dict[str, Any] = {"id": state["market_id"], "specifiers": ""}
    reduction = _reduction_factor(state)
    if reduction is not None:
        market["reduction_factor"] = reduction
    market["outcomes"] = [_settled_outcome(key, runner, dead_heat)
                          for key, runner in state["runners"].items()]
    return {"type": "bet_settlement", "event_id": event_id, "producer": BETFAIR_PRODUCER,
            "ts": publish_time, "certainty": 2, "markets": [market]}


def _bet_cancel(state: MarketState, event_id: str, publish_time: int) -> dict[str, Any]:
    market = {"id": state["market_id"], "specifiers": "", "void_reason": "no_result"}
    return {"type": "bet_cancel", "event_id": event_id, "producer": BETFAIR_PRODUCER,
            "ts": publish_time, "markets": [market]}


def _closed_market(state: MarketState, event_id: str, publish_time: int) -> dict[str, Any]:
    """Return a closed market's settlement, or its cancel (void market) when nobody won."""
    if any(runner["status"] in WINNING_STATUSES for runner in state["runners"].values()):
        return _bet_settlement(state, event_id, publish_time)
    return _bet_cancel(state, event_id, publish_time)


def to_canonical(state: MarketState, publish_time: int) -> list[dict[str, Any]]:
    """Return a market's ``odds_change``, then its settlement or cancel once it is closed."""
    # No event id before the first marketDefinition: nothing can be keyed, so nothing is sent.
    # A settlement or cancel is re-sent with every later change; the engine treats repeats
    # as no-ops.
    if state["event_id"] is None:
        return []
    event_id = f"bf:event:{state['event_id']}"
    messages = [_odds_change(state, event_id, publish_time)]
    if state["status"] == "CLOSED":
        messages.append(_closed_market(state, event_id, publish_time))
    return messages
