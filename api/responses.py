"""A whole-response cache for pure queries: the same request body, the same model and rules, the same bytes.

A shop's product pages ask for the same `bundle` and `similar` lists over and over (popularity is heavy-tailed).
Below the list cache of api/schema.py, each answer still costs graphql-core some microseconds per field (about
50 fields for ``bundle(k: 10)`` with titles), more than the resolvers themselves. This cache keeps the finished
JSON bytes of a query and answers a repeat without entering GraphQL at all.

What may be cached: a single operation (not a batch) that is a query, whose root fields are all pure functions of
(their arguments, the serving index, the rule set) — :data:`PURE` — and no ``filter`` that names a session (a
session's cart changes under it). Answers with errors are not cached. The key is the caller (its role, and whether it
presented a key) and the raw body; an entry belongs to one serving index and one rule set (both immutable, replaced whole), so a model swap or
a rule change empties the cache and an answer can never outlive what it was computed from.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from functools import lru_cache
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from graphql.language import FieldNode, ObjectValueNode, VariableNode

PURE = frozenset({"ping", "product", "products", "similar", "bundle", "explain"})
MAX_BODY = 8 * 1024  # larger requests are rare and not worth keying on
MAX_ANSWER = 64 * 1024


@lru_cache(maxsize=1024)
def _shape(query: str, operation_name: str | None) -> tuple[bool, frozenset[str]]:
    """(pure query?, variables passed as a `filter`), for one document; parsed once per distinct query text."""
    try:
        doc = parse(query)
    except GraphQLError:
        return False, frozenset()
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        ops = [o for o in ops if o.name is not None and o.name.value == operation_name]
    if len(ops) != 1 or ops[0].operation is not OperationType.QUERY:
        return False, frozenset()
    filter_vars: set[str] = set()
    for sel in ops[0].selection_set.selections:
        if not isinstance(sel, FieldNode) or sel.name.value not in PURE:
            return False, frozenset()  # fragments at the root, or a field with state (recommendations)
        for arg in sel.arguments or ():
            if arg.name.value != "filter":
                continue
            if isinstance(arg.value, VariableNode):
                filter_vars.add(arg.value.name.value)
            elif isinstance(arg.value, ObjectValueNode):
                for f in arg.value.fields or ():
                    if f.name.value == "sessionId":
                        return False, frozenset()
                    if isinstance(f.value, VariableNode):  # sessionId: $s, or any field from a variable
                        return False, frozenset()
    return True, frozenset(filter_vars)


def cacheable(request: Any) -> bool:
    """Whether a decoded GraphQL POST body may be answered from (and stored in) the cache."""
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        return False
    name = request.get("operationName")
    pure, filter_vars = _shape(request["query"], name if isinstance(name, str) else None)
    if not pure:
        return False
    variables = request.get("variables") or {}
    if not isinstance(variables, dict):
        return False
    return not any(isinstance(variables.get(v), dict) and "sessionId" in variables[v] for v in filter_vars)


class ResponseCache:
    """Finished answers by (caller, body) — the caller being its role and whether it presented a key — for one (index, rules) owner at a time; least recently used dropped."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._owner: tuple[object, object] | None = None
        self._items: OrderedDict[tuple[object, bytes], bytes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, owner: tuple[object, object], caller: object, body: bytes) -> bytes | None:
        if self._owner is None or self._owner[0] is not owner[0] or self._owner[1] is not owner[1]:
            self._owner, self._items = owner, OrderedDict()
        key = (caller, body)
        answer = self._items.get(key)
        if answer is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return answer

    def put(self, owner: tuple[object, object], caller: object, body: bytes, answer: bytes) -> None:
        if self._owner is None or self._owner[0] is not owner[0] or self._owner[1] is not owner[1]:
            return  # the model or rules changed while this answer was computed: it may be stale already
        if len(answer) > MAX_ANSWER or b'"errors"' in answer or not answer.startswith(b'{"data"'):
            return
        self._items[(caller, body)] = answer
        if len(self._items) > self.max_size:
            self._items.popitem(last=False)


def decode(body: bytes) -> Any:
    """The JSON of a request body, or None when it is not JSON (strawberry then answers the error itself)."""
    if not body or len(body) > MAX_BODY:
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # deep nesting: strawberry says 400
        return None
