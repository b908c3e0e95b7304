"""The request path's caches, each with a typed key, each valid only for what its entries were computed from.

From the outside in:

- :class:`ResponseCache`: the finished JSON of pure queries, by :class:`ResponseKey` (the caller, the raw body);
  a repeat is answered without entering GraphQL at all.
- :class:`PlanCache`: the direct executor's plans (api/fastpath.py), by :class:`PlanKey` (query text, operation).
- :class:`ListCache`: finished `similar`/`bundle` lists without a filter, by :class:`ListKey`.
- a session's kept recommendations (api/sessions.py ``Session.answer``), by :class:`SessionKey`.
- :class:`ProductCache`: Product objects by catalog position, built on first use (the catalog does not change).

Every entry of the response, list and session caches was computed from one :class:`Basis`: a serving index and a
rule set, both immutable and replaced whole, compared by identity. A model swap or a rule change therefore
empties them, and an answer can never outlive the model or the rules it was ranked with.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from graphql.language import FieldNode, ObjectValueNode, VariableNode

from api.catalog import PRODUCT_VALUES, Catalog
from api.types import Product

if TYPE_CHECKING:
    from api.auth import Caller
    from api.index import ServingIndex
    from api.rules import RuleSet

PRODUCT_CACHE_SIZE = 200_000
LIST_CACHE_SIZE = 20_000
MAX_ANSWER = 64 * 1024  # larger answers are rare and not worth keeping

V = TypeVar("V")


@dataclass(frozen=True, slots=True, eq=False)
class Basis:
    """The serving index and rule set a cache's entries were computed from."""

    index: ServingIndex
    rules: RuleSet

    def matches(self, index: ServingIndex, rules: RuleSet) -> bool:
        """By identity: each is immutable and replaced whole (and a ServingIndex's arrays have no plain ==)."""
        return self.index is index and self.rules is rules


@dataclass(frozen=True, slots=True)
class RankedAnswer:
    """A finished list, best first: catalog positions, scores (the short decimals clients see) and reasons.

    Plain lists, not GraphQL objects: the direct executor (api/fastpath.py) writes JSON from them, GraphQL
    execution wraps them in Recommendation objects, and a cache of them holds few objects for the garbage
    collector to walk.
    """

    positions: list[int]
    scores: list[float]
    reasons: list[str]
    # the JSON the direct executor wrote for this list, by selection: a cached list is serialized once
    json: dict[Any, bytes] = field(default_factory=dict, compare=False, repr=False)


class ListKey(NamedTuple):
    relation: str  # "complement" (bundle) or "substitute" (similar)
    anchor: int  # the catalog position of the product asked about
    k: int
    diverse: bool


class ListCache:
    """Finished `similar`/`bundle` answers without a filter, for one :class:`Basis` at a time."""

    def __init__(self, max_size: int = LIST_CACHE_SIZE) -> None:
        self.max_size = max_size
        self._basis: Basis | None = None
        self._items: OrderedDict[ListKey, RankedAnswer] = OrderedDict()

    def items_for(self, index: ServingIndex, rules: RuleSet) -> OrderedDict[ListKey, RankedAnswer]:
        """The answers computed from `index` and `rules` (emptied first when they were computed from others)."""
        basis = self._basis
        if basis is None or not basis.matches(index, rules):
            self._basis, self._items = Basis(index, rules), OrderedDict()
        elif len(self._items) >= self.max_size:
            # oldest first; popitem, not del of next(iter()): a plain dict's iteration skips the slots of every
            # key deleted at its front, which made each eviction scan thousands of them
            self._items.popitem(last=False)
        return self._items


@dataclass(frozen=True, slots=True, eq=False)
class SessionKey:
    """What a session's kept recommendations depend on besides its events (a new event drops them)."""

    index: ServingIndex
    rules: RuleSet
    k: int
    customer: str | None

    def matches(self, index: ServingIndex, rules: RuleSet, k: int, customer: str | None) -> bool:
        """The model and rules by identity (see :class:`Basis`), the rest by value."""
        return self.index is index and self.rules is rules and self.k == k and self.customer == customer


