"""``POST /graphql``: a bounded body, a checked document, a bounded execution.

The body is read up to 20 kB. The document is parsed (at most 1,000 tokens), its shape
bounded (``web.doclimits``), validated (no introspection and no "did you mean" unless
``GRAPHQL_INTROSPECTION``), its operation and variables resolved, and its static cost
checked (``web.cost``): a request that fails any of these is answered 400 with GraphQL
errors and never executed. The checks cannot be cut into slices: they run whole in one turn
of ``web.slices``, and a document that passed them is kept for its next request. Execution
is charged as it goes, limited to ``GRAPHQL_TIME_BUDGET`` seconds (checks and waiting for a
slot included), and runs in slices beside the odds agent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from inspect import isawaitable
from typing import Any, cast

import orjson
from faust.web import Blueprint, Request, Response, View
from graphql import (
    ASTValidationRule,
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    NoSchemaIntrospectionCustomRule,
    NoUndefinedVariablesRule,
    NoUnusedVariablesRule,
    OverlappingFieldsCanBeMergedRule,
    VariablesInAllowedPositionRule,
    execute,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.incremental.incremental_executor import IncrementalExecutor
from graphql.execution.values import get_variable_values

from app import metrics
from app.error_shape import error
from app.faust_app import settings
from web import doclimits, params
from web.bodies import TooLarge, json_answer, read_bounded, too_large
from web.cost import (
    MARKETS_PER_EVENT,
    OUTCOMES_PER_MARKET,
    Budget,
    Plan,
    Selection,
    TooCostly,
    select,
    static_cost,
)
from web.graphql import MAX_TOKENS, schema
from web.slices import TURNS

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 20_000
#: Executions at once of requests estimated to cost more than ``CHEAP``, and of the others
#: (a cheap-looking request can still read a large event). More wait for a slot at most this
#: share of their time budget, so that one that gets it has time left (else: 503 ``busy``).
EXECUTIONS = 1
CHEAP_EXECUTIONS = 8
CHEAP = 1000
SLOT_WAIT = 0.25
#: Share of the time budget after which a running request stops at its next slice.
SOFT_DEADLINE = 0.8
#: Documents that passed validation, by text: a client's repeated query is checked once.
CACHED_DOCUMENTS = 64
SCHEMA = schema._schema
#: Validation in three passes, each a turn of its own: the pairwise comparison of fields
#: alone, the rules that follow variables, then the rest.
HEAVY: tuple[type[ASTValidationRule], ...] = (OverlappingFieldsCanBeMergedRule,)
VARIABLES: tuple[type[ASTValidationRule], ...] = (
    NoUndefinedVariablesRule, NoUnusedVariablesRule, VariablesInAllowedPositionRule)
OTHERS = tuple(r for r in specified_rules if r not in (*HEAVY, *VARIABLES))
RULES = (HEAVY, (*VARIABLES, *OTHERS[:len(OTHERS) // 2]), OTHERS[len(OTHERS) // 2:])
HIDDEN = (*RULES[:-1], (*RULES[-1], NoSchemaIntrospectionCustomRule))

Answer = tuple[int, dict[str, Any], str]
_DOCUMENTS: OrderedDict[tuple[bool, str], DocumentNode] = OrderedDict()
_SLOTS: dict[bool, tuple[asyncio.AbstractEventLoop, asyncio.Semaphore]] = {}


def _slots(cheap: bool) -> asyncio.Semaphore:
    """The execution slots of the running loop (tests run several loops in turn)."""
    loop = asyncio.get_running_loop()
    held = _SLOTS.get(cheap)
    if held is None or held[0] is not loop:
        held = _SLOTS[cheap] = (loop, asyncio.Semaphore(CHEAP_EXECUTIONS if cheap
                                                        else EXECUTIONS))
    return held[1]


def _errors(status: int, code: str, errors: list[GraphQLError]) -> Answer:
    return status, {"errors": [_shape(e, code) for e in errors]}, code


def _error(status: int, code: str, message: str) -> Answer:
    return status, {"errors": [{"message": message, "extensions": {"code": code}}]}, code


def _shape(error: GraphQLError, code: str) -> dict[str, Any]:
    shaped = error.formatted
    shaped["extensions"] = {**(error.extensions or {}), "code": code}
    return cast(dict[str, Any], shaped)


def _body(raw: bytes) -> tuple[str, dict[str, Any] | None, str | None]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise params.BadRequest("body must be JSON: {\"query\": ..., \"variables\": ...}") \
            from None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise params.BadRequest("body must be a JSON object with a string \"query\"")
    variables, operation = body.get("variables"), body.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        raise params.BadRequest("\"variables\" must be a JSON object")
    if operation is not None and not isinstance(operation, str):
        raise params.BadRequest("\"operationName\" must be a string")
    return body["query"], variables, operation


@dataclass
class Prepared:
    """A request that passed every check: what to execute, with what budget."""

    document: DocumentNode
    operation: str | None
    plan: Plan
    #: The static cost.
    cost: int


def _parsed(query: str) -> DocumentNode | Answer:
    if not query.strip():
        return _error(400, "bad_request", "the query is empty")
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
        doclimits.check(document)
    except GraphQLError as exc:
        return _errors(400, "bad_request", [exc])
    except doclimits.DocumentTooComplex as exc:
        return _error(400, "bad_request", str(exc))
    return document


async def _document(query: str, hide: bool) -> DocumentNode | Answer:
    """The parsed and validated document, or the answer saying why it is refused."""
    key = (hide, query)
    cached = _DOCUMENTS.get(key)
    if cached is not None:
        _DOCUMENTS.move_to_end(key)
        return cached
    document = await TURNS.run(partial(_parsed, query))
    if not isinstance(document, DocumentNode):
        return document
    for rules in HIDDEN if hide else RULES:
        problems = await TURNS.run(partial(validate, SCHEMA, document, rules,
                                           hide_suggestions=hide))
        if problems:
            return _errors(400, "bad_request", problems)
    _DOCUMENTS[key] = document
    if len(_DOCUMENTS) > CACHED_DOCUMENTS:
        _DOCUMENTS.popitem(last=False)
    return document


async def prepare(query: str, variables: dict[str, Any] | None, operation: str | None,
                  hide: bool, limit: int) -> Prepared | Answer:
    """Check a request without executing it: the answer if it fails a check."""
    document = await _document(query, hide)
    if not isinstance(document, DocumentNode):
        return document
    return await TURNS.run(partial(_planned, document, variables, operation, hide, limit))


def _planned(document: DocumentNode, variables: dict[str, Any] | None,
             operation: str | None, hide: bool, limit: int) -> Prepared | Answer:
    chosen = get_operation_ast(document, operation)
    if chosen is None:
        return _error(400, "bad_request", "no operation named " + repr(operation)[:100]
                      if operation else "the document must have one operation, or name one "
                                        "with operationName")
    coerced = get_variable_values(SCHEMA, chosen.variable_definitions or (), variables or {},
                                  hide_suggestions=hide)
    if isinstance(coerced, list):
        return _errors(400, "bad_request", coerced)
    try:
        root = select(SCHEMA, document, chosen, coerced, limit)
    except TooCostly as exc:
        return _errors(400, "too_costly", [exc])
    cost = static_cost(root)
    if cost > limit:
        log.info("graphql request refused: estimated cost %d > %d", cost, limit)
        return _error(400, "too_costly", f"the request may resolve {cost} fields, more than "
                                         f"{limit} (markets count as {MARKETS_PER_EVENT} per "
                                         f"event, outcomes as {OUTCOMES_PER_MARKET} per market)")
    # The root's own fields are resolved once each; everything under them is charged as read.
    return Prepared(document, chosen.name.value if chosen.name else None,
                    Plan(root, Budget(limit, spent=root.count)), cost)


async def answer(query: str, variables: dict[str, Any] | None,
                 operation: str | None) -> Answer:
    """Return the HTTP status, the GraphQL response and the outcome of one request."""
    hide = not settings.graphql_introspection
    budget_s = settings.graphql_time_budget
    started = time.monotonic()
    try:
        async with asyncio.timeout(budget_s):
            prepared = await prepare(query, variables, operation, hide,
                                     settings.graphql_max_cost)
            if not isinstance(prepared, Prepared):
                return prepared
            slots = _slots(prepared.cost <= CHEAP)
            if not await _acquired(slots, budget_s * SLOT_WAIT):
                return _error(503, "busy", "the worker is busy with other GraphQL requests; "
                                           "retry shortly")
            # Stopped at the next slice past this, a request unwinds by itself: cancelled by
            # the timeout, it would leave its partial answer to the garbage collector.
            prepared.plan.budget.deadline = started + budget_s * SOFT_DEADLINE
            try:
                result = await _execute(prepared, variables, hide)
            finally:
                slots.release()
    except TimeoutError:
        return _timed_out(budget_s)
    budget = prepared.plan.budget
    if budget.late or budget.exceeded:
        _forget(result)
    if budget.late:
        return _timed_out(budget_s)
    if budget.exceeded:
        log.info("graphql request stopped: it resolved more than %d fields", budget.limit)
        return _error(400, "too_costly", f"the request resolved more than {budget.limit} "
                                         "fields (events, markets and outcomes counted as they "
                                         "were read)")
    return 200, _result(result), "error" if result.errors else "ok"


def _timed_out(budget_s: float) -> Answer:
    log.info("graphql request stopped after its time budget of %s s", budget_s)
    return _error(503, "timeout", f"the request took longer than {budget_s} s; ask for less, "
                                  "or retry later")


async def _acquired(slots: asyncio.Semaphore, seconds: float) -> bool:
    """Take a slot within ``seconds``, or give up."""
    # Not wait_for: its TimeoutError's traceback would hold this request's frames, and
    # their plan, until the garbage collector ran, for every request turned away.
    acquire = asyncio.ensure_future(slots.acquire())
    done, _ = await asyncio.wait((acquire,), timeout=seconds)
    if done:
        return True
    acquire.cancel()
    return False


class _Executor(IncrementalExecutor):
    """graphql-core's executor, known to the request's plan so that it can be let go of."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.context_value, Plan):
            self.context_value.executor = self


