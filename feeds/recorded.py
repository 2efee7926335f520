"""Read recorded feeds as raw records in recorded order, and pace them (pure, no Kafka).

Only what a replay needs is read from each record: its timestamp and its record key. Everything
else is left to the platform's adapters, which dead-letter bad records; a reader fails only on
input it cannot frame (a missing file, a broken archive, a line that is not JSON, XML without a
root element, a UOF feed message without an integer timestamp).
"""

from __future__ import annotations

import bz2
import gzip
import math
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from io import BufferedIOBase
from pathlib import Path
from typing import Any

import orjson

FORMATS = ("uof", "betfair", "canonical")
#: The ``speed`` of a replay that ignores the recorded timing.
AS_FAST_AS_POSSIBLE = math.inf

_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
_COMPRESSED = {".gz": "gzip", ".bz2": "bzip2"}

# Cheap reading of a UOF root element: skip the prolog (declaration, comments, processing
# instructions, a DOCTYPE, which the adapter rejects), then match the first start tag.
_PROLOG_ITEM = re.compile(rb"\s+|(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^\[>]|\[.*?\])*>)", re.S)
_START_TAG = re.compile(
    rb"<([A-Za-z_][\w.:-]*)((?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*/?>")
_ATTRIBUTE = re.compile(rb"([^\s=/>]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_UTF8_BOM = b"\xef\xbb\xbf"
_INTEGER = re.compile(rb"[+-]?[0-9]{1,18}")
#: Roots of the UOF feed messages, which must carry an integer ``timestamp``; any other
#: document (an API response such as ``<fixtures_fixture>``) is passed on without one.
UOF_FEED_ROOTS = frozenset({
    "odds_change", "bet_stop", "bet_settlement", "rollback_bet_settlement", "bet_cancel",
    "rollback_bet_cancel", "fixture_change", "alive", "snapshot_complete"})


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One recorded record: where it came from, its timestamp and key, and its bytes."""

    source: str
    line: int
    ts_ms: int | None
    key: bytes | None
    value: bytes


class RecordedFeedError(Exception):
    """A recorded input that cannot be read; the message names the file and line."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason


# --- files and lines ----------------------------------------------------------------------

def _compression(path: Path) -> str | None:
    """Say how a file is compressed: by its extension, else by its first bytes."""
    by_suffix = _COMPRESSED.get(path.suffix.lower())
    if by_suffix is not None:
        return by_suffix
    with path.open("rb") as stream:
        head = stream.read(3)
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_BZIP2_MAGIC):
        return "bzip2"
    return None


def _open(path: Path) -> tuple[BufferedIOBase, str]:
    try:
        compression = _compression(path)
        if compression == "gzip":
            return gzip.open(path, "rb"), "gzip"
        if compression == "bzip2":
            return bz2.open(path, "rb"), "bzip2"
        return path.open("rb"), "file"
    except OSError as exc:
        raise RecordedFeedError(str(path), None, f"cannot open: {exc.strerror or exc}") from None


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line number, line)`` for every non-blank line, stripped of its whitespace."""
    stream, kind = _open(path)
    number = 0
    with stream:
        try:
            for raw in stream:
                number += 1
                line = raw.strip()
                if line:
                    yield number, line
        except (OSError, EOFError, zlib.error) as exc:
            raise RecordedFeedError(str(path), number + 1, f"unreadable {kind}: {exc}") from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RecordedFeedError(str(path), None, f"cannot read: {exc.strerror or exc}") from None


def _stream_name(path: Path) -> str:
    """Return the file name without a compression suffix: ``1.1234.bz2`` is stream ``1.1234``."""
    return path.stem if path.suffix.lower() in _COMPRESSED else path.name


def _json_object(source: str, line: int, raw: bytes) -> dict[str, Any]:
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RecordedFeedError(source, line, f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise RecordedFeedError(source, line, "not a JSON object")
    return message


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- UOF XML --------------------------------------------------------------------------------

def _uof_record(source: str, line: int, raw: bytes, *, document: bool) -> RecordedMessage:
    """Read the root element's timestamp and key; ``document``: ``raw`` is a whole file."""
    position = 3 if raw.startswith(_UTF8_BOM) else 0
    while (item := _PROLOG_ITEM.match(raw, position)) is not None and item.end() > position:
        position = item.end()
    root = _START_TAG.match(raw, position)
    # Errors in a whole-file document point at the root element's own line.
    where = line + raw.count(b"\n", 0, root.start(1) if root else position) if document else line
    if root is None:
        raise RecordedFeedError(source, where, "no XML root element")
    attributes: dict[bytes, bytes] = {}
    for match in _ATTRIBUTE.finditer(root.group(2)):
        attributes.setdefault(match.group(1), (match.group(2) or match.group(3) or b"").strip())
    tag = root.group(1).decode("ascii", "replace")
    return RecordedMessage(source, line, _uof_timestamp(source, where, tag, attributes),
                           _uof_key(attributes), raw)


