"""The serving index: one model's ranked complement and substitute lists and its embeddings, in memory.

A :class:`ServingIndex` is over catalog positions (api/catalog.py), immutable, and swapped whole (one reference
assignment) when the model watcher (api/watcher.py) sees a new promoted run, so a request never mixes two
models. :func:`model_index` re-expresses a registry artifact in catalog positions.

Before any model is promoted the index comes from the snapshot's observed lists (:func:`observed_index`): each
relation's label list (graph/schema.py LABEL_TYPE: complement = ALSO_BOUGHT, substitute = ALSO_VIEWED), ranked
in list order, with random-projection embeddings of the co-occurrence graph (FastRP-style: a fixed-seed sketch,
cheap and deterministic, not learned).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from api.catalog import Catalog, Filter
from gnn.registry import ArtifactError, ServingArtifact
from graph.schema import CO_PURCHASE_TYPES, INTERACTION_TYPES, LABEL_TYPE, RELATIONS
from graph.snapshot import CSR, Snapshot

log = logging.getLogger(__name__)

OBSERVED_VERSION = "observed-lists"
MAX_LIST = 500  # a ranked list is read no further: bounds the work of one request on a hub product


@dataclass(frozen=True)
class Ranked:
    """A ranked answer: catalog positions, scores (descending), and which entries a merchandiser pinned."""

    positions: np.ndarray  # int64
    scores: np.ndarray  # float32
    pinned: np.ndarray  # bool


@dataclass(frozen=True)
class ServingIndex:
    """One model's ranked lists and embeddings over catalog positions; immutable, swapped whole on reload.

    ``lists[relation]`` is a :class:`~graph.snapshot.CSR` over catalog positions whose ``weights`` are the scores, each
    row ranked best first. ``embeddings`` are L2-normalized float32 ``[n, d]`` (zero rows where unknown), so a dot
    product is the cosine similarity.
    """

    version: str
    source: str  # "registry" or "snapshot"
    lists: dict[str, CSR]
    embeddings: np.ndarray
    loaded_at: float = field(default_factory=time.time)
    # what each product is for, by the model (int64 [n], from the artifact's groups): `diverse` spreads a list
    # over these; None: over leaf categories
    groups: np.ndarray | None = None

    def row(self, relation: str, pos: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions, scores) of `pos`'s `relation` list, best first, at most :data:`MAX_LIST` long."""
        csr = self.lists[relation]
        lo = int(csr.indptr[pos])
        hi = min(int(csr.indptr[pos + 1]), lo + MAX_LIST)
        assert csr.weights is not None
        return csr.indices[lo:hi], csr.weights[lo:hi]

    def related(
        self,
        catalog: Catalog,
        relation: str,
        anchor: int,
        k: int,
        *,
        pins: tuple[int, ...] = (),
        blocked: np.ndarray | None = None,
        blocked_pairs: np.ndarray | None = None,
        keep: Filter | None = None,
        diverse: bool = False,
        exclude_similar: int = 0,
    ) -> Ranked:
        """The top `k` of `anchor`'s `relation` list after rules and filters.

        Pins come first (in pin order, with the list's top score so scores stay descending); then blocked
        products (`blocked`: a bool mask over the catalog; `blocked_pairs`: positions blocked for this anchor)
        and filtered ones are removed; pins obey blocks and filters too, since a block is the stronger statement.
        With `diverse`, the unpinned rest takes the best product of each group first (the model's groups of what
        a product is for, else leaf categories), then fills by rank. With `exclude_similar` N, a complement list
        loses the anchor's top N substitutes (what a bundle is not: gnn/labels.py); pins stay.
        """
        idx, sc = self.row(relation, anchor)
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
        if exclude_similar > 0 and relation == "complement":
            similar = self.row("substitute", anchor)[0][:exclude_similar]
            ok &= pinned | ~np.isin(cand, similar)
        cand, scores, pinned = cand[ok], scores[ok], pinned[ok]
        if diverse:
            groups = catalog.leaf_category if self.groups is None else self.groups
            order = diversify(groups[cand], int(pinned.sum()), k)
            cand, scores, pinned = cand[order], scores[order], pinned[order]
        return Ranked(cand[:k], scores[:k], pinned[:k])

    def score_of(self, relation: str, anchor: int, other: int) -> tuple[float, int] | None:
        """(score, 1-based rank) of `other` in `anchor`'s `relation` list, None when it is not listed."""
        csr = self.lists[relation]
        lo, hi = int(csr.indptr[anchor]), int(csr.indptr[anchor + 1])
        where = np.flatnonzero(csr.indices[lo:hi] == other)
        if not len(where):
            return None
        assert csr.weights is not None
        return float(csr.weights[lo + where[0]]), int(where[0]) + 1

    def smoke_test(self, catalog: Catalog) -> None:
        """Answer a few real queries the way resolvers do; any exception means the index must not serve."""
        for relation in RELATIONS:
            degree = self.lists[relation].degree()
            busy = np.flatnonzero(degree)[:3]
            for anchor in busy.tolist():
                ranked = self.related(catalog, relation, anchor, 10, diverse=True)
                if not len(ranked.positions) and degree[anchor] > 1:
                    raise ArtifactError(
                        f"smoke query: {relation} of product {catalog.ids[anchor]} came back empty"
                    )
                if not np.isfinite(self.embeddings[ranked.positions] @ self.embeddings[anchor]).all():
                    raise ArtifactError("smoke query: embedding similarity is not finite")


def diversify(groups: np.ndarray, n_fixed: int, k: int | None = None) -> np.ndarray:
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
    for relation, type_ in LABEL_TYPE.items():
        csr = snapshot.rel(type_)
        rank = np.arange(csr.nnz) - np.repeat(csr.indptr[:-1], csr.degree())
        lists[relation] = CSR(
            csr.indptr, csr.indices, csr.n_cols, weights=(1.0 / (1.0 + rank)).astype(np.float32)
        )
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
    for relation in RELATIONS:
        idx = artifact.neighbors[relation][order]
        mask = idx >= 0
        counts = np.zeros(catalog.n, dtype=np.int64)
        counts[pos[order]] = mask.sum(axis=1)
        indptr = np.zeros(catalog.n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        lists[relation] = CSR(
            indptr,
            pos[idx[mask]].astype(np.int32),
            catalog.n,
            weights=artifact.scores[relation][order][mask].astype(np.float32),
        )
    emb = np.zeros((catalog.n, artifact.embeddings.shape[1]), dtype=np.float32)
    emb[pos] = artifact.embeddings
    groups = None
    if artifact.groups is not None:
        # a product the artifact does not cover is a group of its own (negative ids, apart from the model's)
        groups = -1 - np.arange(catalog.n, dtype=np.int64)
        groups[pos] = artifact.groups
    return ServingIndex(
        version=version, source="registry", lists=lists, embeddings=_normalize(emb), groups=groups
    )
