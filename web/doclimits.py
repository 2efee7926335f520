"""Limits on a parsed GraphQL document, checked in linear time before it is validated.

graphql-core's validation compares every pair of fields answered under one response key
(quadratic in their copies), and a depth limit that expands each fragment spread anew is
exponential in chained spreads. This pass merges
the selections as the executor does, each fragment once per merged selection, and bounds
the depth, the copies of a response key and the fragments spread in one selection, and the
fields walked in all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

MAX_DEPTH = 8
#: Copies of one response key in one selection (fragments included).
MAX_REPEATS = 20
#: Fragments spread into one selection: validation compares them pairwise.
MAX_SPREADS = 20
#: Fields walked in all, fragments expanded where they are spread.
MAX_FIELDS = 20_000


class DocumentTooComplex(ValueError):
    """The document is deeper, more repetitive or larger than allowed."""


@dataclass
class _Merged:
    copies: Counter[str] = field(default_factory=Counter)
    children: dict[str, _Merged] = field(default_factory=dict)
    spread: set[str] = field(default_factory=set)


@dataclass
class _Walk:
    fragments: dict[str, FragmentDefinitionNode]
    fields: int = 0


def check(document: DocumentNode) -> None:
    """Raise ``DocumentTooComplex`` if an operation of ``document`` breaks a limit."""
    walk = _Walk({d.name.value: d for d in document.definitions
                  if isinstance(d, FragmentDefinitionNode)})
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            _merge(walk, definition.selection_set, _Merged(), 0)


def _merge(walk: _Walk, selection_set: SelectionSetNode, into: _Merged, depth: int) -> None:
    for node in selection_set.selections:
        if isinstance(node, FieldNode):
            _field(walk, node, into, depth)
        elif isinstance(node, InlineFragmentNode):
            _merge(walk, node.selection_set, into, depth)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            fragment = walk.fragments.get(name)
            if fragment is not None and name not in into.spread:
                into.spread.add(name)
                if len(into.spread) > MAX_SPREADS:
                    raise DocumentTooComplex(f"more than {MAX_SPREADS} fragments are spread "
                                             "into one selection")
                _merge(walk, fragment.selection_set, into, depth)


def _field(walk: _Walk, node: FieldNode, into: _Merged, depth: int) -> None:
    walk.fields += 1
    if walk.fields > MAX_FIELDS:
        raise DocumentTooComplex(f"the document selects more than {MAX_FIELDS} fields, "
                                 "fragments expanded")
    key = node.alias.value if node.alias else node.name.value
    into.copies[key] += 1
    if into.copies[key] > MAX_REPEATS:
        raise DocumentTooComplex(f"{key!r} is selected more than {MAX_REPEATS} times in one "
                                 "selection")
    if node.selection_set is None:
        return
    if depth >= MAX_DEPTH:
        raise DocumentTooComplex(f"the document is nested deeper than {MAX_DEPTH} levels")
    child = into.children.setdefault(key, _Merged())
    _merge(walk, node.selection_set, child, depth + 1)
