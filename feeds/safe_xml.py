"""Parse untrusted XML: no DTD, no entities, bounded size, depth and element count."""

from __future__ import annotations

from typing import NoReturn
from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat

from feeds.errors import AdapterError

MAX_XML_BYTES = 1024 * 1024
MAX_DEPTH = 16
MAX_ELEMENTS = 100_000


def _forbid(what: str) -> NoReturn:
    raise AdapterError(f"{what} not allowed")


class _Builder:
    """Build an element tree from expat callbacks, ignoring text, within the limits."""

    def __init__(self) -> None:
        self.tree = TreeBuilder()
        self.depth = 0
        self.count = 0

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        self.count += 1
        if self.depth > MAX_DEPTH:
            raise AdapterError(f"XML nested deeper than {MAX_DEPTH}")
        if self.count > MAX_ELEMENTS:
            raise AdapterError(f"XML has more than {MAX_ELEMENTS} elements")
        self.tree.start(tag, attrs)

    def end(self, tag: str) -> None:
        self.depth -= 1
        self.tree.end(tag)


def parse_xml(raw: bytes, max_bytes: int = MAX_XML_BYTES) -> Element:
    """Parse one UTF-8 XML document into its root element; raise ``AdapterError``."""
    if len(raw) > max_bytes:
        raise AdapterError(f"record of {len(raw)} bytes exceeds {max_bytes}")
    if not raw.strip():
        raise AdapterError("empty record")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AdapterError(f"invalid UTF-8 at byte {exc.start}") from None
    builder = _Builder()
    # The document's own encoding declaration is overridden: UOF is UTF-8 only.
    parser = expat.ParserCreate(encoding="UTF-8")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    # Rejecting the DOCTYPE at its first byte stops entity bombs and XXE before any expansion.
    parser.StartDoctypeDeclHandler = lambda *_: _forbid("DOCTYPE")
    parser.EntityDeclHandler = lambda *_: _forbid("entity declaration")
    parser.UnparsedEntityDeclHandler = lambda *_: _forbid("entity declaration")
    parser.ExternalEntityRefHandler = lambda *_: _forbid("external entity")
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    try:
        parser.Parse(raw, True)
    except expat.ExpatError as exc:
        raise AdapterError(
            f"malformed XML: {expat.ErrorString(exc.code)} at line {exc.lineno}, "
            f"column {exc.offset}") from None
    return builder.tree.close()


def local_name(tag: str) -> str:
    """Return a tag without its namespace: ``{uri}name`` or ``prefix:name`` is ``name``."""
    return tag.rpartition("}")[2].rpartition(":")[2]
