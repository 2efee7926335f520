"""What GraphQL resolvers need besides the data: their selection, their charges, their lists.

Resolvers find the fields selected under them in the request's ``Plan`` (``web.cost``) by
response key, charge its budget for what they materialise, and hand a long list to the
executor as an async iterator that waits for a slice (``web.slices``) before each item.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar, cast

import strawberry

from web.cost import Plan, Selection
from web.slices import TURNS

#: A list whose items cost more than this in all is completed one item per step.
SMALL_LIST = 200

T = TypeVar("T")
U = TypeVar("U")


def below(parent: Selection | None, info: strawberry.Info) -> Selection | None:
    """The selection under the field being resolved (the root's when ``parent`` is None)."""
    if parent is None:
        plan = info.context
        parent = plan.root if isinstance(plan, Plan) else None
    return None if parent is None else parent.child(str(info.path.key))


def charge(info: strawberry.Info, amount: int) -> None:
    """Charge the request's budget, if it has one (Strawberry's own execute has none)."""
    plan = info.context
    if isinstance(plan, Plan):
        plan.budget.charge(amount)


def item_cost(selection: Selection | None, fields: int) -> int:
    """What one object under ``selection`` costs; ``fields`` without a plan."""
    return fields if selection is None else selection.fixed


def listed(items: Sequence[T], make: Callable[[T], U], weight: int,
           info: strawberry.Info) -> list[U]:
    """Charge for ``items`` at ``weight`` each, then hand them to the executor: whole when
    small, else as an iterator that yields per item."""
    charge(info, len(items) * weight)
    if len(items) * weight <= SMALL_LIST:
        return [make(item) for item in items]
    plan = info.context if isinstance(info.context, Plan) else None
    return cast(list[U], paced(items, make, plan))


async def paced(items: Sequence[T], make: Callable[[T], U],
                plan: Plan | None) -> AsyncIterator[U]:
    """Yield ``make(item)`` per item, each after a step (``step``)."""
    for item in items:
        await step(plan)
        yield make(item)


async def step(plan: Plan | None) -> None:
    """Wait for the next slice; stop once the request has spent its budget or its time."""
    if plan is None:
        await TURNS.tick()
        return
    plan.budget.check()
    await TURNS.tick(plan.budget.deadline)
    plan.budget.check()
