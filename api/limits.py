"""What one request may ask for, and how errors reach the client.

Limits run before any resolver: the token count while parsing (MaxTokensLimiter), depth and aliases as
validation rules (QueryDepthLimiter, MaxAliasesLimiter), then :class:`CostLimiter`, which needs the request's
variables and so runs after validation. Batches are capped by strawberry's ``batching_config``. ``k`` is checked
by the resolvers (:func:`check_k`), since it also bounds their work.

Errors: a :class:`ClientError` is the client's mistake and its message is shown as is; any other exception is
masked to "Unexpected error." (MaskErrors; strawberry logs it with the stack trace on the server side).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
)
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from api.settings import Settings

DEFAULT_K = 10
CACHE_SIZE = 1024  # distinct query texts kept parsed and validated


class ClientError(Exception):
    """A request the server will not answer as asked; the message tells the client why (never masked)."""


def check_k(k: int, max_k: int) -> int:
    if not 1 <= k <= max_k:
        raise ClientError(f"k must be between 1 and {max_k}, got {k}")
    return k


def _should_mask(error: GraphQLError) -> bool:
    """Mask only unexpected exceptions: syntax, validation and ClientError messages are meant for the client."""
    original = error.original_error
    return original is not None and not isinstance(original, (ClientError, GraphQLError))


def query_cost(
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    max_list: int,
    list_fields: Mapping[str, str],
) -> int:
    """1 per field, times the list size of every enclosing list field (`list_fields`: field -> the argument that
    sizes it, api/schema.py LIST_FIELDS): its `k`, or the ids given.

    A size is capped at `max_list`: a larger one is refused by its resolver with a message about `k` itself.
    """
    defaults = {
        v.variable.name.value: v.default_value
        for v in operation.variable_definitions or ()
        if v.default_value is not None
    }

    def size(field: FieldNode, arg: str) -> int:
        for a in field.arguments or ():
            if a.name.value != arg:
                continue
            value: ValueNode | None = a.value
            if isinstance(value, VariableNode):
                name = value.name.value
                if name in variables:
                    raw = variables[name]
                    return len(raw) if isinstance(raw, list) else int(raw)
                value = defaults.get(name)
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, ListValueNode):
                return len(value.values)
        return DEFAULT_K

    def walk(selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        total = 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                arg = list_fields.get(sel.name.value)
                n = min(max(size(sel, arg), 1), max_list) if arg else 1
                total += 1 + n * walk(sel.selection_set)
            elif isinstance(sel, InlineFragmentNode):
                total += walk(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
                total += walk(fragments[sel.name.value].selection_set)
        return total

    return walk(operation.selection_set)


class CostLimiter(SchemaExtension):
    """Refuse an operation whose :func:`query_cost` exceeds `max_cost`, before anything resolves.

    Must come after ValidationCache in the extension list: it reads the validation result that ValidationCache
    stores before the validation step ends, and only costs documents that are otherwise valid (fragment cycles
    are a validation error, so the walk terminates).
    """

    def __init__(self, max_cost: int, max_list: int, list_fields: Mapping[str, str]) -> None:
        self.max_cost = max_cost
        self.max_list = max_list
        self.list_fields = list_fields

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.pre_execution_errors == [] and ctx.graphql_document is not None:
            doc = ctx.graphql_document
            fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
            ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
            wanted = [
                o
                for o in ops
                if ctx.operation_name is None or (o.name and o.name.value == ctx.operation_name)
            ]
            try:
                variables = ctx.variables or {}
                cost = sum(
                    query_cost(o, fragments, variables, self.max_list, self.list_fields) for o in wanted
                )
            except (TypeError, ValueError):
                cost = 0  # a malformed variable: coercion will report it with a better message
            if cost > self.max_cost:
                ctx.pre_execution_errors = [
                    GraphQLError(
                        f"query cost {cost} exceeds the limit of {self.max_cost} "
                        "(each field counts 1, times the k of every list around it): ask for fewer or smaller lists"
                    )
                ]
        yield


def validation_rules(settings: Settings) -> list[Any]:
    """The validation rules added to the specification's: query depth and aliases (api/fastpath.py uses them too)."""
    return [
        *QueryDepthLimiter(max_depth=settings.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]


def extensions(settings: Settings, list_fields: Mapping[str, str]) -> list[Callable[[], SchemaExtension]]:
    """The schema's extension factories, in the order they must run (`list_fields`: see :func:`query_cost`).

    The depth and alias rules are built once and shared by every request: ValidationCache keys its cache on the
    rule classes, and a factory that built new ones per request would never hit.
    """
    rules = validation_rules(settings)
    return [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        lambda: CostLimiter(settings.max_cost, settings.max_k, list_fields),
        lambda: MaskErrors(should_mask_error=_should_mask),
    ]
