"""Recent message digests per scope (an event, or a producer's home), to spot exact repeats.

A scope's digests are one string, ``",d1,d2,...,"``: encoding, storing and testing it cost
next to nothing, where a list of 64 strings kept in the event value made every message
rewrite the whole event (3.2 KB of JSON, most of it unchanged).
"""

from __future__ import annotations

import hashlib

#: How many recent message digests a scope remembers.
RECENT_DIGESTS = 64
#: Hex characters of one digest (8 bytes of BLAKE2b).
WIDTH = 16
_LONGEST = 1 + RECENT_DIGESTS * (WIDTH + 1)

EMPTY = ","


def digest(value: bytes) -> str:
    """Return the digest of a raw feed record value."""
    return hashlib.blake2b(value, digest_size=WIDTH // 2).hexdigest()


def seen(recent: str, message_digest: str) -> bool:
    """Return whether ``message_digest`` is among ``recent``."""
    # The commas make a match whole: hex digits never contain one.
    return f",{message_digest}," in recent


def remember(recent: str, message_digest: str) -> str:
    """Return ``recent`` with ``message_digest`` appended, oldest dropped past the bound."""
    grown = f"{recent}{message_digest},"
    return grown if len(grown) <= _LONGEST else grown[WIDTH + 1:]


def merge(recent: str, legacy: list[str]) -> str:
    """Return ``recent`` plus the digests of a ``recent`` list kept in an event or producer
    value by releases before this module (or after a rollback to one)."""
    for old in legacy:
        if not seen(recent, old):
            recent = remember(recent, old)
    return recent
