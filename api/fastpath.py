"""A direct executor for the hot read queries: the same answers as GraphQL execution, without its per-field cost.

graphql-core resolves a value by building resolve info, completing its type and checking nullability for every
field of every item: about 8 µs a field, and ``bundle(k: 10) { score reason product { id title } }`` has about
50 of them. That cost, not the ranking (a cached list), bounds a bundle's throughput. This module answers the
operations a shop's pages send all day — ``ping``, ``similar``, ``bundle`` and ``recommendations`` selecting
fields of ``Recommendation`` and ``Product``, and the ``trackEvent`` mutation alone — by calling the same functions
the resolvers call (api/ranking.py, and api/sessions.py for events) and writing the selected fields straight into
the JSON answer, as graphql-core would have.

It only ever answers what it is sure to answer identically, and declines everything else to the full GraphQL
path (:meth:`FastPath.answer` returns None):

- The document is parsed with the token limit and validated with the server's rules (the specification's,
  depth and aliases) once per distinct text, and planned only if it is one query operation whose root fields
  are among :data:`ROOTS`, each selecting plain fields, aliases and ``__typename`` (no fragments, no
  directives, no repeated response key), or one mutation operation of a single ``trackEvent``.
- Per request: variables and arguments are read as graphql-core reads them (defaults, nullability): values that
  are already what their scalar type holds (a str for an ID, an int for an Int, ...) directly, anything else
  by graphql-core's own ``get_variable_values``; the cost limit is checked as api/limits.py does. A coercion
  error, a ``filter`` argument, a key the query needs but the caller lacks, or any exception from a resolver
  (an unknown product, ``k`` out of range, a ``customerId`` the caller may not read: api/ranking.py makes the
  same check for both) declines: the full path then gives the client its exact error.
  ``trackEvent`` checks its caller's role and every argument before it records anything, so a declined event
  is recorded once, by the full path, or not at all.

So the full path stays the reference, and tests/api/test_fastpath.py checks the two agree on every shape this
module plans. Operation metrics are recorded as api/metrics.py's schema extension records them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.language import NamedTypeNode, NonNullTypeNode
from graphql.pyutils import Undefined
from graphql.type import GraphQLEnumType, GraphQLSchema, is_input_type, is_non_null_type
from graphql.utilities import type_from_ast, value_from_ast

from api.auth import SHOP_ROLES
from api.caches import PlanCache
from api.catalog import PRODUCT_VALUES
from api.limits import CACHE_SIZE, query_cost, validation_rules
from api.ranking import for_session, related
from api.schema import LIST_FIELDS, ROOT_FIELDS
from api.serving import Context
from api.sessions import record_event

if TYPE_CHECKING:
    import strawberry

    from api.metrics import Metrics
    from api.settings import Settings

# The root fields this executor answers (its own code below handles each; the schema declares them all)
RELATED = {"similar": "substitute", "bundle": "complement"}  # root field -> the relation it ranks
ROOTS = frozenset({"ping", "recommendations", *RELATED})
MUTATIONS = frozenset({"trackEvent"})
RECOMMENDATION_FIELDS = frozenset({"score", "reason", "product", "__typename"})
PRODUCT_FIELDS = frozenset({"__typename", *PRODUCT_VALUES})


@dataclass(frozen=True)
class _Root:
    key: str  # the response key: alias or name
    name: str
    node: FieldNode
    definition: GraphQLField
    # (response key, field name) of each Recommendation field; for "product", the Product selection likewise
    selection: tuple[tuple[str, str, tuple[tuple[str, str], ...] | None], ...]
    write: Any  # _writer(selection)
    # how to read each argument without graphql-core's per-request coercion (None: use get_argument_values):
    # (key, None, constant) or (key, variable, (argument default, argument is non-null))
    arguments: tuple[tuple[str, str | None, Any], ...] | None


@dataclass(frozen=True)
class Plan:
    operation: OperationDefinitionNode
    roots: tuple[_Root, ...]
    cost: int | None  # the query cost when no variable sets a list size; else computed per request
    # (name, scalar type or enum type, non-null, default) per variable when all are ID/String/Int/Boolean or enums
    variables: tuple[tuple[str, Any, bool, Any], ...] | None
    ok: Any  # kgrec_operations_total{field, "ok"}, labelled as the metrics extension labels it
    latency: Any  # kgrec_operation_seconds{field}


def _plain_fields(
    selection_set: SelectionSetNode | None, allowed: frozenset[str]
) -> list[tuple[str, FieldNode]] | None:
    """(response key, field) of a selection set of plain fields among `allowed`; None for anything else (no
    selection set, fragments, directives, another field, a repeated response key, which graphql merges)."""
    if selection_set is None:
        return None
    out, seen = [], set()
    for sel in selection_set.selections:
        if not isinstance(sel, FieldNode) or sel.directives or sel.name.value not in allowed:
            return None
        key = sel.alias.value if sel.alias else sel.name.value
        if key in seen:
            return None
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
        self._mutation_fields = self.schema.mutation_type.fields if self.schema.mutation_type else {}
        self.plans: PlanCache[Plan | None] = PlanCache(self._plan, CACHE_SIZE)

    def plan(self, query: str, operation_name: str | None) -> Plan | None:
        """The plan of an operation (None: left to GraphQL execution), made once per distinct query text."""
        return self.plans.get(query, operation_name)

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
        if op.directives or op.operation is OperationType.SUBSCRIPTION:
            return None
        if operation_name is not None and (op.name is None or op.name.value != operation_name):
            return None
        if op.operation is OperationType.MUTATION:
            return self._plan_mutation(op)
        top = _plain_fields(op.selection_set, ROOTS)
        if top is None:
            return None
        roots = []
        for key, sel in top:
            selection: list[tuple[str, str, tuple[tuple[str, str], ...] | None]] = []
            if sel.name.value != "ping":
                fields = _plain_fields(sel.selection_set, RECOMMENDATION_FIELDS)
                if fields is None:
                    return None
                for k, f in fields:
                    sub = None
                    if f.name.value == "product":
                        product = _plain_fields(f.selection_set, PRODUCT_FIELDS)
                        if product is None:
                            return None
                        sub = tuple((pk, pf.name.value) for pk, pf in product)
                    selection.append((k, f.name.value, sub))
            elif sel.selection_set is not None:
                return None
            write = _writer(tuple(selection)) if selection else None
            definition = self._query_fields[sel.name.value]
            roots.append(
                _Root(
                    key,
                    sel.name.value,
                    sel,
                    definition,
                    tuple(selection),
                    write,
                    _argument_plan(sel, definition),
                )
            )
        return self._finish(op, roots)

    def _plan_mutation(self, op: OperationDefinitionNode) -> Plan | None:
        """One ``trackEvent`` (a Boolean: no selection), nothing beside it."""
        top = _plain_fields(op.selection_set, MUTATIONS)
        if top is None or len(top) != 1 or top[0][1].selection_set is not None:
            return None
        key, sel = top[0]
        definition = self._mutation_fields[sel.name.value]
        return self._finish(
            op, [_Root(key, sel.name.value, sel, definition, (), None, _argument_plan(sel, definition))]
        )

    def _finish(self, op: OperationDefinitionNode, roots: list[_Root]) -> Plan:
        first = roots[0].name if roots else "none"
        field = first if first in ROOT_FIELDS else "other"
        sized_by_variable = any(
            isinstance(a.value, VariableNode) and a.name.value == LIST_FIELDS.get(r.name)
            for r in roots
            for a in r.node.arguments or ()
        )
        cost = None if sized_by_variable else query_cost(op, {}, {}, self.settings.max_k, LIST_FIELDS)
        return Plan(
            op,
            tuple(roots),
            cost,
            # plain variables are read without graphql-core unless a root needs get_argument_values, which
            # takes graphql-core's own variable values
            _variable_plan(self.schema, op) if all(r.arguments is not None for r in roots) else None,
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
        coerced = _simple_variables(plan.variables, raw) if plan.variables is not None else None
        values: Any = coerced  # what get_argument_values takes (graphql-core 3.3: a VariableValues)
        if coerced is None:
            values = get_variable_values(self.schema, plan.operation.variable_definitions or (), raw)
            if isinstance(values, list):  # coercion errors: the full path reports them
                return None
            coerced = getattr(values, "coerced", values)  # graphql-core 3.3 wraps the dict; 3.2 returns it
        try:
            cost = plan.cost
            if cost is None:
                cost = query_cost(plan.operation, {}, raw, s.max_k, LIST_FIELDS)
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
                if root.arguments is not None:
                    args = _arguments(root.arguments, coerced)
                    if args is None:
                        return None
                else:
                    args = get_argument_values(root.definition, root.node, values)
                if root.name == "trackEvent":
                    if ctx.caller.role not in SHOP_ROLES:
                        return None
                    customer = args.get("customerId")
                    session, product = str(args["sessionId"]), str(args["productId"])
                    record_event(
                        ctx.serving.sessions,
                        ctx.ready()[0],
                        session,
                        product,
                        args["type"].value,
                        None if customer is None else str(customer),
                    )
                    data[root.key] = True
                    continue
                if args.get("filter") is not None:
                    return None
                k = args["k"]
                if root.name == "recommendations":
                    session_id, customer = args.get("sessionId"), args.get("customerId")
                    ranked = for_session(
                        ctx,
                        None if session_id is None else str(session_id),
                        None if customer is None else str(customer),
                        k,
                        None,
                        args.get("customerToken"),
                    )
                else:
                    diverse = bool(args.get("diverse", False))
                    ranked = related(ctx, RELATED[root.name], str(args["productId"]), k, diverse, None)
                written = ranked.json.get(root.selection)
                if written is None:
                    write, catalog = root.write, ctx.serving.catalog
                    written = ranked.json[root.selection] = orjson.dumps(
                        [
                            write(catalog, p, sc, r)
                            for p, sc, r in zip(ranked.positions, ranked.scores, ranked.reasons, strict=True)
                        ]
                    )
                data[root.key] = orjson.Fragment(written)
        except Exception:  # noqa: BLE001 - the full path raises it again and makes it a GraphQL error
            return None
        answer = orjson.dumps({"data": data})
        plan.ok.inc()
        plan.latency.observe(time.perf_counter() - started)
        return answer


SIMPLE_SCALARS = frozenset({"ID", "String", "Int", "Boolean"})
_INT32 = 2**31


def _variable_plan(
    schema: GraphQLSchema, op: OperationDefinitionNode
) -> tuple[tuple[str, Any, bool, Any], ...] | None:
    """Each variable's (name, type, non-null, default) when every one is a plain scalar or an enum (its type
    then the enum type itself); None otherwise."""
    out = []
    for d in op.variable_definitions or ():
        t = d.type
        nonnull = isinstance(t, NonNullTypeNode)
        if isinstance(t, NonNullTypeNode):
            t = t.type
        if not isinstance(t, NamedTypeNode) or d.directives:
            return None
        kind: str | GraphQLEnumType = t.name.value
        if kind not in SIMPLE_SCALARS:
            named = schema.get_type(t.name.value)
            if not isinstance(named, GraphQLEnumType):
                return None
            kind = named
        default = Undefined
        if d.default_value is not None:
            input_type = type_from_ast(schema, d.type)
            if not is_input_type(input_type):
                return None
            default = value_from_ast(d.default_value, input_type, None)
            if default is Undefined:
                return None
        out.append((d.variable.name.value, kind, nonnull, default))
    return tuple(out)


def _simple_variables(plan: tuple[tuple[str, Any, bool, Any], ...], raw: dict[str, Any]) -> dict | None:
    """graphql-core's coercion for values that are already what the type holds (a str for ID and String, an
    int in 32 bits for Int, a bool for Boolean, a str naming a value for an enum, read by the enum's own
    parse_value); None for anything else, which graphql-core then coerces (or refuses) itself."""
    out: dict[str, Any] = {}
    for name, type_, nonnull, default in plan:
        if name not in raw:
            if default is not Undefined:
                out[name] = default
            elif nonnull:
                return None
            continue
        v = raw[name]
        if v is None:
            if nonnull:
                return None
        elif isinstance(type_, GraphQLEnumType):
            if type(v) is not str:
                return None
            try:
                v = type_.parse_value(v)
            except GraphQLError:
                return None
        elif type_ in ("ID", "String"):
            if type(v) is not str:
                return None
        elif type_ == "Int":
            if type(v) is not int or not -_INT32 <= v < _INT32:
                return None
        elif type(v) is not bool:
            return None
        out[name] = v
    return out


def _argument_plan(
    node: FieldNode, definition: GraphQLField
) -> tuple[tuple[str, str | None, Any], ...] | None:
    """How to read each argument of a root field: a constant (a literal, or the default of an absent one) or a
    variable (with the argument's default and nullability, as get_argument_values applies them); None when a
    literal holds variables inside it (a list or an input object), left to get_argument_values."""
    given = {a.name.value: a.value for a in node.arguments or ()}
    out: list[tuple[str, str | None, Any]] = []
    for name, arg in definition.args.items():
        key = arg.out_name or name
        value = given.get(name)
        if value is None:
            if arg.default_value is not Undefined:
                out.append((key, None, arg.default_value))
        elif isinstance(value, VariableNode):
            out.append((key, value.name.value, (arg.default_value, is_non_null_type(arg.type))))
        else:
            constant = value_from_ast(value, arg.type, None)
            if constant is Undefined:
                return None
            out.append((key, None, constant))
    return tuple(out)


def _arguments(plan: tuple[tuple[str, str | None, Any], ...], variables: dict[str, Any]) -> dict | None:
    out: dict[str, Any] = {}
    for key, variable, payload in plan:
        if variable is None:
            out[key] = payload
            continue
        default, nonnull = payload
        if variable in variables:
            value = variables[variable]
            if value is None and nonnull:
                return None
            out[key] = value
        elif default is not Undefined:
            out[key] = default
        elif nonnull:
            return None
    return out


def _writer(selection: tuple[tuple[str, str, tuple[tuple[str, str], ...] | None], ...]) -> Any:
    """``f(catalog, position, score, reason)`` -> the dict of the selected fields, compiled once per plan.

    Product fields are read by api/catalog.py's :data:`PRODUCT_VALUES`, as Product objects are; response keys are
    written as string literals (``repr``) and field names come from the fixed sets above, so no client text is
    ever code. Compiled rather than composed of closures because a dict literal with direct calls is cheaper:
    the best closure version measured about a third slower on ``bundle(k: 10) { score reason product { id title
    } }`` (6.7 against 5.1 µs for the list's writes and its JSON).
    """
    items = []
    for key, name, sub in selection:
        if name == "product":
            inner = ", ".join(
                f"{pk!r}: " + ("'Product'" if pn == "__typename" else f"read_{pn}(c, p)")
                for pk, pn in sub or ()
            )
            items.append(f"{key!r}: {{{inner}}}")
        elif name == "__typename":
            items.append(f"{key!r}: 'Recommendation'")
        else:
            items.append(f"{key!r}: {dict(score='s', reason='r')[name]}")
    source = "lambda c, p, s, r: {" + ", ".join(items) + "}"
    readers = {f"read_{name}": read for name, read in PRODUCT_VALUES.items()}
    return eval(source, {"__builtins__": {}, **readers})  # noqa: S307 - built from fixed names only
