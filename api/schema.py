"""The GraphQL schema: its root fields (Query, Mutation) and how it is built.

Resolvers are synchronous and read only memory through the request's :class:`~api.serving.Context` (the
catalog, the serving index, the rule set and the sessions taken when the request arrived). Products named by id
go through a per-request DataLoader (one batched lookup however many fields and aliases ask); recommendation
lists fetch their K products in one batched call to the same ProductCache (api/caches.py). The lists themselves
are ranked by api/ranking.py, which the direct executor (api/fastpath.py) calls too.

What other modules need to know of a root field is said where the field is declared, in its metadata, and read
once below (:data:`ROOT_FIELDS`, :data:`PURE_FIELDS`, :data:`LIST_FIELDS`): no list of field names is kept by
hand anywhere else.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.types import Info
from strawberry.types.base import get_object_definition
from strawberry.types.field import StrawberryField

from api import ranking
from api.auth import CanQuery, CanTrack, IsMerchandiser
from api.caches import ProductCache, RankedAnswer
from api.explain import explanation
from api.limits import ClientError, extensions
from api.serving import Context
from api.sessions import record_event
from api.settings import Settings
from api.types import EventType, Explanation, Product, RecFilter, Recommendation, Relation

if TYPE_CHECKING:
    from api.metrics import Metrics

log = logging.getLogger(__name__)

# A root field's metadata. PURE: its answer depends on nothing but its arguments, the model and the rules, so a
# whole response of such fields may be kept. SIZED_BY: the argument that is the length of the list it answers,
# by which the query cost multiplies what it selects.
PURE = "pure"
SIZED_BY = "sized_by"


def _recommendations(products: ProductCache, answer: RankedAnswer) -> list[Recommendation]:
    return [
        Recommendation(product=p, score=s, reason=r)
        for p, s, r in zip(products.many(answer.positions), answer.scores, answer.reasons, strict=True)
    ]


@strawberry.type
class Query:
    @strawberry.field(
        description="A trivial constant answer: the floor of the server's own cost per request.",
        permission_classes=[CanQuery],
        metadata={PURE: True},
    )
    def ping(self) -> str:
        return "pong"

    @strawberry.field(
        description="A product by id; null when unknown.",
        permission_classes=[CanQuery],
        metadata={PURE: True},
    )
    async def product(self, info: Info, id: strawberry.ID) -> Product | None:
        return await info.context.loader.load(str(id))

    @strawberry.field(
        description="Products by id, in the order asked; null for unknown ids.",
        permission_classes=[CanQuery],
        metadata={PURE: True, SIZED_BY: "ids"},
    )
    async def products(self, info: Info, ids: list[strawberry.ID]) -> list[Product | None]:
        if len(ids) > info.context.settings.max_k:
            raise ClientError(f"at most {info.context.settings.max_k} ids per call, got {len(ids)}")
        return await info.context.loader.load_many([str(i) for i in ids])

    @strawberry.field(
        description="Substitutes: what could be bought instead.",
        permission_classes=[CanQuery],
        metadata={PURE: True, SIZED_BY: "k"},
    )
    def similar(
        self, info: Info, product_id: strawberry.ID, k: int = 10, filter: RecFilter | None = None
    ) -> list[Recommendation]:
        ctx: Context = info.context
        answer = ranking.related(ctx, "substitute", str(product_id), k, False, filter)
        return _recommendations(ctx.ready()[3], answer)

    @strawberry.field(
        description="Complements: what completes the purchase. diverse: one per category first.",
        permission_classes=[CanQuery],
        metadata={PURE: True, SIZED_BY: "k"},
    )
    def bundle(
        self,
        info: Info,
        product_id: strawberry.ID,
        k: int = 10,
        diverse: bool = True,
        filter: RecFilter | None = None,
    ) -> list[Recommendation]:
        ctx: Context = info.context
        answer = ranking.related(ctx, "complement", str(product_id), k, diverse, filter)
        return _recommendations(ctx.ready()[3], answer)

    @strawberry.field(
        description=(
            "For a session's recent events, else the customer's history, else popular products; "
            "excludes the session's cart and purchases unless the filter says otherwise. A session's answer "
            "comes from its own events only. customerId is personal data: it needs a frontend or merchandiser "
            "key, or customerToken, the customer's own token signed by the shop (where the server takes them); "
            "otherwise the field is an error naming what it needs."
        ),
        permission_classes=[CanQuery],
        metadata={SIZED_BY: "k"},  # not pure: it reads the session
    )
    def recommendations(
        self,
        info: Info,
        session_id: strawberry.ID | None = None,
        customer_id: strawberry.ID | None = None,
        k: int = 10,
        filter: RecFilter | None = None,
        customer_token: str | None = None,
    ) -> list[Recommendation]:
        ctx: Context = info.context
        answer = ranking.for_session(
            ctx,
            None if session_id is None else str(session_id),
            None if customer_id is None else str(customer_id),
            k,
            filter,
            customer_token,
        )
        return _recommendations(ctx.ready()[3], answer)

    @strawberry.field(
        description=(
            "The evidence for a pair: shared customers (their ids for a merchandiser key only), paths, model "
            "scores; null when either product is unknown."
        ),
        permission_classes=[CanQuery],
        metadata={PURE: True},
    )
    def explain(self, info: Info, product_id: strawberry.ID, other_id: strawberry.ID) -> Explanation | None:
        ctx: Context = info.context
        catalog, index, rules, products = ctx.ready()
        a, b = catalog.position.get(str(product_id)), catalog.position.get(str(other_id))
        if a is None or b is None:
            return None
        return explanation(catalog, index, rules, products, a, b)


async def _set_rule(
    info: Info, kind: str, product_id: str, other_id: str | None, relation: Relation, remove: bool
) -> bool:
    ctx: Context = info.context
    catalog, _, _, _ = ctx.ready()
    catalog.position_of(product_id)
    if other_id is not None:
        catalog.position_of(other_id)
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
        ctx: Context = info.context
        record_event(
            ctx.serving.sessions,
            ctx.ready()[0],
            str(session_id),
            str(product_id),
            type.value,
            None if customer_id is None else str(customer_id),
        )
        return True

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


def _fields(root: type) -> dict[str, StrawberryField]:
    """A root type's fields by the names the schema gives them (camelCase: ``trackEvent``)."""
    return {NAMES.from_field(f): f for f in get_object_definition(root, strict=True).fields}


NAMES = NameConverter()  # the schema's, passed to it below
QUERY_FIELDS = frozenset(_fields(Query))
MUTATION_FIELDS = frozenset(_fields(Mutation))
ROOT_FIELDS = QUERY_FIELDS | MUTATION_FIELDS
# the root fields whose whole answer may be kept (api/caches.py ResponseCache)
PURE_FIELDS = frozenset(name for name, f in _fields(Query).items() if f.metadata.get(PURE))
# root field -> the argument that sizes its list (api/limits.py query_cost)
LIST_FIELDS = {name: f.metadata[SIZED_BY] for name, f in _fields(Query).items() if SIZED_BY in f.metadata}


def build_schema(settings: Settings, metrics: Metrics) -> strawberry.Schema:
    """The schema with its limits, caches and error masking (see api/limits.py) and operation metrics."""
    exts: list[Any] = [metrics.extension(ROOT_FIELDS), *extensions(settings, LIST_FIELDS)]
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=exts,
        config=StrawberryConfig(name_converter=NAMES, batching_config={"max_operations": settings.max_batch}),
    )
