"""A direct executor for the hot read queries: the same answers as GraphQL execution, without its per-field cost.

graphql-core resolves a value by building resolve info, completing its type and checking nullability for every
field of every item: about 8 µs a field, and ``bundle(k: 10) { score reason product { id title } }`` has about
50 of them. That cost, not the ranking (a cached list), bounds a bundle's throughput. This module answers the
operations a shop's pages send all day — ``ping``, ``similar``, ``bundle`` and ``recommendations`` selecting
fields of ``Recommendation`` and ``Product`` — by calling the same resolver functions (api/schema.py) and
writing the selected fields straight into the JSON answer, as graphql-core would have.

It only ever answers what it is sure to answer identically, and declines everything else to the full GraphQL
path (:meth:`FastPath.answer` returns None):

- The document is parsed with the token limit and validated with the server's rules (the specification's,
  depth and aliases) once per distinct text, and planned only if it is one query operation whose root fields
  are among :data:`ROOTS`, each selecting plain fields, aliases and ``__typename`` (no fragments, no
  directives, no repeated response key).
- Per request: variables are coerced by graphql-core itself, the cost limit is checked as
  api/limits.py does, and arguments are read with graphql-core's ``get_argument_values`` (defaults included).
  A ``filter`` argument, a key the query needs but the caller lacks, or any exception from a resolver (an
  unknown product, ``k`` out of range) declines: the full path then gives the client its exact error.

So the full path stays the reference, and tests/api/test_fastpath.py checks the two agree on every shape this
module plans. Operation metrics are recorded as api/metrics.py's schema extension records them.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values

from api.limits import CACHE_SIZE, query_cost, validation_rules
from api.schema import Context, _related, _session_recommendations

if TYPE_CHECKING:
    import strawberry

    from api.metrics import Metrics
    from api.settings import Settings

ROOTS = frozenset({"ping", "similar", "bundle", "recommendations"})
RECOMMENDATION_FIELDS = frozenset({"score", "reason", "product", "__typename"})
PRODUCT_FIELDS = frozenset({"id", "title", "brand", "price", "categories", "__typename"})
RELATED = {"similar": ("substitute", "an alternative to"), "bundle": ("complement", "goes with")}


@dataclass(frozen=True)
class _Root:
    key: str  # the response key: alias or name
    name: str
    node: FieldNode
    definition: GraphQLField
    # (response key, field name) of each Recommendation field; for "product", the Product selection likewise
    selection: tuple[tuple[str, str, tuple[tuple[str, str], ...] | None], ...]
    write: Any  # _writer(selection)


@dataclass(frozen=True)
class Plan:
    operation: OperationDefinitionNode
    roots: tuple[_Root, ...]
    cost: int | None  # the query cost when no variable sets a list size; else computed per request
    ok: Any  # kgrec_operations_total{field, "ok"}, labelled as the metrics extension labels it
    latency: Any  # kgrec_operation_seconds{field}


class _Info:
    """What api/schema.py's list resolvers read from strawberry's Info: the context."""

    __slots__ = ("context",)

    def __init__(self, context: Context) -> None:
        self.context = context


def _keys(node: FieldNode, allowed: frozenset[str]) -> list[tuple[str, FieldNode]] | None:
    """(response key, field) of a plain selection set over `allowed`; None for anything else."""
    if node.selection_set is None:
        return None
    out, seen = [], set()
    for sel in node.selection_set.selections:
        if not isinstance(sel, FieldNode) or sel.directives or sel.name.value not in allowed:
            return None
        key = sel.alias.value if sel.alias else sel.name.value
        if key in seen:
            return None  # graphql merges repeated keys: leave that to it
        seen.add(key)
        out.append((key, sel))
    return out


class FastPath:
    """Plans per query text (bounded LRU) and answers planned operations; see the module docstring."""

    def __init__(self, schema: strawberry.Schema, settings: Settings, metrics: Metrics) -> None:
        self.schema = schema._schema  # graphql-core's schema, which strawberry validates and executes against
        self.settings = settings
        self.metrics = metrics
        self.rules = [*specified_rules, *validation_rules(settings)]
        self._query_fields = self.schema.query_type.fields if self.schema.query_type else {}
        self._plans: OrderedDict[tuple[str, str | None], Plan | None] = OrderedDict()

    def plan(self, query: str, operation_name: str | None) -> Plan | None:
        key = (query, operation_name)
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        plan = self._plan(query, operation_name)
        self._plans[key] = plan
        if len(self._plans) > CACHE_SIZE:
            self._plans.popitem(last=False)
        return plan

    def _plan(self, query: str, operation_name: str | None) -> Plan | None:
        try:
            doc = parse(query, max_tokens=self.settings.max_tokens)
        except GraphQLError:
            return None
        if validate(self.schema, doc, self.rules):
            return None
        if len(doc.definitions) != 1 or not isinstance(doc.definitions[0], OperationDefinitionNode):
            return None  # fragments, or several operations
        op = doc.definitions[0]
        if op.operation is not OperationType.QUERY or op.directives:
            return None
        if operation_name is not None and (op.name is None or op.name.value != operation_name):
            return None
        roots, seen = [], set()
        for sel in op.selection_set.selections:
            if not isinstance(sel, FieldNode) or sel.directives or sel.name.value not in ROOTS:
                return None
            key = sel.alias.value if sel.alias else sel.name.value
            if key in seen:
                return None
            seen.add(key)
            selection: list[tuple[str, str, tuple[tuple[str, str], ...] | None]] = []
            if sel.name.value != "ping":
                fields = _keys(sel, RECOMMENDATION_FIELDS)
                if fields is None:
                    return None
                for k, f in fields:
                    sub = None
                    if f.name.value == "product":
                        product = _keys(f, PRODUCT_FIELDS)
                        if product is None:
                            return None
                        sub = tuple((pk, pf.name.value) for pk, pf in product)
                    selection.append((k, f.name.value, sub))
            elif sel.selection_set is not None:
                return None
            write = _writer(tuple(selection)) if selection else None
            roots.append(
                _Root(key, sel.name.value, sel, self._query_fields[sel.name.value], tuple(selection), write)
            )
        first = roots[0].name if roots else "none"
        field = first if first in self.metrics.root_fields else "other"
        sized_by_variable = any(
            isinstance(a.value, VariableNode) and a.name.value in ("k", "ids")
            for r in roots
            for a in r.node.arguments or ()
        )
        cost = None if sized_by_variable else query_cost(op, {}, {}, self.settings.max_k)
        return Plan(
            op,
            tuple(roots),
            cost,
            self.metrics.operations.labels(field, "ok"),
            self.metrics.operation_latency.labels(field),
        )

    def answer(self, plan: Plan, variables: Any, ctx: Context) -> bytes | None:
        """The JSON answer of a planned operation, or None to leave the request to the full GraphQL path."""
        started = time.perf_counter()
        s = self.settings
        if variables is not None and not isinstance(variables, dict):
            return None
        raw = variables or {}
        coerced = get_variable_values(self.schema, plan.operation.variable_definitions or (), raw)
        if isinstance(coerced, list):  # coercion errors: the full path reports them
            return None
        try:
            cost = plan.cost if plan.cost is not None else query_cost(plan.operation, {}, raw, s.max_k)
        except (TypeError, ValueError):
            return None
        if cost > s.max_cost:
            return None
        if s.queries_need_key and ctx.caller.role is None:
            return None
        data: dict[str, Any] = {}
        try:
            for root in plan.roots:
                if root.name == "ping":
                    data[root.key] = "pong"
                    continue
                args = get_argument_values(root.definition, root.node, coerced)
                if args.get("filter") is not None:
                    return None
                k = args["k"]
                if root.name == "recommendations":
                    session, customer = args.get("sessionId"), args.get("customerId")
                    recs = _session_recommendations(
                        ctx,
                        None if session is None else str(session),
                        None if customer is None else str(customer),
                        k,
                        None,
                    )
                else:
                    rel, verb = RELATED[root.name]
                    diverse = bool(args.get("diverse", False))
                    recs = _related(_Info(ctx), rel, str(args["productId"]), k, diverse, None, verb)
                data[root.key] = list(map(root.write, recs))
        except Exception:  # noqa: BLE001 - the full path raises it again and makes it a GraphQL error
            return None
        answer = orjson.dumps({"data": data})
        plan.ok.inc()
        plan.latency.observe(time.perf_counter() - started)
        return answer


def _writer(selection: tuple[tuple[str, str, tuple[tuple[str, str], ...] | None], ...]) -> Any:
    """A function from a Recommendation to the dict of its selected fields, compiled once per plan.

    Field names come from :data:`RECOMMENDATION_FIELDS` and :data:`PRODUCT_FIELDS`; response keys are written
    as string literals (``repr``), so no client text is ever code.
    """

    def value(obj: str, name: str, typename: str) -> str:
        return repr(typename) if name == "__typename" else f"{obj}.{name}"

    items = []
    for key, name, sub in selection:
        if name == "product":
            inner = ", ".join(f"{pk!r}: {value('p', pn, 'Product')}" for pk, pn in sub or ())
            items.append(f"{key!r}: {{{inner}}}")
        else:
            items.append(f"{key!r}: {value('r', name, 'Recommendation')}")
    needs_product = any(name == "product" for _, name, _ in selection)
    source = (
        "lambda r: (lambda p: {" + ", ".join(items) + "})(r.product)"
        if needs_product
        else ("lambda r: {" + ", ".join(items) + "}")
    )
    return eval(source, {"__builtins__": {}})  # noqa: S307 - built from the fixed field names above