def _uof_timestamp(source: str, where: int, tag: str,
                   attributes: dict[bytes, bytes]) -> int | None:
    """Return a feed message's timestamp (required), or any other document's if it has one."""
    timestamp = attributes.get(b"timestamp")
    if tag not in UOF_FEED_ROOTS:
        # The adapter translates or dead-letters it; the pacer sends it with the one before.
        return int(timestamp) if timestamp and _INTEGER.fullmatch(timestamp) else None
    if not timestamp:
        raise RecordedFeedError(source, where, f"<{tag}> has no timestamp")
    if not _INTEGER.fullmatch(timestamp):
        shown = timestamp[:32].decode("utf-8", "replace")
        raise RecordedFeedError(source, where, f"<{tag}> timestamp {shown!r} is not an integer")
    return int(timestamp)


def _uof_key(attributes: dict[bytes, bytes]) -> bytes | None:
    """Return the record key: the event id, else ``producer:{product}``, else None."""
    key: bytes | None = attributes.get(b"event_id") or None
    if key is None and attributes.get(b"product"):
        # Producer-level messages (alive, snapshot_complete) have no event; the platform keys
        # them by producer, like the canonical feed.
        key = b"producer:" + attributes[b"product"]
    return key


def read_uof(path: Path) -> Iterator[RecordedMessage]:
    """Read UOF XML: a directory of ``*.xml`` files (one message each, in file-name order), one
    ``.xml`` file, or any other file (optionally compressed) holding one message per line."""
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.suffix.lower() == ".xml" and p.is_file()),
                       key=lambda p: p.name)
        if not files:
            raise RecordedFeedError(str(path), None, "no .xml files in the directory")
        for file in files:
            yield _uof_record(str(file), 1, _read_bytes(file), document=True)
    elif path.suffix.lower() == ".xml":
        yield _uof_record(str(path), 1, _read_bytes(path), document=True)
    else:
        for number, line in _lines(path):
            yield _uof_record(str(path), number, line, document=False)


# --- Betfair and canonical JSON lines -------------------------------------------------------

def read_betfair(path: Path) -> Iterator[RecordedMessage]:
    """Read a Betfair historic stream file (plain, gzip or bzip2): one JSON message per line.

    Every record of a file gets the same key, ``betfair:{file name}``: the stream's messages must
    stay in order (an image, then the deltas on top of it) and one message can carry several
    markets, so the file goes to one partition whole and the adapter re-partitions by market.
    """
    source = str(path)
    key = b"betfair:" + _stream_name(path).encode()
    for number, line in _lines(path):
        message = _json_object(source, number, line)
        yield RecordedMessage(source, number, _integer(message.get("pt")), key, line)


def canonical_key(message: dict[str, Any]) -> bytes | None:
    """Return the ``feed.v1`` record key: the event id, or ``producer:{id}`` without one."""
    event_id = message.get("event_id")
    if isinstance(event_id, str) and event_id:
        return event_id.encode()
    producer = message.get("producer")
    if producer is None or isinstance(producer, bool | dict | list):
        return None
    return f"producer:{producer}".encode()


def read_canonical(path: Path) -> Iterator[RecordedMessage]:
    """Read canonical ``feed.v1`` messages (plain, gzip or bzip2): one JSON message per line."""
    source = str(path)
    for number, line in _lines(path):
        message = _json_object(source, number, line)
        yield RecordedMessage(source, number, _integer(message.get("ts")), canonical_key(message),
                              line)


READERS: dict[str, Callable[[Path], Iterator[RecordedMessage]]] = {
    "uof": read_uof,
    "betfair": read_betfair,
    "canonical": read_canonical,
}


def read_recorded(feed_format: str, paths: Sequence[str | Path]) -> Iterator[RecordedMessage]:
    """Read every path in turn, in the order given; a missing path fails before anything is read."""
    reader = READERS.get(feed_format)
    if reader is None:
        raise ValueError(f"unknown recorded format {feed_format!r}, expected one of {FORMATS}")
    checked = [Path(p) for p in paths]
    for path in checked:
        if not path.exists():
            raise RecordedFeedError(str(path), None, "no such file or directory")
    return (message for path in checked for message in reader(path))


# --- pacing ---------------------------------------------------------------------------------

class Pacer:
    """Say when each recorded message is due, in seconds after the first, scaled by ``speed``.

    A message without a timestamp, or older than one already due, is due at once: time never
    runs backwards in a replay, so one late record cannot hold up the rest.
    """

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self.speed = speed
        self._first_ts: int | None = None
        self._due_s = 0.0

    def due(self, ts_ms: int | None) -> float:
        """Return the offset from the replay start at which a message stamped ``ts_ms`` is due."""
        if ts_ms is None or math.isinf(self.speed):
            return self._due_s
        if self._first_ts is None:
            self._first_ts = ts_ms
        self._due_s = max(self._due_s, (ts_ms - self._first_ts) / 1000 / self.speed)
        return self._due_s


def due_offsets(timestamps: Iterable[int | None], speed: float = 1.0) -> list[float]:
    """Return each message's due offset in seconds (``AS_FAST_AS_POSSIBLE``: all zero)."""
    pacer = Pacer(speed)
    return [pacer.due(ts) for ts in timestamps]
