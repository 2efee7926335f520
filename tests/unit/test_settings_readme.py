"""The README's settings tables against the settings models (config/settings.py).

Every variable a model reads has a row in a `| variable | default | meaning |` table with the
model's default, and every row names variables a model reads. A row can name several variables
(`A` / `B`) with as many defaults (`1` / `2`); a default cell that starts with `(` documents
an empty or absent default for each variable of its row, e.g. `(empty)` or `(none)`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from config.settings import BetfairEnv, Settings, UofEnv

README = Path(__file__).resolve().parents[2] / "README.md"
MODELS = (Settings, UofEnv, BetfairEnv)
EMPTY = object()  # a default documented as "(empty)", "(none)" and the like


def model_defaults() -> dict[str, Any]:
    """Every variable the models read -> the default as declared."""
    return {str(info.validation_alias): info.default
            for model in MODELS for info in model.model_fields.values()}


def readme_rows() -> list[tuple[str, str]]:
    """(variables cell, default cell) of every row of the README's settings tables."""
    rows: list[tuple[str, str]] = []
    in_table = False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("| variable | default | meaning |"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows.append((cells[0], cells[1]))
    return rows


def documented_defaults() -> dict[str, Any]:
    """Every variable of the README's tables -> its documented default (text or EMPTY)."""
    documented: dict[str, Any] = {}
    for names_cell, default_cell in readme_rows():
        names = re.findall(r"`([A-Z0-9_]+)`", names_cell)
        assert names, f"README settings row without a variable: {names_cell!r}"
        if default_cell.startswith("("):
            defaults: list[Any] = [EMPTY] * len(names)
        else:
            # The leading `a` / `b` values; what follows them (a note) is not the default.
            lead = re.match(r"`[^`]*`(?: / `[^`]*`)*", default_cell)
            assert lead, f"{names_cell}: default cell {default_cell!r} is not `value`"
            defaults = re.findall(r"`([^`]*)`", lead.group(0))
        assert len(defaults) == len(names), f"{names_cell}: {len(names)} variables, defaults " \
                                            f"{default_cell!r}"
        for name, default in zip(names, defaults, strict=True):
            assert name not in documented, f"{name} documented twice in the README"
            documented[name] = default
    return documented


def as_documented(value: Any) -> Any:
    """A model's default as the README writes it."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def test_the_readme_tables_are_found() -> None:
    assert len(readme_rows()) > 40


def test_every_variable_is_documented_with_its_default() -> None:
    documented = documented_defaults()
    missing = sorted(set(model_defaults()) - set(documented))
    assert not missing, f"variables read but not in the README's settings tables: {missing}"
    wrong = {name: (documented[name], as_documented(default))
             for name, default in model_defaults().items()
             if documented[name] != as_documented(default)}
    assert not wrong, f"README default != the model's (README, model): {wrong}"


def test_every_documented_variable_is_read() -> None:
    unknown = sorted(set(documented_defaults()) - set(model_defaults()))
    assert not unknown, f"README documents variables no settings model reads: {unknown}"


@pytest.mark.parametrize(("value", "text"), [
    (0.02, "0.02"), (20.0, "20"), (6066, "6066"), (False, "false"), ("", EMPTY), (None, EMPTY),
    ("./data", "./data")])
def test_defaults_are_written_as_the_readme_writes_them(value: Any, text: Any) -> None:
    assert as_documented(value) == text
