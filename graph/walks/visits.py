"""Session queries answered from each product's own walk, walked once and kept: :class:`ProductVisits`."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from graph.walks.counts import top_candidates
from graph.walks.params import WalkParams
from graph.walks.results import Candidates
from graph.walks.walker import Walker


class ProductVisits:
    """Multi-product queries (a session's seeds) answered from each product's own walk, walked once and kept.

    Walker.query walks every query afresh: for a session that changes with each event, 5,000 steps cost about a
    millisecond, nearly all of it numpy's per-call overhead. Here each product's walk (``params.steps`` steps from
    it alone, its top `k` visits) is kept, and a query combines them as Pixie's multi-hit booster would combine
    the per-product counts of one joint walk: product i's counts scaled by its share of the steps
    (:meth:`Walker.step_shares`), then (sum_i sqrt(V_i[p]))**2 over the degree norm. Each seed so gets a whole
    walk's steps instead of a share of one. The answer depends only on the query: the `precompute` products (the
    most asked) are walked at start in one batch, any other on first use alone, seeded by its own id, and kept
    in an LRU of `max_cached`. Safe to share between threads.
    """

    def __init__(
        self,
        walker: Walker,
        params: WalkParams,
        k: int,
        precompute: np.ndarray | None = None,
        max_cached: int = 10_000,
        seed: int = 0,
    ) -> None:
        self.walker, self.params, self.k, self.max_cached, self.seed = walker, params, k, max_cached, seed
        self._norm = walker.norm(params.degree_norm)
        self._row_of = np.full(walker.graph.n_products, -1, np.int64)
        self._candidates = np.empty((0, k), np.int32)
        self._scores = np.empty((0, k), np.float32)
        if precompute is not None and len(precompute):
            pre = walker.batch(np.asarray(precompute, np.int64), k=k, params=params, seed=seed)
            self._candidates, self._scores = pre.candidates, pre.counts
            self._row_of[pre.queries] = np.arange(len(pre.queries))
        self._cached: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def visits(self, product: int) -> tuple[np.ndarray, np.ndarray]:
        """(products, degree-normalized visit counts) of `product`'s own walk, its top k, itself left out."""
        row = int(self._row_of[product])
        if row >= 0:
            cand = self._candidates[row]
            n = int(np.count_nonzero(cand >= 0))
            return cand[:n].astype(np.int64), self._scores[row, :n]
        with self._lock:
            kept = self._cached.get(product)
            if kept is not None:
                self._cached.move_to_end(product)
                return kept
        found = self.walker.query(product, k=self.k, params=self.params, seed=self.seed + product)
        kept = (found.products, found.scores)
        with self._lock:
            self._cached[product] = kept
            while len(self._cached) > self.max_cached:
                self._cached.popitem(last=False)
        return kept

    def query(self, products: Mapping[int, float], k: int) -> Candidates:
        """The top `k` for weighted query products (``{product: weight}``), none of them among the answers."""
        exclude, q, w = self.walker.query_products(products)
        if len(q) == 0:
            return Candidates(np.empty(0, np.int64), np.empty(0, np.float32), 0, False)
        nodes, roots = [], []
        for product, share in zip(q.tolist(), self.walker.step_shares(q, w).tolist(), strict=True):
            cand, score = self.visits(product)
            nodes.append(cand)
            # V_i: this walk's counts as the share of a joint walk's steps would have seen them
            roots.append(np.sqrt(score * self._norm[cand] * share))
        uniq, inverse = np.unique(np.concatenate(nodes), return_inverse=True)
        boosted = np.bincount(inverse, weights=np.concatenate(roots), minlength=len(uniq)) ** 2
        return top_candidates(uniq, boosted / self._norm[uniq], exclude, k, self.params.steps * len(q), False)
