"""The sink's multi-row statements render values exactly as PyMySQL would (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymysql.converters import escape_item, escape_string

from sinks.sql_values import Statement, backslash_escape, statements

VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(),
                   st.floats(allow_nan=False, allow_infinity=False))
ROWS = st.lists(st.lists(VALUES, min_size=3, max_size=3).map(tuple), min_size=1, max_size=40)
INSERT = Statement("INSERT INTO t (a, b, c) VALUES ", " ON DUPLICATE KEY UPDATE a = a", 3)


def pymysql_statement(statement: Statement, rows: list[tuple[Any, ...]]) -> bytes:
    """What ``Cursor.executemany`` sends for the same rows in one statement."""
    def literal(value: Any) -> str:
        return "'" + escape_string(value) + "'" if isinstance(value, str) else escape_item(value)

    values = ",".join("(" + ",".join(literal(v) for v in row) + ")" for row in rows)
    return (statement.head + values + statement.tail).encode("utf-8", "surrogateescape")


@given(ROWS)
def test_one_statement_matches_pymysql(rows: list[tuple[Any, ...]]) -> None:
    assert list(statements(INSERT, rows, escape_string, limit=10**9)) == [
        pymysql_statement(INSERT, rows)]


@given(ROWS, st.integers(min_value=1, max_value=400))
def test_a_limit_splits_rows_into_statements_of_at_most_that_size(
        rows: list[tuple[Any, ...]], limit: int) -> None:
    sent = list(statements(INSERT, rows, escape_string, limit=limit))
    # Each statement holds consecutive rows; together they hold every row once, in order.
    rebuilt = []
    start = 0
    for sql in sent:
        for end in range(start + 1, len(rows) + 1):
            if pymysql_statement(INSERT, rows[start:end]) == sql:
                rebuilt.append(rows[start:end])
                start = end
                break
        else:
            pytest.fail(f"statement {sql[:80]!r} is not rows {start}.. in order")
        assert len(sql) <= limit or len(rebuilt[-1]) == 1  # one long row goes alone
    assert start == len(rows)


@given(st.text() | st.text(alphabet="\\\0\n\r\x1a\"'xé"))
def test_backslash_escape_is_pymysqls(text: str) -> None:
    assert backslash_escape(text) == escape_string(text)


def test_quotes_and_backslashes_are_escaped() -> None:
    [sql] = statements(Statement("V ", "", 2), [("O'Neil \\ \"x\"\n", None)], escape_string)
    assert sql == b"V ('O\\'Neil \\\\ \\\"x\\\"\\n',NULL)"


def test_no_backslash_escapes_mode_uses_the_connection_escape() -> None:
    [sql] = statements(Statement("V ", "", 1), [("it's",)], lambda s: s.replace("'", "''"))
    assert sql == b"V ('it''s')"


@pytest.mark.parametrize("value", [float("inf"), float("nan"), {"a": 1}, [1], b"x"])
def test_values_a_sink_row_cannot_hold_are_refused(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        list(statements(Statement("V ", "", 1), [(value,)], escape_string))


def test_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="2 values for 3 columns"):
        list(statements(INSERT, [(1, 2)], escape_string))
