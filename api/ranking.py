"""The ranking both executors share: a product's `similar`/`bundle` list and a session's recommendations.

GraphQL execution (api/schema.py) and the direct executor (api/fastpath.py) call these same functions, so they
answer the same lists with the same scores and reasons, after the same checks on whose data the caller may see
(api/auth.py). Each returns a :class:`~api.caches.RankedAnswer` and
keeps it where it may be asked for again: an unfiltered list in the list cache, a session's answer on the
session itself (both in api/caches.py).
"""

from __future__ import annotations

import numpy as np

from api.auth import check_customer
from api.caches import ListKey, RankedAnswer, SessionKey
from api.catalog import Catalog, Filter
from api.index import Ranked
from api.limits import ClientError, check_k
from api.rules import SESSION
from api.serving import Context
from api.sessions import Seeds, SessionRanked, recommend
from api.types import RecFilter

# relation -> how a reason names the product asked about ("goes with “Camera 0”")
VERBS = {"complement": "goes with", "substitute": "an alternative to"}


def related(
    ctx: Context, relation: str, product_id: str, k: int, diverse: bool, f: RecFilter | None
) -> RankedAnswer:
    """The top `k` of `product_id`'s `relation` list after rules and the filter `f` (see ServingIndex.related)."""
    catalog, index, rules, _ = ctx.ready()
    check_k(k, ctx.settings.max_k)
    anchor = catalog.position_of(product_id)
    keep = _filter(ctx, catalog, f, None)
    cached = ctx.serving.lists.items_for(index, rules) if keep is None else None
    key = ListKey(relation, anchor, k, diverse)
    if cached is not None and (hit := cached.get(key)) is not None:
        return hit
    ranked: Ranked = index.related(
        catalog,
        relation,
        anchor,
        k,
        pins=rules.pins.get((relation, anchor), ()),
        blocked=rules.blocked[relation],
        blocked_pairs=rules.blocked_pairs.get((relation, anchor)),
        keep=keep,
        diverse=diverse,
        exclude_similar=ctx.settings.bundle_exclude_similar,
    )
    because = f"{VERBS[relation]} {_label(catalog, anchor)}"
    answer = RankedAnswer(
        ranked.positions.tolist(),
        _scores(ranked.scores),
        ["pinned by a merchandiser" if pin else because for pin in ranked.pinned.tolist()],
    )
    if cached is not None:
        cached[key] = answer
    return answer


def for_session(
    ctx: Context,
    session_id: str | None,
    customer_id: str | None,
    k: int,
    f: RecFilter | None,
    customer_token: str | None = None,
) -> RankedAnswer:
    """Recommendations for a session's recent events, else the customer's history, else popular products.

    A customer's history is personal data: it seeds only when the caller names the customer (`customer_id`) and
    may read it (api/auth.py check_customer: a shop key, or the customer's own token). The customer a session
    was linked to by ``trackEvent`` is never read here, so whoever holds a session id sees that session's own
    events in the reasons and nothing else.
    """
    catalog, index, rules, _ = ctx.ready()
    check_k(k, ctx.settings.max_k)
    if customer_id is not None:
        check_customer(ctx.caller, ctx.settings.customer_token_secret, customer_id, customer_token)
    elif customer_token is not None:
        raise ClientError("customerToken goes with the customerId it was signed for")
    session = ctx.serving.sessions.get(session_id) if session_id is not None else None
    # The answer is a function of the session's events, the customer, the model, the rules and k: kept on the
    # session (trackEvent drops it) and reused while none of these change. Filters are not kept.
    kept = session.answer if session is not None and f is None else None
    if kept is not None and kept[0].matches(index, rules, k, customer_id):
        return kept[1]
    seeds = Seeds.of_session(session, ctx.settings.session_recent) if session is not None else None
    if (seeds is None or not len(seeds.positions)) and customer_id is not None:
        seeds = Seeds.of_history(catalog.history(customer_id, ctx.settings.session_recent))
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
    if session is not None and f is None:
        session.answer = (SessionKey(index, rules, k, customer_id), answer)
    return answer


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
    categories = [catalog.category_position_of(c) for c in f.exclude_categories or ()]
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


def _scores(scores: np.ndarray) -> list[float]:
    """float32 scores as the short decimals they stand for (0.9, not 0.8999999761581421)."""
    return np.round(scores.astype(np.float64), 6).tolist()
