"""One Betfair market's cache (betfairlightweight's MarketBookCache) as plain JSON data."""

from __future__ import annotations

from typing import Any

import orjson

from feeds.errors import AdapterError

# Every function is pure: a new state shares untouched runners and ladders with the old one,
# so a state is never mutated once built (a Faust table stores a copy, not a reference).
MarketState = dict[str, Any]
Runner = dict[str, Any]
Ladder = list[list[Any]]

# Ladder field -> (index of the size in an entry, highest key first). Price ladders hold
# [price, size] keyed by price; level ladders hold [level, price, size] keyed by level.
LADDERS: dict[str, tuple[int, bool]] = {
    "atb": (1, True),
    "atl": (1, False),
    "trd": (1, False),
    "batb": (2, False),
    "batl": (2, False),
    "bdatb": (2, False),
    "bdatl": (2, False),
}
TICKS = 350  # prices on Betfair's tick ladder, 1.01 to 1000: a longer price ladder is malformed
MAX_LEVELS = 10  # Betfair's largest ``ladderLevels``
#: Entries a ladder may hold, by the index of the size in its entries (price or level ladder).
LADDER_LIMITS = {1: TICKS, 2: MAX_LEVELS}
MAX_RUNNERS = 500  # the contract's cap on outcomes per market
#: A cached market's encoded size (Faust encodes table values with orjson too): far enough
#: under the changelog's 1 MiB record limit that its write cannot fail for size.
MAX_MARKET_BYTES = 512 * 1024
RUNNER_SCALARS = ("ltp", "tv", "spn", "spf")
_DEFINITION_FIELDS = {
    "status": "status",
    "inPlay": "in_play",
    "betDelay": "bet_delay",
    "numberOfWinners": "number_of_winners",
    "eventId": "event_id",
    "version": "version",
}


def outcome_id(selection_id: int, handicap: float) -> str:
    """Return a runner's key and outcome id: ``{id}``, or ``{id}:{hc}`` for a non-zero handicap."""
    if handicap == 0:
        return str(selection_id)
    value = float(handicap)
    text = str(int(value)) if value.is_integer() else repr(value)
    return f"{selection_id}:{text}"


def update_ladder(ladder: Ladder, changes: Ladder, size_at: int, descending: bool) -> Ladder:
    """Return ``ladder`` with ``changes`` applied: a size of 0 removes the entry's key."""
    book = {entry[0]: entry for entry in ladder}
    for change in changes:
        if change[size_at] == 0:
            book.pop(change[0], None)
        else:
            book[change[0]] = list(change[: size_at + 1])
    return [book[key] for key in sorted(book, reverse=descending)]


def empty_market(market_id: str, publish_time: int) -> MarketState:
    """Return the cache of a market nothing is known about yet."""
    market: MarketState = {"market_id": market_id, "pt": publish_time, "tv": 0}
    market.update(dict.fromkeys(_DEFINITION_FIELDS.values()))
    market["runners"] = {}
    return market


def new_runner(selection_id: int, handicap: float) -> Runner:
    """Return a runner nothing is known about yet (betfairlightweight's defaults)."""
    return {
        "id": selection_id,
        "hc": handicap,
        "status": None,
        "adjustment_factor": None,
        "bsp": None,
        "removal_date": None,
        "ltp": None,
        "tv": 0,
        "spn": None,
        "spf": None,
    }


def apply_definition(runner: Runner, definition: dict[str, Any]) -> Runner:
    """Return the runner with the fields of its ``marketDefinition`` entry (absent: None)."""
    return {
        **runner,
        "status": definition.get("status"),
        "adjustment_factor": definition.get("adjustmentFactor"),
        "bsp": definition.get("bsp"),
        "removal_date": definition.get("removalDate"),
    }


def _check_ladder_size(runner: Runner, name: str, ladder: Ladder, size_at: int) -> None:
    limit = LADDER_LIMITS[size_at]
    if len(ladder) > limit:
        key = outcome_id(runner["id"], runner["hc"])
        raise AdapterError(f"runner {key} {name} would hold {len(ladder)} entries, "
                           f"more than {limit}")


def apply_runner_change(runner: Runner, change: dict[str, Any]) -> Runner:
    """Return the runner with one ``rc`` entry applied (``trd: []`` clears traded volume)."""
    updated = dict(runner)
    for name in RUNNER_SCALARS:
        if name in change:
            updated[name] = change[name]
    for name, (size_at, descending) in LADDERS.items():
        if name not in change:
            continue
        if name == "trd" and not change[name]:
            ladder: Ladder = []
        else:
            ladder = update_ladder(runner.get(name, []), change[name], size_at, descending)
            _check_ladder_size(runner, name, ladder, size_at)
        if ladder:
            updated[name] = ladder
        else:
            updated.pop(name, None)
    return updated


def _apply_market_definition(market: MarketState, definition: dict[str, Any]) -> None:
    """Copy the definition into ``market``, a fresh copy owned by the caller."""
    for field, name in _DEFINITION_FIELDS.items():
        market[name] = definition.get(field)
    runners = market["runners"]
    for entry in definition.get("runners") or ():
        key = outcome_id(entry["id"], entry.get("hc", 0))
        runner = runners.get(key) or new_runner(entry["id"], entry.get("hc", 0))
        runners[key] = apply_definition(runner, entry)


def is_stale(state: MarketState | None, publish_time: int) -> bool:
    """Tell whether a change published at ``publish_time`` is older than the cache."""
    return state is not None and publish_time < state["pt"]


def apply_market_change(
    state: MarketState | None,
    change: dict[str, Any],
    publish_time: int,
    change_type: str | None = None,
) -> MarketState:
    """Return the cache after one validated change; ``img`` or ``SUB_IMAGE`` starts a new one."""
    # Past a bound (ladder, runners, encoded size) this raises AdapterError; ``state`` is never
    # mutated, so it is still the market's cache.
    if state is not None and is_stale(state, publish_time):
        # At-least-once redelivery must not roll the ladders back; callers check is_stale.
        return state
    if state is None or change.get("img") or change_type == "SUB_IMAGE":
        market = empty_market(change["id"], publish_time)
    else:
        market = {**state, "pt": publish_time, "runners": dict(state["runners"])}
    if "marketDefinition" in change:
        _apply_market_definition(market, change["marketDefinition"])
    if "tv" in change:
        market["tv"] = change["tv"]
    runners = market["runners"]
    for runner_change in change.get("rc", ()):
        hc = runner_change.get("hc", 0)
        key = outcome_id(runner_change["id"], hc)
        runner = runners.get(key) or new_runner(runner_change["id"], hc)
        runners[key] = apply_runner_change(runner, runner_change)
    check_market_size(market)
    return market


def check_market_size(market: MarketState) -> None:
    """Raise AdapterError when a market has too many runners or encodes too large to store."""
    if len(market["runners"]) > MAX_RUNNERS:
        raise AdapterError(f"market {market['market_id']} would have {len(market['runners'])} "
                           f"runners, more than {MAX_RUNNERS}")
    size = len(orjson.dumps(market))
    if size > MAX_MARKET_BYTES:
        raise AdapterError(f"market {market['market_id']} would encode to {size} bytes, "
                           f"more than {MAX_MARKET_BYTES}")
