"""Statements over many rows, rendered in one pass (PyMySQL's per-value escaping, inlined).

aiomysql's ``executemany`` escapes every value through three layers of generic calls, the
largest share of the sink's CPU (docs/decisions/0012). The rows here
hold only str, int, bool, float and None, so the literals are written directly, with the
same rules as ``pymysql.converters`` (a unit test compares the two on arbitrary rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

#: Longest statement sent (aiomysql's ``Cursor.max_stmt_length``; MariaDB accepts 16 MiB).
MAX_STATEMENT_BYTES = 1_024_000


@dataclass(frozen=True, slots=True)
class Statement:
    """SQL around a comma-separated list of row tuples: ``head``, the rows, then ``tail``
    (``INSERT ... VALUES`` rows, or a ``... IN (`` list of keys)."""

    head: str
    tail: str = ""
    columns: int = 0


def _float(value: float) -> str:
    """``pymysql.converters.escape_float``: an exponent, so MySQL reads a DOUBLE."""
    text = repr(value)
    if text in ("inf", "-inf", "nan"):
        raise ValueError(f"{text} can not be written to MySQL")
    return text if "e" in text else text + "e0"


def backslash_escape(value: str) -> str:
    """``pymysql.converters.escape_string``, by replacements that each scan in C: its
    ``str.translate`` looks every character up, several times slower on a JSON column."""
    return (value.replace("\\", "\\\\").replace("\0", "\\0").replace("\n", "\\n")
            .replace("\r", "\\r").replace("\032", "\\Z").replace('"', '\\"')
            .replace("'", "\\'"))


def literal_writer(escape_string: Callable[[str], str]) -> Callable[[Any], str]:
    """Return a function writing one value as an SQL literal, strings escaped by
    ``escape_string`` (the connection's: it honours NO_BACKSLASH_ESCAPES); use it for one
    statement's rows, as it remembers every string it quoted."""

    if escape_string("\\'") == "\\\\\\'":  # the backslash kind: the same, faster
        escape_string = backslash_escape
    # Keys repeat on the rows of a statement (an event's markets): quote each string once.
    quoted: dict[str, str] = {}

    def literal(value: Any) -> str:
        kind = type(value)
        if kind is str:
            text = quoted.get(value)
            if text is None:
                text = quoted[value] = "'" + escape_string(value) + "'"
            return text
        if kind is int:
            return str(value)
        if value is None:
            return "NULL"
        if kind is float:
            return _float(value)
        if kind is bool:
            return "1" if value else "0"
        raise TypeError(f"{kind.__name__} is not a sink column value")

    return literal


def statements(statement: Statement, rows: Iterable[tuple[Any, ...]],
               escape_string: Callable[[str], str], encoding: str = "utf-8",
               limit: int = MAX_STATEMENT_BYTES) -> Iterator[bytes]:
    """Yield ``statement`` with ``rows`` as few statements of at most ``limit`` bytes (a
    single row longer than that still goes, alone)."""
    literal = literal_writer(escape_string)
    head, tail = statement.head.encode(encoding), statement.tail.encode(encoding)
    sql = bytearray()
    for row in rows:
        if statement.columns and len(row) != statement.columns:
            raise ValueError(f"row of {len(row)} values for {statement.columns} columns")
        value = ("(" + ",".join([literal(v) for v in row]) + ")").encode(
            encoding, "surrogateescape")
        if sql and len(sql) + 1 + len(value) + len(tail) > limit:
            yield bytes(sql + tail)
            sql.clear()
        sql += b"," + value if sql else head + value
    if sql:
        yield bytes(sql + tail)
