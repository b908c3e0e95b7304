"""The catalog: the products of one snapshot by dense position, and the adjacency that ranking reads.

:class:`Catalog` holds the products (ids, titles, brands, prices, categories), popularity, the customer and
co-purchase adjacency that sessions and ``explain`` read, and each product's kept random walk (session
candidates). It is built once at start from the store's snapshot and never changes, so everything built from it
(the serving index's positions, Product objects) stays valid as long as the process runs.
:class:`Filter` is a request's exclusions resolved to catalog positions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from api.limits import ClientError
from graph.schema import INTERACTION_TYPES
from graph.snapshot import CSR, Snapshot
from graph.walks import ProductVisits, Walker, WalkGraph, WalkParams

N_POPULAR = 1000
# a session's walk: 5,000 steps of 10 from each seed, its top 200 visits kept. Pixie's default 100,000 steps
# would cost most of a request's latency budget. No early stopping: at this budget it rarely stops a walk.
SESSION_WALK = WalkParams(steps=5_000, walk_length=10, n_v=0)
WALK_CANDIDATES = 200
WALKS_PRECOMPUTED = 20_000  # products whose walks are walked at start, the most interacted with first
WALKS_CACHED = 20_000  # other products' walks kept (LRU); each is at most 200 entries (2.4 KiB)


def _ranges(csr: CSR, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner row index into `rows`, positions into csr.indices) of all entries of `rows`, without a Python loop."""
    starts, ends = csr.indptr[rows], csr.indptr[rows + 1]
    lengths = ends - starts
    owner = np.repeat(np.arange(len(rows)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return owner, np.repeat(starts, lengths) + offsets


class Catalog:
    """The products of one snapshot by dense position, and the adjacency that ranking and explanations read."""

    def __init__(self, snapshot: Snapshot, walks: bool = True) -> None:
        self.snapshot = snapshot
        self.ids: np.ndarray = snapshot.ids["Product"]
        self.n = len(self.ids)
        self.position: dict[str, int] = snapshot.index("Product")
        self.titles: np.ndarray = (
            snapshot.titles if snapshot.titles is not None else np.full(self.n, None, dtype=object)
        )
        self.prices: np.ndarray = (
            snapshot.prices if snapshot.prices is not None else np.full(self.n, np.nan, dtype=np.float64)
        )
        self.category_ids: np.ndarray = snapshot.ids["Category"]
        self.category_position: dict[str, int] = snapshot.index("Category")
        self.brand_ids: np.ndarray = snapshot.ids["Brand"]
        self.in_category = snapshot.rel("IN_CATEGORY")
        self.made_by = snapshot.rel("MADE_BY")
        self.leaf_category = snapshot.product_category()  # diversity groups by the deepest category
        self.customer_position: dict[str, int] = snapshot.index("Customer")
        self.reviewed = snapshot.rel("REVIEWED")  # customer -> products: a customer's history
        interactions = [snapshot.rel(t) for t in INTERACTION_TYPES]
        src = np.concatenate([c.coo()[0] for c in interactions])
        dst = np.concatenate([c.coo()[1] for c in interactions])
        # product -> customers, for "customers who interacted with both" in explanations
        self.customers_of = CSR.from_coo(dst, src, self.n, snapshot.n("Customer"))
        most_interacted = np.argsort(-np.bincount(dst, minlength=self.n), kind="stable")
        self.popular: np.ndarray = most_interacted[:N_POPULAR]
        # session candidates: each seed's own numpy walk, kept (graph/walks.py ProductVisits); the most popular
        # products' walks in one batch now (about a second for Beauty's 12,101), any other's on first use on the
        # request's own thread (a GPU backend would add a transfer per request and gains only in batch mode)
        self.walker: Walker | None = None
        self.visits: ProductVisits | None = None
        if walks:
            self.walker = Walker(WalkGraph.from_snapshot(snapshot, "complement"), backend="numpy")
            self.visits = ProductVisits(
                self.walker,
                SESSION_WALK,
                WALK_CANDIDATES,
                precompute=most_interacted[:WALKS_PRECOMPUTED],
                max_cached=WALKS_CACHED,
            )

    def position_of(self, product_id: str) -> int:
        """The position of a product a client named; a ClientError when the catalog does not know it."""
        pos = self.position.get(product_id)
        if pos is None:
            raise ClientError(f"unknown product {product_id!r}")
        return pos

    def category_position_of(self, category: str) -> int:
        """The position of a category a client named; a ClientError when the catalog does not know it."""
        pos = self.category_position.get(category)
        if pos is None:
            raise ClientError(f"unknown category {category!r}")
        return pos

    def positions(self, ids: list[str] | np.ndarray) -> np.ndarray:
        """Catalog positions of `ids`, -1 where an id is not in the catalog."""
        get = self.position.get
        return np.fromiter((get(str(i), -1) for i in ids), dtype=np.int64, count=len(ids))

    def title(self, pos: int) -> str | None:
        return self.titles[pos]

    def price(self, pos: int) -> float | None:
        p = self.prices[pos]
        return None if np.isnan(p) else float(p)

    def brand(self, pos: int) -> str | None:
        row = self.made_by.row(pos)
        return str(self.brand_ids[row[0]]) if len(row) else None

    def categories(self, pos: int) -> list[str]:
        return [str(c) for c in self.category_ids[self.in_category.row(pos)]]

    def in_any_category(self, positions: np.ndarray, categories: np.ndarray) -> np.ndarray:
        """Bool mask over `positions`: the product is linked to any of `categories` (positions in Category)."""
        owner, at = _ranges(self.in_category, positions)
        hit = np.isin(self.in_category.indices[at], categories)
        out = np.zeros(len(positions), dtype=bool)
        out[owner[hit]] = True
        return out

    def history(self, customer: str, limit: int) -> np.ndarray:
        """The customer's reviewed products, most recent first (list order where times are unknown)."""
        c = self.customer_position.get(customer)
        if c is None:
            return np.empty(0, dtype=np.int64)
        lo, hi = self.reviewed.indptr[c], self.reviewed.indptr[c + 1]
        items = self.reviewed.indices[lo:hi].astype(np.int64)
        if self.reviewed.ts is not None:
            items = items[np.argsort(-self.reviewed.ts[lo:hi], kind="stable")]
        else:
            items = items[::-1]
        return items[:limit]


@dataclass(frozen=True)
class Filter:
    """What a request excludes, resolved to catalog positions once so each list is filtered with numpy."""

    exclude: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    exclude_categories: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    min_price: float | None = None
    max_price: float | None = None

    def keep(self, catalog: Catalog, positions: np.ndarray) -> np.ndarray:
        """Bool mask over `positions`; with a price bound, an unknown price is excluded (it cannot be shown to fit)."""
        keep = np.ones(len(positions), dtype=bool)
        if len(self.exclude):
            keep &= ~np.isin(positions, self.exclude)
        if len(self.exclude_categories):
            keep &= ~catalog.in_any_category(positions, self.exclude_categories)
        if self.min_price is not None or self.max_price is not None:
            price = catalog.prices[positions]
            with np.errstate(invalid="ignore"):
                if self.min_price is not None:
                    keep &= price >= self.min_price
                if self.max_price is not None:
                    keep &= price <= self.max_price
        return keep


# Each Product field as read from the catalog at a position: the one definition that Product objects
# (api/caches.py ProductCache) and the direct executor's JSON (api/fastpath.py) are both built from.
PRODUCT_VALUES: dict[str, Callable[[Catalog, int], Any]] = {
    "id": lambda c, pos: str(c.ids[pos]),
    "title": Catalog.title,
    "brand": Catalog.brand,
    "price": Catalog.price,
    "categories": Catalog.categories,
}
