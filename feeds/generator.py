"""A small, seeded generator of canonical ``odds_change`` messages for demos and tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

# market id, specifiers, outcome ids
MARKET_TEMPLATES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("1", "", ("1", "2", "3")),
    ("18", "total=1.5", ("12", "13")),
    ("18", "total=2.5", ("12", "13")),
    ("18", "total=3.5", ("12", "13")),
    ("29", "", ("74", "76")),
    ("16", "hcp=-1", ("1714", "1715")),
)


def _price(rng: random.Random, n: int) -> list[float]:
    weights = [rng.uniform(0.5, 2.0) for _ in range(n)]
    total = sum(weights) * 1.05  # a 5% overround
    return [max(1.01, round(total / w, 2)) for w in weights]


class OddsGenerator:
    """Random-walk prices for ``events`` events; same seed, same messages."""

    def __init__(self, events: int, seed: int = 1, producer: int = 1,
                 prefix: str = "sr:match:") -> None:
        self.rng = random.Random(seed)  # noqa: S311 - simulation, not security
        self.producer = producer
        self.event_ids = [f"{prefix}{1000 + i}" for i in range(events)]
        self.prices: dict[tuple[str, str, str], list[float]] = {}

    def message(self, ts: int) -> dict[str, Any]:
        """Return the next ``odds_change`` for a random event, stamped ``ts``."""
        rng = self.rng
        event_id = rng.choice(self.event_ids)
        markets = []
        for market_id, specifiers, outcome_ids in rng.sample(
            MARKET_TEMPLATES, rng.randint(1, 3)
        ):
            key = (event_id, market_id, specifiers)
            prices = self.prices.get(key) or _price(rng, len(outcome_ids))
            prices = [max(1.01, round(p * rng.uniform(0.95, 1.05), 2)) for p in prices]
            self.prices[key] = prices
            markets.append({
                "id": market_id,
                "specifiers": specifiers,
                "status": "active" if rng.random() > 0.05 else "suspended",
                "outcomes": [
                    {"id": oid, "odds": price, "active": True}
                    for oid, price in zip(outcome_ids, prices, strict=True)
                ],
            })
        return {"type": "odds_change", "event_id": event_id, "producer": self.producer,
                "ts": ts, "markets": markets}

    def messages(self, count: int, start_ts: int, step_ms: int = 1) -> Iterator[dict[str, Any]]:
        """Yield ``count`` messages with increasing timestamps."""
        for i in range(count):
            yield self.message(start_ts + i * step_ms)
