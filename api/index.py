"""The serving index: everything a query reads, in memory, as numpy arrays and dicts (no store round trip).

Two objects, because they change at different times:

- :class:`Catalog` is the snapshot's products (ids, titles, brands, prices, categories), popularity, and the
  customer and co-purchase adjacency that sessions and ``explain`` read. Built once at start.
- :class:`ServingIndex` is one model's ranked complement and substitute lists and its embeddings, in catalog
  positions. It is swapped whole (one reference assignment) when :class:`ModelWatcher` sees a new promoted run,
  so a request never mixes two models.

Before any model is promoted the index comes from the snapshot's observed lists (:func:`observed_index`):
complement = ALSO_BOUGHT, substitute = ALSO_VIEWED, ranked in list order, with random-projection embeddings of
the co-occurrence graph (FastRP-style: a fixed-seed sketch, cheap and deterministic, not learned).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from gnn.registry import ArtifactError, Registry, ServingArtifact
from graph.schema import CO_PURCHASE_TYPES, INTERACTION_TYPES, RELATIONS
from graph.snapshot import CSR, Snapshot
from graph.walks import ProductVisits, Walker, WalkGraph, WalkParams

log = logging.getLogger(__name__)

OBSERVED_LISTS = {"complement": "ALSO_BOUGHT", "substitute": "ALSO_VIEWED"}
OBSERVED_VERSION = "observed-lists"
MAX_LIST = 500  # a ranked list is read no further: bounds the work of one request on a hub product
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
        # session candidates: each seed's own numpy walk, kept (graph/walks/visits.py ProductVisits); the most popular
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


@dataclass(frozen=True)
class Ranked:
    """A ranked answer: catalog positions, scores (descending), and which entries a merchandiser pinned."""

    positions: np.ndarray  # int64
    scores: np.ndarray  # float32
    pinned: np.ndarray  # bool


@dataclass(frozen=True)
class ServingIndex:
    """One model's ranked lists and embeddings over catalog positions; immutable, swapped whole on reload.

    ``lists[rel]`` is a :class:`~graph.snapshot.CSR` over catalog positions whose ``weights`` are the scores, each
    row ranked best first. ``embeddings`` are L2-normalized float32 ``[n, d]`` (zero rows where unknown), so a dot
    product is the cosine similarity.
    """

    version: str
    source: str  # "registry" or "snapshot"
    lists: dict[str, CSR]
    embeddings: np.ndarray
    loaded_at: float = field(default_factory=time.time)

    def row(self, rel: str, pos: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions, scores) of `pos`'s `rel` list, best first, at most :data:`MAX_LIST` long."""
        csr = self.lists[rel]
        lo = int(csr.indptr[pos])
        hi = min(int(csr.indptr[pos + 1]), lo + MAX_LIST)
        assert csr.weights is not None
        return csr.indices[lo:hi], csr.weights[lo:hi]

    def related(
        self,
        catalog: Catalog,
        rel: str,
        anchor: int,
        k: int,
        *,
        pins: tuple[int, ...] = (),
        blocked: np.ndarray | None = None,
        blocked_pairs: np.ndarray | None = None,
        keep: Filter | None = None,
        diverse: bool = False,
    ) -> Ranked:
        """The top `k` of `anchor`'s `rel` list after rules and filters.

        Pins come first (in pin order, with the list's top score so scores stay descending); then blocked
        products (`blocked`: a bool mask over the catalog; `blocked_pairs`: positions blocked for this anchor)
        and filtered ones are removed; pins obey blocks and filters too, since a block is the stronger statement.
        With `diverse`, the unpinned rest takes the best product of each leaf category first, then fills by rank.
        """
        idx, sc = self.row(rel, anchor)
        top = float(sc[0]) if len(sc) else 1.0
        if pins:
            pin_arr = np.asarray(pins, dtype=np.int64)
            rest = ~np.isin(idx, pin_arr)
            cand = np.concatenate([pin_arr, idx[rest]])
            scores = np.concatenate([np.full(len(pin_arr), top, dtype=np.float32), sc[rest]])
            n_pins = len(pin_arr)
        else:
            cand, scores, n_pins = idx.astype(np.int64), sc, 0
        ok = cand != anchor
        if blocked is not None:
            ok &= ~blocked[cand]
        if blocked_pairs is not None and len(blocked_pairs):
            ok &= ~np.isin(cand, blocked_pairs)
        if keep is not None:
            ok &= keep.keep(catalog, cand)
        pinned = np.arange(len(cand)) < n_pins
        cand, scores, pinned = cand[ok], scores[ok], pinned[ok]
        if diverse:
            order = _diversify(catalog.leaf_category[cand], int(pinned.sum()), k)
            cand, scores, pinned = cand[order], scores[order], pinned[order]
        return Ranked(cand[:k], scores[:k], pinned[:k])

    def score_of(self, rel: str, anchor: int, other: int) -> tuple[float, int] | None:
        """(score, 1-based rank) of `other` in `anchor`'s `rel` list, None when it is not listed."""
        csr = self.lists[rel]
        lo, hi = int(csr.indptr[anchor]), int(csr.indptr[anchor + 1])
        where = np.flatnonzero(csr.indices[lo:hi] == other)
        if not len(where):
            return None
        assert csr.weights is not None
        return float(csr.weights[lo + where[0]]), int(where[0]) + 1

    def smoke_test(self, catalog: Catalog) -> None:
        """Answer a few real queries the way resolvers do; any exception means the index must not serve."""
        for rel in RELATIONS:
            degree = self.lists[rel].degree()
            busy = np.flatnonzero(degree)[:3]
            for anchor in busy.tolist():
                ranked = self.related(catalog, rel, anchor, 10, diverse=True)
                if not len(ranked.positions) and degree[anchor] > 1:
                    raise ArtifactError(
                        f"smoke query: {rel} of product {catalog.ids[anchor]} came back empty"
                    )
                if not np.isfinite(self.embeddings[ranked.positions] @ self.embeddings[anchor]).all():
                    raise ArtifactError("smoke query: embedding similarity is not finite")


