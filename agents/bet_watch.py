"""Pending tickets held by the worker that owns their events, spoiled by what the feed does.

A ticket answered ``pending`` (a bet delay) is accepted later only if its markets did not stop
betting in between. The odds agent shows every published market version to ``WATCH``; a
version that moves a held market away from ``active`` spoils the tickets holding it. Held
selections expire with their ticket (``TICKET_TTL_MS``); a worker restart or a rebalance
forgets them, and a ticket it forgot is answered ``ticket_unknown``, never accepted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from models.acceptance import Asked, Policy, stopped_by

#: Selections held at most; a ticket that would pass it is not held (later: unknown).
MAX_HELD = 200_000


@dataclass(slots=True)
class Held:
    """One selection of a pending ticket: what was asked, the whole ticket's ``fingerprint``,
    when it may be taken, and the status its market stopped at in between (None: it did
    not)."""

    asked: Asked
    policy: Policy
    fingerprint: str
    ready_ms: int
    expires_ms: int
    spoiled: str | None = None


class TicketWatch:
    """Held selections by ticket and by market key."""

    def __init__(self, limit: int = MAX_HELD) -> None:
        self.limit = limit
        self.tickets: dict[str, list[Held]] = {}
        self.markets: dict[str, set[str]] = {}
        self.expiry: deque[tuple[int, str]] = deque()
        self.held = 0

    def hold(self, ticket_id: str, held: list[Held], now_ms: int) -> bool:
        """Hold a ticket's selections of this worker; False when full (nothing is held)."""
        self.prune(now_ms)
        if not held or ticket_id in self.tickets or self.held + len(held) > self.limit:
            return False
        self.tickets[ticket_id] = held
        self.held += len(held)
        for selection in held:
            self.markets.setdefault(selection.asked.market_key, set()).add(ticket_id)
        self.expiry.append((max(h.expires_ms for h in held), ticket_id))
        return True

    def get(self, ticket_id: str) -> list[Held] | None:
        """The selections held for a ticket, None if none are."""
        return self.tickets.get(ticket_id)

    def observe(self, versions: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Spoil the held selections whose market a published version stopped."""
        for key, record in versions:
            tickets = self.markets.get(key)
            if not tickets:
                continue
            status = stopped_by(record["changes"])
            if status is None:
                continue
            for ticket_id in tickets:
                for selection in self.tickets.get(ticket_id, ()):
                    if selection.asked.market_key == key and selection.spoiled is None:
                        selection.spoiled = status

    def prune(self, now_ms: int) -> None:
        """Forget the tickets that expired."""
        while self.expiry and self.expiry[0][0] <= now_ms:
            _, ticket_id = self.expiry.popleft()
            held = self.tickets.pop(ticket_id, None)
            if held is None:
                continue
            self.held -= len(held)
            for selection in held:
                key = selection.asked.market_key
                tickets = self.markets.get(key)
                if tickets is not None:
                    tickets.discard(ticket_id)
                    if not tickets:
                        del self.markets[key]

    def forget(self) -> None:
        """Drop everything (the worker's partitions were taken away)."""
        self.tickets.clear()
        self.markets.clear()
        self.expiry.clear()
        self.held = 0


#: This worker's pending tickets.
WATCH = TicketWatch()
