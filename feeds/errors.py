"""Errors of the provider adapters."""

from __future__ import annotations


class AdapterError(ValueError):
    """A raw provider record that cannot be parsed or translated; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