def _diversify(groups: np.ndarray, n_fixed: int, k: int | None = None) -> np.ndarray:
    """An order over a ranked list: the first `n_fixed` stay, then the best of each group, then the rest by rank.

    With `k`, only the first `k` of that order are returned. A list is at most :data:`MAX_LIST` long, where a
    plain loop beats numpy's sort-based unique several times over, and stops as soon as `k` are known.
    """
    need = len(groups) if k is None else k
    seen: set[int] = set()
    firsts, others = list(range(min(n_fixed, len(groups)))), []
    for i, g in enumerate(groups[n_fixed:].tolist(), start=n_fixed):
        if len(firsts) >= need:
            break
        if g in seen:
            others.append(i)
        else:
            seen.add(g)
            firsts.append(i)
    return np.asarray((firsts + others)[:need], dtype=np.int64)


def _normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _row_normalized(m: sp.csr_matrix) -> sp.csr_matrix:
    deg = np.asarray(m.sum(axis=1)).ravel()
    inv = np.divide(1.0, deg, out=np.zeros_like(deg, dtype=np.float64), where=deg > 0)
    return sp.diags(inv.astype(np.float32)) @ m


def projection_embeddings(snapshot: Snapshot, dim: int, seed: int = 0) -> np.ndarray:
    """FastRP-style embeddings: a fixed random sign matrix averaged over two hops of the co-occurrence graph.

    Hops go through co-purchase/co-view lists (both directions), shared customers and shared categories, each
    degree-normalized, so products with similar neighbourhoods get similar vectors. O(edges x dim), seeded: the
    same snapshot always gives the same embeddings (no training; a stand-in until a model is promoted).
    """
    n = snapshot.n("Product")

    def bipartite(type_: str, n_other: int, product_is_src: bool) -> sp.csr_matrix:
        src, dst = snapshot.rel(type_).coo()
        rows, cols = (src, dst) if product_is_src else (dst, src)
        return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, n_other))

    co = sum(
        (bipartite(t, n, True) for t in CO_PURCHASE_TYPES),
        sp.csr_matrix((n, n), dtype=np.float32),
    )
    co = _row_normalized((co + co.T).tocsr())
    hubs = [
        sum(bipartite(t, snapshot.n("Customer"), False) for t in INTERACTION_TYPES),
        bipartite("IN_CATEGORY", snapshot.n("Category"), True),
    ]
    hops = [(_row_normalized(h.tocsr()), _row_normalized(h.T.tocsr())) for h in hubs]

    def hop(x: np.ndarray) -> np.ndarray:
        y = co @ x
        for down, up in hops:
            y = y + down @ (up @ x)
        return _normalize(np.asarray(y, dtype=np.float32))

    rng = np.random.default_rng(seed)
    base = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n, dim))
    first = hop(base)
    return _normalize(first + hop(first))


