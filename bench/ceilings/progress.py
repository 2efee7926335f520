"""Counts records in a ceiling program and writes its rate once the expected count is in."""

from __future__ import annotations

import gc
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Progress:
    """``add(n)`` per batch (or per record); writes the result file once, at ``expect``."""

    expect: int
    result: Path
    count: int = 0
    first_batch: int = 0
    t_first: float = 0.0
    t_last: float = 0.0
    done: bool = False
    #: Facts to report with the rate (e.g. the tuning a ceiling ran with).
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Progress:
        return cls(int(os.environ["BENCH_EXPECT"]), Path(os.environ["BENCH_RESULT"]))

    def add(self, records: int) -> None:
        now = time.time()
        if not self.t_first:
            self.t_first = now
            self.first_batch = records
        self.count += records
        self.t_last = now
        if self.count >= self.expect and not self.done:
            self.done = True
            self.write()

    @property
    def rate(self) -> float:
        span = self.t_last - self.t_first
        return (self.count - self.first_batch) / span if span > 0 else 0.0

    def write(self) -> None:
        partial = self.result.with_suffix(".tmp")
        partial.write_text(json.dumps({
            "count": self.count, "first_batch": self.first_batch, "t_first": self.t_first,
            "t_last": self.t_last, "rate": self.rate, "gc_threshold": gc.get_threshold(),
            **self.extra}, default=str))
        partial.rename(self.result)