async def _execute(prepared: Prepared, variables: dict[str, Any] | None,
                   hide: bool) -> ExecutionResult:
    plan = prepared.plan
    try:
        pending = execute(SCHEMA, prepared.document, context_value=plan,
                          variable_values=variables, operation_name=prepared.operation,
                          hide_suggestions=hide, executor_class=_Executor)
        result = await pending if isawaitable(pending) else pending
    finally:
        # The executor refers to itself (its async helpers are its own bound methods): left
        # to the garbage collector, every request would bring its next collection closer
        # and make it longer. Without the selections, there is less of it.
        plan.root = Selection(plan.root.type_name)
        executor, plan.executor = plan.executor, None
    if isinstance(executor, IncrementalExecutor) and not executor.background_futures:
        # No work of it is left in the background: the cycle can go.
        executor.async_helpers = None  # type: ignore[assignment]
    return result


def _forget(result: ExecutionResult) -> None:
    """Drop the tracebacks of a result that is not answered: through their frames they hold
    the partial answer, which would otherwise wait for the garbage collector."""
    seen: set[int] = set()
    for found in result.errors or ():
        chain: list[BaseException | None] = [found, found.original_error]
        while chain:
            exc = chain.pop()
            if exc is not None and id(exc) not in seen:
                seen.add(id(exc))
                exc.__traceback__ = None
                chain += [exc.__cause__, exc.__context__]


