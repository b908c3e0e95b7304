"""The walk graph of a relation: one homogeneous CSR over products and customers, biased by relationship type.

:class:`WalkGraph` (built once per relation from a :class:`~graph.snapshot.Snapshot`) is one CSR over products
(ids ``0..P-1``) and customers (``P..P+C-1``):

- customer interactions (REVIEWED, PURCHASED, VIEWED) in both directions, product -> customer being the transpose,
  so a walk goes product -> customer -> product as Pixie's pin -> board -> pin;
- co-purchase lists (ALSO_BOUGHT, BOUGHT_TOGETHER, ALSO_VIEWED) product -> product *forward only*: complements are
  directional (ALSO_BOUGHT a -> b says b completes a, not the reverse). ALSO_VIEWED is walked both ways for
  substitutes, which are symmetric (DESIGN.md).

Relation bias: each relationship type has a non-negative integer weight (:data:`RELATION_WEIGHTS`; 0 leaves the
type out) and an edge of weight ``w`` is stored ``w`` times, so a uniform pick among a node's stored out-edges
picks an edge with probability proportional to its weight. Complement walks follow ALSO_BOUGHT, BOUGHT_TOGETHER,
purchases and reviews; substitute walks follow ALSO_VIEWED, views and reviews. Integer multiplicities, not
float weights, because they keep each step to one uniform draw and one memory read (see
:mod:`graph.walks.numpy_kernel`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from graph.schema import CO_PURCHASE_TYPES, INTERACTION_TYPES
from graph.snapshot import Snapshot

# interactions (customer -> product) are walked both ways; co-purchase lists forward (BOTH_WAYS aside)
# Integer multiplicity of each relationship type in the walk graph of a relation (0 or absent: not walked).
RELATION_WEIGHTS: dict[str, dict[str, int]] = {
    # tuned on the Beauty set (bench/walk_recall.py): a co-purchase list is the strongest complement signal
    "complement": {"ALSO_BOUGHT": 8, "BOUGHT_TOGETHER": 8, "PURCHASED": 2, "REVIEWED": 1},
    # by analogy, untuned: no held-out substitute benchmark yet
    "substitute": {"ALSO_VIEWED": 8, "VIEWED": 2, "REVIEWED": 1},
}
# Co-purchase types walked in both directions for a relation (substitution is symmetric, completion is not).
BOTH_WAYS: dict[str, tuple[str, ...]] = {"complement": (), "substitute": ("ALSO_VIEWED",)}


@dataclass(frozen=True)
class WalkGraph:
    """A homogeneous CSR over products then customers; an edge of weight ``w`` is stored ``w`` times.

    Rows are sorted by target, so the copies of one edge are adjacent (:func:`~graph.walks.cugraph_kernel.cugraph_arguments` merges them back).
    """

    indptr: np.ndarray  # int64 [n_nodes + 1]
    indices: np.ndarray  # int32 [nnz]
    n_products: int
    relation: str = "custom"
    weights: Mapping[str, int] = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        return len(self.indices)

    def out_degree(self) -> np.ndarray:
        return np.diff(self.indptr)

    def in_degree(self) -> np.ndarray:
        return np.bincount(self.indices, minlength=self.n_nodes)

    @staticmethod
    def from_edges(
        src: np.ndarray,
        dst: np.ndarray,
        n_nodes: int,
        n_products: int,
        multiplicity: np.ndarray | None = None,
        relation: str = "custom",
        weights: Mapping[str, int] | None = None,
    ) -> WalkGraph:
        """Build from directed edges (duplicates add up); `multiplicity` (non-negative ints) defaults to 1."""
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        if len(src) != len(dst):
            raise ValueError("src and dst differ in length")
        if len(src) and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n_nodes):
            raise ValueError("an edge end is outside 0..n_nodes-1")
        if n_nodes >= 2**31:
            raise ValueError("node ids must fit int32")
        mult = np.ones(len(src), np.int64) if multiplicity is None else np.asarray(multiplicity, np.int64)
        if len(mult) != len(src) or (len(mult) and mult.min() < 0):
            raise ValueError("multiplicity must be one non-negative integer per edge")
        order = np.argsort(src * n_nodes + dst, kind="stable")
        src, dst, mult = src[order], dst[order], mult[order]
        indptr = np.zeros(n_nodes + 1, np.int64)
        np.cumsum(np.bincount(src, weights=mult, minlength=n_nodes).astype(np.int64), out=indptr[1:])
        return WalkGraph(
            indptr=indptr,
            indices=np.repeat(dst, mult).astype(np.int32),
            n_products=n_products,
            relation=relation,
            weights=dict(weights or {}),
        )

    @staticmethod
    def from_snapshot(
        snapshot: Snapshot,
        relation: str = "complement",
        weights: Mapping[str, int] | None = None,
        both_ways: tuple[str, ...] | None = None,
    ) -> WalkGraph:
        """The walk graph of `relation` ("complement" or "substitute"); `weights` overrides the type weights,
        `both_ways` the co-purchase types walked in both directions (default :data:`BOTH_WAYS` of the relation)."""
        if relation not in RELATION_WEIGHTS:
            raise ValueError(f"relation must be one of {sorted(RELATION_WEIGHTS)}, not {relation!r}")
        w = dict(RELATION_WEIGHTS[relation] if weights is None else weights)
        unknown = set(w) - set(INTERACTION_TYPES) - set(CO_PURCHASE_TYPES)
        if unknown:
            raise ValueError(f"cannot walk {sorted(unknown)}: only {INTERACTION_TYPES + CO_PURCHASE_TYPES}")
        if any(int(v) != v or v < 0 for v in w.values()):
            raise ValueError(f"type weights are edge multiplicities: non-negative integers, not {w}")
        n_p, n_c = snapshot.n("Product"), snapshot.n("Customer")
        srcs, dsts, mults = [], [], []

        def add(s: np.ndarray, d: np.ndarray, m: int) -> None:
            srcs.append(s)
            dsts.append(d)
            mults.append(np.full(len(s), m, np.int64))

        for type_, m in w.items():
            if m == 0:
                continue
            s, d = snapshot.rel(type_).coo()
            if type_ in INTERACTION_TYPES:
                add(n_p + s, d, int(m))
                add(d, n_p + s, int(m))
            else:
                add(s, d, int(m))
                if type_ in (BOTH_WAYS[relation] if both_ways is None else both_ways):
                    add(d, s, int(m))
        empty = np.empty(0, np.int64)
        return WalkGraph.from_edges(
            np.concatenate(srcs) if srcs else empty,
            np.concatenate(dsts) if dsts else empty,
            n_p + n_c,
            n_p,
            np.concatenate(mults) if mults else empty,
            relation=relation,
            weights=w,
        )
