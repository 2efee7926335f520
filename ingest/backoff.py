"""How long an ingestor waits before it reconnects to its provider."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Doubling waits with full jitter, capped; ``reset`` after a connection that held."""

    initial_s: float = 0.5
    cap_s: float = 30.0
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        """Return the wait before the next attempt and count this failure."""
        self.failures += 1
        ceiling = min(self.cap_s, self.initial_s * 2 ** (self.failures - 1))
        # Jitter keeps a fleet of ingestors from reconnecting in step after a provider outage.
        return float(ceiling / 2 + self.rng.uniform(0, ceiling / 2))

    def reset(self) -> None:
        """Forget past failures: the next wait is the shortest again."""
        self.failures = 0