class ProductCache:
    """Product objects by catalog position, built on first use; bounded (oldest dropped) for huge catalogs."""

    def __init__(self, catalog: Catalog, max_size: int = PRODUCT_CACHE_SIZE) -> None:
        self.catalog = catalog
        self.max_size = max_size
        self._items: OrderedDict[int, Product] = OrderedDict()

    def get(self, pos: int) -> Product:
        p = self._items.get(pos)
        if p is None:
            p = Product(**{name: read(self.catalog, pos) for name, read in PRODUCT_VALUES.items()})
            self._items[pos] = p
            if len(self._items) > self.max_size:
                self._items.popitem(last=False)
        return p

    def many(self, positions: Sequence[int]) -> list[Product]:
        get = self.get
        return [get(p) for p in positions]


class PlanKey(NamedTuple):
    query: str
    operation_name: str | None


class PlanCache(Generic[V]):
    """What `plan` made of each query text (a plan, or None for one it declines); least recently used dropped."""

    def __init__(self, plan: Callable[[str, str | None], V], max_size: int) -> None:
        self.plan = plan
        self.max_size = max_size
        self._items: OrderedDict[PlanKey, V] = OrderedDict()

    def get(self, query: str, operation_name: str | None) -> V:
        key = PlanKey(query, operation_name)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = self._items[key] = self.plan(query, operation_name)
        if len(self._items) > self.max_size:
            self._items.popitem(last=False)
        return value


# The response cache. What may be cached: a single operation (not a batch) that is a query, whose root fields
# are all pure functions of (their arguments, the serving index, the rule set) — api/schema.py PURE_FIELDS — and
# no ``filter`` that names a session (a session's cart changes under it). Answers with errors are not cached.


@lru_cache(maxsize=1024)
def _shape(query: str, operation_name: str | None, pure: frozenset[str]) -> tuple[bool, frozenset[str]]:
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
        if not isinstance(sel, FieldNode) or sel.name.value not in pure:
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


def cacheable(request: Any, pure: frozenset[str]) -> bool:
    """Whether a decoded GraphQL POST body may be answered from (and stored in) the cache; `pure`: the root
    fields whose answers depend on nothing but their arguments, the model and the rules."""
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        return False
    name = request.get("operationName")
    is_pure, filter_vars = _shape(request["query"], name if isinstance(name, str) else None, pure)
    if not is_pure:
        return False
    variables = request.get("variables") or {}
    if not isinstance(variables, dict):
        return False
    return not any(isinstance(variables.get(v), dict) and "sessionId" in variables[v] for v in filter_vars)


class ResponseKey(NamedTuple):
    caller: Caller  # its role, and whether it presented a key: they decide what an answer may say
    body: bytes


class ResponseCache:
    """Finished answers by :class:`ResponseKey`, for one :class:`Basis` at a time; least recently used dropped.

    A shop's product pages ask for the same `bundle` and `similar` lists over and over (popularity is
    heavy-tailed). Below the list cache, each answer still costs GraphQL execution some microseconds per field,
    more than the resolvers themselves; this cache keeps the finished bytes.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._basis: Basis | None = None
        self._items: OrderedDict[ResponseKey, bytes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, index: ServingIndex, rules: RuleSet, key: ResponseKey) -> bytes | None:
        basis = self._basis
        if basis is None or not basis.matches(index, rules):
            self._basis, self._items = Basis(index, rules), OrderedDict()
        answer = self._items.get(key)
        if answer is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return answer

    def put(self, index: ServingIndex, rules: RuleSet, key: ResponseKey, answer: bytes) -> None:
        if self._basis is None or not self._basis.matches(index, rules):
            return  # the model or rules changed while this answer was computed: it may be stale already
        if len(answer) > MAX_ANSWER or b'"errors"' in answer or not answer.startswith(b'{"data"'):
            return
        self._items[key] = answer
        if len(self._items) > self.max_size:
            self._items.popitem(last=False)