def _result(result: ExecutionResult) -> dict[str, Any]:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [_reported(e) for e in result.errors]
    return body


def _reported(error: GraphQLError) -> dict[str, Any]:
    if (error.extensions or {}).get("code"):
        return cast(dict[str, Any], error.formatted)
    # Not the client's doing: the log gets the traceback, the client a stable shape.
    log.error("graphql resolver failed at %s", error.path, exc_info=error.original_error)
    shaped = cast(dict[str, Any], error.formatted)
    shaped.update(message="internal error", extensions={"code": "internal_error"})
    return shaped


blueprint = Blueprint("graphql")


@blueprint.route("/graphql")
class GraphQLView(View):
    """GraphQL over HTTP: POST a JSON body ``{"query", "variables", "operationName"}``."""

    async def post(self, request: Request, **kwargs: Any) -> Response:
        try:
            raw = await read_bounded(request, MAX_BODY_BYTES)
            query, variables, operation = _body(raw)
        except TooLarge as exc:
            metrics.GRAPHQL_REQUESTS.labels("too_large").inc()
            return too_large(str(exc))
        except params.BadRequest as exc:
            metrics.GRAPHQL_REQUESTS.labels("bad_request").inc()
            return error(self, 400, "bad_request", str(exc))
        status, body, outcome = await answer(query, variables, operation)
        metrics.GRAPHQL_REQUESTS.labels(outcome).inc()
        return json_answer(orjson.dumps(body), status)
