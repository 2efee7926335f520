"""What a GraphQL request costs: one per field resolved, counted per event, market, outcome.

A field costs 1 each time it is resolved; aliases of a field are resolved, and counted, apart.
Before execution the document's selections are merged by response key (as the executor merges
them) into a ``Selection`` tree, and its static cost multiplies each list by a bound: the
page's ``limit`` for ``events``, estimates for ``markets`` and ``outcomes``. While it runs, a
``Budget`` is charged with what is materialised: every event, market and outcome times the
fields selected on it, the markets of an event before they are read.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_directive_values

from web.bet_bodies import MAX_SELECTIONS
from web.history_shape import DEFAULT_LIMIT as HISTORY_LIMIT
from web.history_shape import MAX_LIMIT as HISTORY_MAX
from web.params import DEFAULT_LIMIT, MAX_LIMIT

#: Static estimates of the lists whose length only the data knows.
MARKETS_PER_EVENT = 100
OUTCOMES_PER_MARKET = 10
ESTIMATES = {("Event", "markets"): MARKETS_PER_EVENT, ("Market", "outcomes"): OUTCOMES_PER_MARKET,
             ("MarketVersion", "outcomes"): OUTCOMES_PER_MARKET,
             ("BetCheck", "selections"): MAX_SELECTIONS}
#: Lists as long as their own ``limit`` argument at most: its default, its maximum.
LIMITED = {("Market", "history"): (HISTORY_LIMIT, HISTORY_MAX)}
#: The list of events in a page of ``Query.events`` is as long as the page's ``limit``.
PAGE = ("Query", "events")
PAGE_ITEMS = ("EventPage", "events")


class TooCostly(GraphQLError):
    """The request costs more than its budget."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "too_costly"})


class OutOfTime(GraphQLError):
    """The request ran past its deadline."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "timeout"})


@dataclass
class Selection:
    """The fields selected on one object, merged by response key."""

    type_name: str
    #: Response keys of every field selected here.
    keys: set[str] = field(default_factory=set)
    #: The object fields among them.
    children: dict[str, Child] = field(default_factory=dict)
    #: Cost of one such object with its non-list children (lists are charged apart).
    fixed: int = 0

    @property
    def count(self) -> int:
        return len(self.keys)

    def child(self, key: str) -> Selection | None:
        """Return the selection of the object field answered under ``key``."""
        found = self.children.get(key)
        return None if found is None else found.selection


@dataclass
class Child:
    """An object field of a selection: how many objects it gives at most, and what of them."""

    is_list: bool
    #: Static bound on the objects it gives (1 unless a list).
    bound: int
    selection: Selection


@dataclass
class Budget:
    """What a request may still resolve, and until when (``time.monotonic``); checking past
    either raises ``TooCostly`` or ``OutOfTime``."""

    limit: int
    spent: int = 0
    deadline: float = math.inf

    @property
    def exceeded(self) -> bool:
        return self.spent > self.limit

    @property
    def late(self) -> bool:
        return time.monotonic() > self.deadline

    def charge(self, amount: int) -> None:
        self.spent += amount
        self.check()

    def check(self) -> None:
        """Raise ``TooCostly`` if the budget is spent, ``OutOfTime`` if its time is."""
        if self.spent > self.limit:
            raise TooCostly(f"the request resolves more than {self.limit} fields (events, "
                            "markets and outcomes counted as they are read)")
        if self.late:
            raise OutOfTime("the request ran out of time")


@dataclass
class Plan:
    """What one request selects and may spend: the context its resolvers are given."""

    root: Selection
    budget: Budget
    #: The graphql-core executor running the request, once it runs.
    executor: object = None


@dataclass
class _Walk:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: VariableValues
    #: Fields still allowed to be collected: the static cost is at least their number.
    room: int
    #: Fragments already spread into each selection (by id): once is enough.
    spread: dict[int, set[str]] = field(default_factory=dict)


def select(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode,
           variables: VariableValues, limit: int) -> Selection:
    """Return the merged selections of ``operation`` (a validated query).

    Raises ``TooCostly`` when it selects more than ``limit`` fields in all, before walking
    any further: a document of few tokens can spread fragments into very many fields.
    """
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    walk = _Walk(schema, fragments, variables, limit)
    root_type = schema.get_root_type(operation.operation)
    if root_type is None:
        raise TooCostly(f"the schema has no {operation.operation.value} type")
    root = Selection(root_type.name)
    _collect(walk, root, root_type, operation.selection_set, DEFAULT_LIMIT)
    _finish(root)
    return root


def static_cost(selection: Selection) -> int:
    """Return the most the selection resolves with every list at its bound."""
    return selection.count + sum(c.bound * static_cost(c.selection)
                                 for c in selection.children.values())


def _collect(walk: _Walk, into: Selection, parent: GraphQLObjectType,
             selection_set: SelectionSetNode, page: int) -> None:
    for node in selection_set.selections:
        if not _included(walk, node):
            continue
        if isinstance(node, FieldNode):
            _field(walk, into, parent, node, page)
        elif isinstance(node, InlineFragmentNode):
            _collect(walk, into, parent, node.selection_set, page)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            fragment = walk.fragments.get(name)
            spread = walk.spread.setdefault(id(into), set())
            if fragment is not None and name not in spread:
                spread.add(name)
                _collect(walk, into, parent, fragment.selection_set, page)


def _field(walk: _Walk, into: Selection, parent: GraphQLObjectType, node: FieldNode,
           page: int) -> None:
    key = node.alias.value if node.alias else node.name.value
    if key not in into.keys:
        walk.room -= 1
        if walk.room < 0:
            raise TooCostly("the document selects too many fields")
        into.keys.add(key)
    definition = walk.schema.get_field(parent, node.name.value)
    if definition is None or node.selection_set is None:
        return
    target = get_named_type(definition.type)
    if not isinstance(target, GraphQLObjectType):
        return
    where = (parent.name, node.name.value)
    held = into.children.get(key)
    if held is None:
        is_list = is_list_type(get_nullable_type(definition.type))
        bound = (page if where == PAGE_ITEMS
                 else _page_limit(walk, definition, node, *LIMITED[where]) if where in LIMITED
                 else ESTIMATES.get(where, 1)) if is_list else 1
        held = into.children[key] = Child(is_list, bound, Selection(target.name))
    if where == PAGE:
        page = _page_limit(walk, definition, node)
    _collect(walk, held.selection, target, node.selection_set, page)


def _page_limit(walk: _Walk, definition: GraphQLField, node: FieldNode,
                default: int = DEFAULT_LIMIT, most: int = MAX_LIMIT) -> int:
    try:
        limit = get_argument_values(definition, node, walk.variables).get("limit")
    except GraphQLError:
        limit = None
    if not isinstance(limit, int):
        return default
    return max(1, min(limit, most))


def _included(walk: _Walk, node: SelectionNode) -> bool:
    skip = get_directive_values(GraphQLSkipDirective, node, walk.variables)
    if skip is not None and skip.get("if") is True:
        return False
    include = get_directive_values(GraphQLIncludeDirective, node, walk.variables)
    return include is None or include.get("if") is not False


def _finish(selection: Selection) -> None:
    for child in selection.children.values():
        _finish(child.selection)
    selection.fixed = selection.count + sum(c.selection.fixed
                                            for c in selection.children.values()
                                            if not c.is_list)
