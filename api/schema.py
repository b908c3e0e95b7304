"""The GraphQL schema: types, resolvers and the per-request context.

Resolvers are synchronous and read only memory (the catalog, the serving index, the rule set and the sessions
captured in the request's :class:`Context`), so one request sees one model and one rule set even if a reload
lands meanwhile. Products named by id go through a per-request DataLoader (one batched lookup however many
fields and aliases ask); recommendation lists fetch their K products in one batched call to the same
:class:`ProductCache`. Product objects are built on first use and cached, since the catalog does not change.
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import strawberry
from starlette.requests import Request
from strawberry.dataloader import DataLoader
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from api.auth import Caller, CanQuery, CanTrack, IsMerchandiser
from api.index import Catalog, Filter, Ranked, ServingIndex
from api.limits import ClientError, check_k, extensions
from api.rules import SESSION, RuleSet
from api.sessions import Seeds, SessionRanked, recommend
from api.settings import Settings
from graph.schema import CO_PURCHASE_TYPES, LEARNED_TYPES, RELATIONS

if TYPE_CHECKING:
    from api.app import Serving
    from api.metrics import Metrics

log = logging.getLogger(__name__)

MAX_ID_LENGTH = 200  # session and customer ids are kept in memory: bound what one call can store
PRODUCT_CACHE_SIZE = 200_000
LIST_CACHE_SIZE = 20_000
MAX_PATHS = 10
MAX_SHARED_CUSTOMERS = 10


@strawberry.type(description="A product of the catalog.")
class Product:
    id: strawberry.ID
    title: str | None
    brand: str | None
    price: float | None = strawberry.field(description="null where the catalog has no price")
    categories: list[str] = strawberry.field(description="category ids, the product's path, deepest last")


@strawberry.type(description="A recommended product, its score (higher is better) and why it is here.")
class Recommendation:
    product: Product
    score: float
    reason: str


@strawberry.enum(description="What a shopper did with a product.")
class EventType(enum.Enum):
    VIEW = "VIEW"
    CART = "CART"
    PURCHASE = "PURCHASE"


@strawberry.enum(
    description="Which list a rule applies to: bundle (complement), similar (substitute), or both."
)
class Relation(enum.Enum):
    COMPLEMENT = "complement"
    SUBSTITUTE = "substitute"
    ALL = "all"


@strawberry.input(description="Products to leave out of a list. Blocked products are always left out.")
class RecFilter:
    session_id: strawberry.ID | None = strawberry.field(
        default=None, description="whose cart and purchases to exclude (recommendations: its own session)"
    )
    exclude_cart: bool = True
    exclude_purchased: bool = True
    exclude_categories: list[strawberry.ID] | None = strawberry.field(
        default=None, description="leave out products in any of these categories (or their subcategories)"
    )
    min_price: float | None = strawberry.field(
        default=None, description="with a price bound, products without a price are left out"
    )
    max_price: float | None = None


@strawberry.type(description="One path between two products in the knowledge graph.")
class Path:
    nodes: list[str]
    relations: list[str]
    text: str


@strawberry.type(description="A model's score for the pair: None where the other product is not in the list.")
class ModelScore:
    relation: Relation
    score: float | None
    rank: int | None


@strawberry.type(description="The evidence for recommending `other` with `product`.")
class Explanation:
    product: Product
    other: Product
    shared_customers: int = strawberry.field(description="customers who reviewed, bought or viewed both")
    shared_customer_ids: list[strawberry.ID]
    paths: list[Path]
    model_version: str
    scores: list[ModelScore]
    embedding_similarity: float
    rules: list[str] = strawberry.field(description="merchandiser rules on the pair or on `other`")


# Each Product field as read from the catalog at a position: the one definition that Product objects
# (ProductCache) and the direct executor's JSON (api/fastpath.py) are both built from.
PRODUCT_VALUES: dict[str, Callable[[Catalog, int], Any]] = {
    "id": lambda c, pos: str(c.ids[pos]),
    "title": Catalog.title,
    "brand": Catalog.brand,
    "price": Catalog.price,
    "categories": Catalog.categories,
}


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


@dataclass(frozen=True, slots=True)
class RankedAnswer:
    """A finished list, best first: catalog positions, scores (the short decimals clients see) and reasons.

    Plain lists, not GraphQL objects: the direct executor (api/fastpath.py) writes JSON from them, GraphQL
    execution wraps them in :class:`Recommendation` objects, and a cache of them holds few objects for the
    garbage collector to walk.
    """

    positions: list[int]
    scores: list[float]
    reasons: list[str]
    # the JSON the direct executor wrote for this list, by selection: a cached list is serialized once
    json: dict[Any, bytes] = field(default_factory=dict, compare=False, repr=False)


def _recommendations(products: ProductCache, answer: RankedAnswer) -> list[Recommendation]:
    return [
        Recommendation(product=p, score=s, reason=r)
        for p, s, r in zip(products.many(answer.positions), answer.scores, answer.reasons, strict=True)
    ]


class ListCache:
    """Finished `similar`/`bundle` answers without a filter, by (relation, product, k, diverse).

    Valid for one serving index and one rule set: both are immutable and replaced whole, so a change of either
    object empties the cache, and an answer can never outlive the model or the rules it was ranked with.
    """

    def __init__(self, max_size: int = LIST_CACHE_SIZE) -> None:
        self.max_size = max_size
        self._owner: tuple[ServingIndex, RuleSet] | None = None
        self._items: OrderedDict[tuple[str, int, int, bool], RankedAnswer] = OrderedDict()

    def items_for(
        self, index: ServingIndex, rules: RuleSet
    ) -> OrderedDict[tuple[str, int, int, bool], RankedAnswer]:
        owner = self._owner
        if owner is None or owner[0] is not index or owner[1] is not rules:
            self._owner, self._items = (index, rules), OrderedDict()
        elif len(self._items) >= self.max_size:
            # oldest first; popitem, not del of next(iter()): a plain dict's iteration skips the slots of every
            # key deleted at its front, which made each eviction scan thousands of them
            self._items.popitem(last=False)
        return self._items


@dataclass
class Context:
    """What resolvers read: one consistent view of the serving state, taken when the request arrived."""

    serving: Serving
    caller: Caller
    request: Request
    settings: Settings = field(init=False)
    index: ServingIndex | None = field(init=False)
    rules: RuleSet | None = field(init=False)
    _loader: DataLoader[str, Product | None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.settings = self.serving.settings
        self.index = self.serving.index
        self.rules = self.serving.rules.current if self.serving.rules is not None else None

    def ready(self) -> tuple[Catalog, ServingIndex, RuleSet, ProductCache]:
        s = self.serving
        if self.index is None or s.catalog is None or self.rules is None or s.products is None:
            raise ClientError("the server is still loading the catalog and model; retry in a few seconds")
        return s.catalog, self.index, self.rules, s.products

    @property
    def loader(self) -> DataLoader[str, Product | None]:
        if self._loader is None:
            catalog, _, _, products = self.ready()

            async def load(ids: list[str]) -> list[Product | None]:
                positions = catalog.positions(ids).tolist()
                return [products.get(p) if p >= 0 else None for p in positions]

            self._loader = DataLoader(load_fn=load)
        return self._loader


def _position(catalog: Catalog, product_id: str) -> int:
    pos = catalog.position.get(product_id)
    if pos is None:
        raise ClientError(f"unknown product {product_id!r}")
    return pos


def _label(catalog: Catalog, pos: int) -> str:
    title = catalog.title(pos)
    return f"“{title}”" if title else str(catalog.ids[pos])


def _filter(ctx: Context, catalog: Catalog, f: RecFilter | None, session_id: str | None) -> Filter | None:
    """Resolve a RecFilter (None: defaults, which exclude the cart and purchases of `session_id`)."""
    f = f or RecFilter()
    sid = f.session_id or session_id
    exclude: list[int] = []
    if sid is not None:
        session = ctx.serving.sessions.get(sid)
        if session is not None:
            if f.exclude_cart:
                exclude.extend(session.cart)
            if f.exclude_purchased:
                exclude.extend(session.purchased)
    categories = [_position_of_category(catalog, c) for c in f.exclude_categories or ()]
    if f.min_price is not None and f.max_price is not None and f.min_price > f.max_price:
        raise ClientError(f"minPrice {f.min_price} is above maxPrice {f.max_price}")
    if not exclude and not categories and f.min_price is None and f.max_price is None:
        return None
    return Filter(
        exclude=np.asarray(exclude, dtype=np.int64),
        exclude_categories=np.asarray(categories, dtype=np.int64),
        min_price=f.min_price,
        max_price=f.max_price,
    )


def _position_of_category(catalog: Catalog, category: str) -> int:
    pos = catalog.category_position.get(category)
    if pos is None:
        raise ClientError(f"unknown category {category!r}")
    return pos


def _scores(scores: np.ndarray) -> list[float]:
    """float32 scores as the short decimals they stand for (0.9, not 0.8999999761581421)."""
    return np.round(scores.astype(np.float64), 6).tolist()


def _related_ranked(
    ctx: Context, rel: str, product_id: str, k: int, diverse: bool, f: RecFilter | None, verb: str
) -> RankedAnswer:
    catalog, index, rules, _ = ctx.ready()
    check_k(k, ctx.settings.max_k)
    anchor = _position(catalog, product_id)
    keep = _filter(ctx, catalog, f, None)
    cached = ctx.serving.lists.items_for(index, rules) if keep is None else None
    key = (rel, anchor, k, diverse)
    if cached is not None and (hit := cached.get(key)) is not None:
        return hit
    ranked: Ranked = index.related(
        catalog,
        rel,
        anchor,
        k,
        pins=rules.pins.get((rel, anchor), ()),
        blocked=rules.blocked[rel],
        blocked_pairs=rules.blocked_pairs.get((rel, anchor)),
        keep=keep,
        diverse=diverse,
    )
    because = f"{verb} {_label(catalog, anchor)}"
    answer = RankedAnswer(
        ranked.positions.tolist(),
        _scores(ranked.scores),
        ["pinned by a merchandiser" if pin else because for pin in ranked.pinned.tolist()],
    )
    if cached is not None:
        cached[key] = answer
    return answer


def _related(
    info: Info, rel: str, product_id: str, k: int, diverse: bool, f: RecFilter | None, verb: str
) -> list[Recommendation]:
    ctx: Context = info.context
    answer = _related_ranked(ctx, rel, product_id, k, diverse, f, verb)
    return _recommendations(ctx.ready()[3], answer)


def _session_ranked(
    ctx: Context, session_id: str | None, customer_id: str | None, k: int, f: RecFilter | None
) -> RankedAnswer:
    catalog, index, rules, _ = ctx.ready()
    check_k(k, ctx.settings.max_k)
    session = ctx.serving.sessions.get(session_id) if session_id is not None else None
    # The answer is a function of the session's events, the customer, the model, the rules and k: kept on the
    # session (trackEvent drops it) and reused while none of these change. Filters are not kept.
    key = (index, rules, k, customer_id) if f is None else None
    kept = session.answer if session is not None and key is not None else None
    if kept is not None:
        (was_index, was_rules, was_k, was_customer), answer = kept  # type: ignore[misc]
        # the model and rules by identity: each is immutable and replaced whole
        if was_index is index and was_rules is rules and (was_k, was_customer) == (k, customer_id):
            return answer  # type: ignore[return-value]
    seeds = Seeds.of_session(session, ctx.settings.session_recent) if session is not None else None
    customer = customer_id or (session.customer if session is not None else None)
    if (seeds is None or not len(seeds.positions)) and customer is not None:
        seeds = Seeds.of_history(catalog.history(customer, ctx.settings.session_recent))
    seeds = seeds or Seeds.of_history(np.empty(0, dtype=np.int64))
    ranked: SessionRanked = recommend(
        catalog, index, seeds, k, rules.blocked[SESSION], _filter(ctx, catalog, f, session_id), catalog.visits
    )
    seed_labels = [
        f"because you {verb} {_label(catalog, p)}"
        for p, verb in zip(seeds.positions.tolist(), seeds.verbs, strict=True)
    ]
    answer = RankedAnswer(
        ranked.positions.tolist(),
        _scores(ranked.scores),
        [seed_labels[i] if i >= 0 else "popular right now" for i in ranked.seed.tolist()],
    )
    if session is not None and key is not None:
        session.answer = (key, answer)
    return answer


def _track_event(
    ctx: Context, session_id: str, product_id: str, type_: EventType, customer_id: str | None
) -> bool:
    """Record the event; every check comes first, so a refused event changes nothing (the direct executor,
    api/fastpath.py, relies on that to hand a refused one to GraphQL execution)."""
    catalog, _, _, _ = ctx.ready()
    pos = _position(catalog, product_id)
    session = _check_id(session_id, "sessionId")
    customer = None if customer_id is None else _check_id(customer_id, "customerId")
    ctx.serving.sessions.track(session, pos, type_.value, customer)
    return True


def _session_recommendations(
    ctx: Context, session_id: str | None, customer_id: str | None, k: int, f: RecFilter | None
) -> list[Recommendation]:
    return _recommendations(ctx.ready()[3], _session_ranked(ctx, session_id, customer_id, k, f))


def _paths(catalog: Catalog, a: int, b: int) -> list[Path]:
    """Short paths from `a` to `b`: direct list edges, a shared category or brand, a shared customer, one hop."""
    snap = catalog.snapshot
    pa_, pb = f"Product:{catalog.ids[a]}", f"Product:{catalog.ids[b]}"
    out: list[Path] = []
    for type_ in (*CO_PURCHASE_TYPES, *LEARNED_TYPES):
        csr = snap.rel(type_)
        if b in csr.row(a):
            out.append(Path(nodes=[pa_, pb], relations=[type_], text=f"{pa_} -[{type_}]-> {pb}"))
        if a in csr.row(b):
            out.append(Path(nodes=[pa_, pb], relations=[type_], text=f"{pa_} <-[{type_}]- {pb}"))
        via = csr.row(a)[:100]
        hops = [int(x) for x in via.tolist() if b in csr.row(int(x))][:2]
        for x in hops:
            px = f"Product:{catalog.ids[x]}"
            out.append(
                Path(
                    nodes=[pa_, px, pb],
                    relations=[type_, type_],
                    text=f"{pa_} -[{type_}]-> {px} -[{type_}]-> {pb}",
                )
            )
    for type_, label, ids in (
        ("IN_CATEGORY", "Category", catalog.category_ids),
        ("MADE_BY", "Brand", catalog.brand_ids),
    ):
        csr = snap.rel(type_)
        shared = np.intersect1d(csr.row(a), csr.row(b))
        if len(shared):
            node = f"{label}:{ids[shared[-1]]}"
            out.append(
                Path(
                    nodes=[pa_, node, pb],
                    relations=[type_, type_],
                    text=f"{pa_} -[{type_}]-> {node} <-[{type_}]- {pb}",
                )
            )
    return out[:MAX_PATHS]


def _rules_text(rules: RuleSet, a: int, b: int) -> list[str]:
    out = []
    for rel in RELATIONS:
        if b in rules.pins.get((rel, a), ()):
            out.append(f"PINNED {rel}")
        pairs = rules.blocked_pairs.get((rel, a))
        if pairs is not None and b in pairs:
            out.append(f"BLOCKED {rel}")
        if rules.blocked[rel][b]:
            out.append(f"BLOCKED {rel} (the product itself)")
    return out


@strawberry.type
class Query:
    @strawberry.field(
        description="A trivial constant answer: the floor of the server's own cost per request.",
        permission_classes=[CanQuery],
    )
    def ping(self) -> str:
        return "pong"

    @strawberry.field(description="A product by id; null when unknown.", permission_classes=[CanQuery])
    async def product(self, info: Info, id: strawberry.ID) -> Product | None:
        return await info.context.loader.load(str(id))

    @strawberry.field(
        description="Products by id, in the order asked; null for unknown ids.", permission_classes=[CanQuery]
    )
    async def products(self, info: Info, ids: list[strawberry.ID]) -> list[Product | None]:
        if len(ids) > info.context.settings.max_k:
            raise ClientError(f"at most {info.context.settings.max_k} ids per call, got {len(ids)}")
        return await info.context.loader.load_many([str(i) for i in ids])

    @strawberry.field(description="Substitutes: what could be bought instead.", permission_classes=[CanQuery])
    def similar(
        self, info: Info, product_id: strawberry.ID, k: int = 10, filter: RecFilter | None = None
    ) -> list[Recommendation]:
        return _related(info, "substitute", str(product_id), k, False, filter, "an alternative to")

    @strawberry.field(
        description="Complements: what completes the purchase. diverse: one per category first.",
        permission_classes=[CanQuery],
    )
    def bundle(
        self,
        info: Info,
        product_id: strawberry.ID,
        k: int = 10,
        diverse: bool = True,
        filter: RecFilter | None = None,
    ) -> list[Recommendation]:
        return _related(info, "complement", str(product_id), k, diverse, filter, "goes with")

    @strawberry.field(
        description=(
            "For a session's recent events, else the customer's history, else popular products; "
            "excludes the session's cart and purchases unless the filter says otherwise."
        ),
        permission_classes=[CanQuery],
    )
    def recommendations(
        self,
        info: Info,
        session_id: strawberry.ID | None = None,
        customer_id: strawberry.ID | None = None,
        k: int = 10,
        filter: RecFilter | None = None,
    ) -> list[Recommendation]:
        return _session_recommendations(
            info.context,
            None if session_id is None else str(session_id),
            None if customer_id is None else str(customer_id),
            k,
            filter,
        )

    @strawberry.field(
        description="The evidence for a pair: shared customers, paths, model scores; null when either is unknown.",
        permission_classes=[CanQuery],
    )
    def explain(self, info: Info, product_id: strawberry.ID, other_id: strawberry.ID) -> Explanation | None:
        ctx: Context = info.context
        catalog, index, rules, products = ctx.ready()
        a, b = catalog.position.get(str(product_id)), catalog.position.get(str(other_id))
        if a is None or b is None:
            return None
        shared = np.intersect1d(catalog.customers_of.row(a), catalog.customers_of.row(b))
        customer_ids = catalog.snapshot.ids["Customer"]
        scores = []
        for rel in RELATIONS:
            hit = index.score_of(rel, a, b)
            scores.append(
                ModelScore(
                    relation=Relation(rel), score=hit[0] if hit else None, rank=hit[1] if hit else None
                )
            )
        return Explanation(
            product=products.get(a),
            other=products.get(b),
            shared_customers=len(shared),
            shared_customer_ids=[strawberry.ID(str(customer_ids[c])) for c in shared[:MAX_SHARED_CUSTOMERS]],
            paths=_paths(catalog, a, b),
            model_version=index.version,
            scores=scores,
            embedding_similarity=float(index.embeddings[a] @ index.embeddings[b]),
            rules=_rules_text(rules, a, b),
        )


def _check_id(value: str, what: str) -> str:
    if not value or len(value) > MAX_ID_LENGTH:
        raise ClientError(f"{what} must be 1 to {MAX_ID_LENGTH} characters")
    return value


async def _set_rule(
    info: Info, kind: str, product_id: str, other_id: str | None, relation: Relation, remove: bool
) -> bool:
    ctx: Context = info.context
    catalog, _, _, _ = ctx.ready()
    _position(catalog, product_id)
    if other_id is not None:
        _position(catalog, other_id)
        if other_id == product_id:
            raise ClientError("a product cannot be pinned to or blocked from its own list")
    keeper = ctx.serving.rules
    assert keeper is not None  # ready() checked it
    try:
        ok = await keeper.set_rule(kind, product_id, other_id, relation.value, not remove)
    except Exception as e:  # the store is down or refused the write: say so, and that nothing changed
        log.warning("rule write failed: %s: %s", type(e).__name__, e)
        raise ClientError(
            "the graph store cannot be reached, so the rule was not written; try again when it is back"
        ) from e
    if not ok:
        raise ClientError("the store does not know one of these products; the rule was not written")
    return True


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Record a shopper's event; the session's next recommendations reflect it.",
        permission_classes=[CanTrack],
    )
    def track_event(
        self,
        info: Info,
        session_id: strawberry.ID,
        product_id: strawberry.ID,
        type: EventType,
        customer_id: strawberry.ID | None = None,
    ) -> bool:
        return _track_event(
            info.context,
            str(session_id),
            str(product_id),
            type,
            None if customer_id is None else str(customer_id),
        )

    @strawberry.mutation(
        description="Put `other` first in `product`'s list (remove: take the pin away). Merchandisers only.",
        permission_classes=[IsMerchandiser],
    )
    async def pin(
        self,
        info: Info,
        product_id: strawberry.ID,
        other_id: strawberry.ID,
        relation: Relation,
        remove: bool = False,
    ) -> bool:
        return await _set_rule(info, "PINNED", str(product_id), str(other_id), relation, remove)

    @strawberry.mutation(
        description=(
            "Keep `other` out of `product`'s list, or with no otherId keep `product` out of every list "
            "(remove: lift the block). Merchandisers only."
        ),
        permission_classes=[IsMerchandiser],
    )
    async def block(
        self,
        info: Info,
        product_id: strawberry.ID,
        relation: Relation,
        other_id: strawberry.ID | None = None,
        remove: bool = False,
    ) -> bool:
        return await _set_rule(
            info, "BLOCKED", str(product_id), None if other_id is None else str(other_id), relation, remove
        )


ROOT_FIELDS = frozenset(
    {
        "ping",
        "product",
        "products",
        "similar",
        "bundle",
        "recommendations",
        "explain",
        "trackEvent",
        "pin",
        "block",
    }
)


def build_schema(settings: Settings, metrics: Metrics) -> strawberry.Schema:
    """The schema with its limits, caches and error masking (see api/limits.py) and operation metrics."""
    exts: list[Any] = [metrics.extension(), *extensions(settings)]
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=exts,
        config=StrawberryConfig(batching_config={"max_operations": settings.max_batch}),
    )