def observed_index(snapshot: Snapshot, dim: int) -> ServingIndex:
    """The index before any model: observed lists ranked in list order (score 1/rank), projection embeddings."""
    lists = {}
    for rel, type_ in OBSERVED_LISTS.items():
        csr = snapshot.rel(type_)
        rank = np.arange(csr.nnz) - np.repeat(csr.indptr[:-1], csr.degree())
        lists[rel] = CSR(csr.indptr, csr.indices, csr.n_cols, weights=(1.0 / (1.0 + rank)).astype(np.float32))
    return ServingIndex(
        version=OBSERVED_VERSION,
        source="snapshot",
        lists=lists,
        embeddings=projection_embeddings(snapshot, dim),
    )


def model_index(version: str, artifact: ServingArtifact, catalog: Catalog) -> ServingIndex:
    """A registry artifact re-expressed in catalog positions; refused when it names products the catalog lacks.

    Catalog products the artifact does not cover get empty lists and zero embeddings (logged): a model trained
    before a load still serves the products it knows.
    """
    artifact.validate()
    pos = catalog.positions(artifact.product_ids)
    unknown = np.flatnonzero(pos < 0)
    if len(unknown):
        raise ArtifactError(
            f"{len(unknown)} of {len(pos)} product ids are not in the catalog "
            f"(first: {artifact.product_ids[unknown[0]]!r}): the model was trained on another graph"
        )
    if len(pos) < catalog.n:
        log.warning("model %s covers %d of %d catalog products", version, len(pos), catalog.n)
    order = np.argsort(pos, kind="stable")  # artifact rows in catalog order
    lists = {}
    for rel in RELATIONS:
        idx = artifact.neighbors[rel][order]
        mask = idx >= 0
        counts = np.zeros(catalog.n, dtype=np.int64)
        counts[pos[order]] = mask.sum(axis=1)
        indptr = np.zeros(catalog.n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        lists[rel] = CSR(
            indptr,
            pos[idx[mask]].astype(np.int32),
            catalog.n,
            weights=artifact.scores[rel][order][mask].astype(np.float32),
        )
    emb = np.zeros((catalog.n, artifact.embeddings.shape[1]), dtype=np.float32)
    emb[pos] = artifact.embeddings
    return ServingIndex(version=version, source="registry", lists=lists, embeddings=_normalize(emb))


class ModelWatcher:
    """Polls the registry's PROMOTED and hands a newly promoted, validated, smoke-tested index to `swap`.

    A run that fails any check is refused with its reason logged, and not retried until PROMOTED is rewritten;
    the index already serving keeps serving. Loading runs in a worker thread so requests keep flowing.
    """

    def __init__(
        self,
        registry: Registry,
        catalog: Catalog,
        swap: Callable[[ServingIndex], None],
        on_refuse: Callable[[str, str], None] = lambda version, reason: None,
    ) -> None:
        self.registry = registry
        self.catalog = catalog
        self.swap = swap
        self.on_refuse = on_refuse
        self.current: str | None = None
        self.refused: dict[str, str] = {}
        self._refused_stamp: dict[str, int] = {}

    def load(self, version: str) -> ServingIndex:
        """Load, validate and smoke-test `version` (blocking; raises ArtifactError with the reason)."""
        index = model_index(version, self.registry.load_serving(version), self.catalog)
        index.smoke_test(self.catalog)
        return index

    def _stamp(self) -> int:
        try:
            return (Path(self.registry.root) / "PROMOTED").stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    async def check(self) -> bool:
        """Load the promoted run if it is new; True when an index was swapped in."""
        version = await asyncio.to_thread(self.registry.promoted)
        if version is None or version == self.current:
            return False
        stamp = self._stamp()
        if self._refused_stamp.get(version) == stamp:
            return False
        try:
            index = await asyncio.to_thread(self.load, version)
        except (ArtifactError, OSError, ValueError) as e:
            reason = str(e)
            self.refused[version] = reason
            self._refused_stamp[version] = stamp
            log.error("model %s refused, still serving %s: %s", version, self.current, reason)
            self.on_refuse(version, reason)
            return False
        self.current = version
        self.refused.pop(version, None)
        self.swap(index)
        log.info("model %s is serving", version)
        return True

    async def run(self, interval_s: float) -> None:
        """Check forever, every `interval_s`; an unexpected error is logged and the loop goes on."""
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("model watcher: unexpected error; will retry")
            await asyncio.sleep(interval_s)
