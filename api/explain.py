"""``explain``: the evidence for recommending one product with another, read from the graph and the model.

Shared customers, short paths in the knowledge graph (direct list edges, a shared category or brand, one hop
through a third product), each relation's model score and rank, the embeddings' cosine, and the merchandiser
rules on the pair. All of it comes from memory: the catalog's snapshot, the serving index, the rule set.

The shared customers' ids are personal data: the schema answers them to a merchandiser key only
(api/types.py Explanation), and no path goes through a customer, so the rest of an explanation names none.
"""

from __future__ import annotations

import numpy as np
import strawberry

from api.caches import ProductCache
from api.catalog import Catalog
from api.index import ServingIndex
from api.rules import RuleSet
from api.types import Explanation, ModelScore, Path, Relation
from graph.schema import CO_PURCHASE_TYPES, LEARNED_TYPES, RELATIONS

MAX_PATHS = 10
MAX_SHARED_CUSTOMERS = 10
MAX_VIA = 100  # one-hop paths are looked for through the first this many products of a list


def explanation(
    catalog: Catalog, index: ServingIndex, rules: RuleSet, products: ProductCache, a: int, b: int
) -> Explanation:
    """The evidence for recommending the product at position `b` with the one at `a`."""
    shared = np.intersect1d(catalog.customers_of.row(a), catalog.customers_of.row(b))
    customer_ids = catalog.snapshot.ids["Customer"]
    scores = []
    for relation in RELATIONS:
        hit = index.score_of(relation, a, b)
        scores.append(
            ModelScore(
                relation=Relation(relation), score=hit[0] if hit else None, rank=hit[1] if hit else None
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


def _paths(catalog: Catalog, a: int, b: int) -> list[Path]:
    """Short paths from `a` to `b`: direct list edges, a shared category or brand, one hop through a product."""
    snap = catalog.snapshot
    pa_, pb = f"Product:{catalog.ids[a]}", f"Product:{catalog.ids[b]}"
    out: list[Path] = []
    for type_ in (*CO_PURCHASE_TYPES, *LEARNED_TYPES):
        csr = snap.rel(type_)
        if b in csr.row(a):
            out.append(Path(nodes=[pa_, pb], relations=[type_], text=f"{pa_} -[{type_}]-> {pb}"))
        if a in csr.row(b):
            out.append(Path(nodes=[pa_, pb], relations=[type_], text=f"{pa_} <-[{type_}]- {pb}"))
        via = csr.row(a)[:MAX_VIA]
        hops = [int(x) for x in via.tolist() if b in csr.row(int(x))][:2]
        for x in hops:
            out.append(_two_edges(pa_, f"Product:{catalog.ids[x]}", pb, type_, f"-[{type_}]->"))
    for type_, label, ids in (
        ("IN_CATEGORY", "Category", catalog.category_ids),
        ("MADE_BY", "Brand", catalog.brand_ids),
    ):
        csr = snap.rel(type_)
        shared = np.intersect1d(csr.row(a), csr.row(b))
        if len(shared):
            out.append(_two_edges(pa_, f"{label}:{ids[shared[-1]]}", pb, type_, f"<-[{type_}]-"))
    return out[:MAX_PATHS]


def _two_edges(a: str, via: str, b: str, type_: str, second: str) -> Path:
    """``a -[type_]-> via``, then to `b` by an edge of the same type written `second` (its direction)."""
    return Path(nodes=[a, via, b], relations=[type_, type_], text=f"{a} -[{type_}]-> {via} {second} {b}")


def _rules_text(rules: RuleSet, a: int, b: int) -> list[str]:
    out = []
    for relation in RELATIONS:
        if b in rules.pins.get((relation, a), ()):
            out.append(f"PINNED {relation}")
        pairs = rules.blocked_pairs.get((relation, a))
        if pairs is not None and b in pairs:
            out.append(f"BLOCKED {relation}")
        if rules.blocked[relation][b]:
            out.append(f"BLOCKED {relation} (the product itself)")
    return out
