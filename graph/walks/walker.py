"""Pixie walks over one walk graph on one backend: :class:`Walker`.

The walk, for query products ``q_1..q_m`` with weights ``w_i``:

1. Steps are shared out as Pixie does: ``N_i = N * w_i * s_i / sum_j w_j s_j`` with
   ``s_i = deg(q_i) * (C - log deg(q_i))`` and ``C`` the largest out-degree of a product.
2. ``N_i / walk_length`` walkers start at ``q_i`` and step in lockstep. Before each step a walker jumps back to its
   query with probability ``restart`` (alpha), and always when it stands on a node without out-edges; then it
   moves along one out-edge, picked with probability proportional to the edge's weight. One step is one edge
   traversal.
3. ``V_i[p]`` counts the visits of walkers from ``q_i`` to product ``p`` (customers are not candidates).
   Every ``check_every`` steps the walk stops early once ``n_p`` products have been visited at least ``n_v`` times.
4. Query products are combined with Pixie's multi-hit booster ``V[p] = (sum_i sqrt(V_i[p]))^2``, counts are
   divided by ``in_degree(p) ** degree_norm`` (a popularity correction: 0 keeps raw counts, 1 divides out the
   stationary popularity of an undirected walk), the query products are removed, and the top ``k`` are kept.

:meth:`Walker.batch` walks every product (or a given list) with the same budget (default ``steps=10_000``) and no
early stopping, so every product gets comparable evidence, and returns
:class:`~graph.walks.results.BatchCandidates`, saved by :func:`~graph.walks.artifact.save_candidates`. The
kernel (:mod:`graph.walks.kernel`) only starts, steps and counts walkers; everything above is here, the same for
every backend.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from graph.walks.backends import choose_backend, make_kernel
from graph.walks.counts import count_rows, top_candidates, top_k_rows
from graph.walks.params import WalkParams
from graph.walks.results import BatchCandidates, Candidates, WalkPaths
from graph.walks.torch_kernel import single_intra_op_thread
from graph.walks.walk_graph import WalkGraph

log = logging.getLogger("kgrec.walks")


class Walker:
    """Pixie walks over one :class:`WalkGraph` on one backend.

    `backend` is resolved by :func:`choose_backend`; :attr:`backend` is the one chosen and :attr:`reason` why.
    `device` picks the torch device (default: CUDA when present); `threads` caps the batch threads of the CPU
    backends (default: the machine's cores). A Walker is safe to share between threads.
    """

    def __init__(
        self,
        graph: WalkGraph,
        backend: str = "auto",
        *,
        device: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.graph = graph
        self.backend, self.reason = choose_backend(backend)
        self._kernel = make_kernel(self.backend, graph, device)
        log.info("walks backend=%s reason=%r relation=%s", self.backend, self.reason, graph.relation)
        self.threads = max(1, threads or os.cpu_count() or 1)
        self.on_cpu = self._kernel.on_cpu
        p = graph.n_products
        self._out_degree = graph.out_degree()[:p]
        self._c = float(max(int(self._out_degree.max(initial=0)), 1))  # Pixie's C: the largest product degree
        self._in_degree = np.maximum(graph.in_degree()[:p], 1).astype(np.float64)
        self._norms: dict[float, np.ndarray] = {}  # in_degree ** degree_norm, per degree_norm asked for
        self._local = threading.local()  # per-thread dense count buffer for single queries

    def __repr__(self) -> str:
        return (
            f"Walker(backend={self.backend!r}, relation={self.graph.relation!r}, nodes={self.graph.n_nodes})"
        )

    def paths(
        self,
        starts: Sequence[int] | np.ndarray,
        n_steps: int,
        *,
        restart: float = 0.0,
        seed: int | None = None,
    ) -> WalkPaths:
        """One walker per entry of `starts`, `n_steps` steps each, every step recorded (tests and debugging)."""
        starts = np.asarray(starts, np.int64)
        self._check_walkable(starts)
        WalkParams(restart=restart)  # validates
        state = self._kernel.start(starts, np.random.SeedSequence(seed))
        visits, restarted = self._kernel.advance(state, n_steps, restart, record_restarts=True)
        nodes = np.empty((len(starts), n_steps + 1), np.int32)
        nodes[:, 0] = starts
        nodes[:, 1:] = self._kernel.to_numpy(visits).T
        return WalkPaths(nodes=nodes, restarted=np.ascontiguousarray(self._kernel.to_numpy(restarted).T))

    def query(
        self,
        products: int | Sequence[int] | Mapping[int, float],
        k: int = 100,
        params: WalkParams | None = None,
        seed: int | None = None,
    ) -> Candidates:
        """Candidates for one product, or for several weighted ones (a session: ``{product: weight}``)."""
        params = params or WalkParams()
        exclude, q, w = self.query_products(products)
        if len(q) == 0:
            return Candidates(np.empty(0, np.int64), np.empty(0, np.float32), 0, False)
        walkers = np.maximum(1, np.round(params.steps * self.step_shares(q, w) / params.walk_length)).astype(
            np.int64
        )
        group = np.repeat(np.arange(len(q)), walkers)
        state = self._kernel.start(np.repeat(q, walkers), np.random.SeedSequence(seed))

        buf = self._count_buffer()
        touched: list[np.ndarray] = []
        per_query: list[tuple[np.ndarray, ...]] = []
        hits, done, stopped = 0, 0, False
        chunk = params.check_every if params.n_v > 0 else params.walk_length
        while done < params.walk_length and not stopped:
            n = min(chunk, params.walk_length - done)
            visits, _ = self._kernel.advance(state, n, params.restart)
            done += n
            g, node, c = self._kernel.count(visits, group, self.graph.n_products)
            if len(q) > 1:
                per_query.append((g, node, c))
                node, inv = np.unique(node, return_inverse=True)
                c = np.bincount(inv, weights=c).astype(np.int64)
            before = buf[node]
            buf[node] = before + c
            touched.append(node[before == 0])
            if params.n_v > 0:
                hits += int(np.count_nonzero((before < params.n_v) & (before + c >= params.n_v)))
                stopped = hits >= params.n_p and done < params.walk_length
        cand = np.concatenate(touched)
        visits_of = buf[cand].astype(np.float64)
        buf[cand] = 0
        if len(q) > 1:
            visits_of = self._boost(per_query, cand)
        score = visits_of / self.norm(params.degree_norm)[cand]
        return top_candidates(cand, score, exclude, k, int(done * len(group)), stopped)

    def batch(
        self,
        products: Sequence[int] | np.ndarray | None = None,
        k: int = 100,
        params: WalkParams | None = None,
        seed: int = 0,
        progress: Callable[[int], None] | None = None,
    ) -> BatchCandidates:
        """Candidates for every product (or for `products`), each from its own walk of ``params.steps`` steps.

        Queries are walked in chunks whose walkers step in lockstep; on the CPU the chunks run on `threads`
        threads. Each chunk has its own seed derived from `seed`, so the result does not depend on the threads.
        `progress(n)` is called as each chunk of n queries finishes. Early stopping is off in batch mode.
        """
        params = params or WalkParams(steps=10_000)
        p = self.graph.n_products
        queries = np.arange(p, dtype=np.int64) if products is None else np.asarray(products, np.int64)
        self._check_products(queries)
        cand = np.full((len(queries), k), -1, np.int32)
        vals = np.zeros((len(queries), k), np.float32)
        rows = np.flatnonzero(self._out_degree[queries] > 0)  # a product without out-edges has no walk
        per = max(1, math.ceil(params.steps / params.walk_length))
        norm = self.norm(params.degree_norm)
        size = max(1, self._kernel.lockstep // per)
        chunks = [rows[i : i + size] for i in range(0, len(rows), size)]

        def run(i: int) -> tuple[int, np.ndarray, np.ndarray]:
            qs = queries[chunks[i]]
            state = self._kernel.start(np.repeat(qs, per), np.random.SeedSequence(seed, spawn_key=(i,)))
            visits, _ = self._kernel.advance(state, params.walk_length, params.restart)
            if self.on_cpu:
                g, node, c = count_rows(self._kernel.to_numpy(visits), per, p)
            else:
                g, node, c = self._kernel.count(visits, np.repeat(np.arange(len(qs)), per), p)
            keep = node != qs[g]
            g, node = g[keep], node[keep]
            return i, *top_k_rows(g, node, c[keep] / norm[node], len(qs), k)

        def collect(i: int, c: np.ndarray, v: np.ndarray) -> None:
            cand[chunks[i]], vals[chunks[i]] = c, v
            if progress is not None:
                progress(len(chunks[i]))

        if self.on_cpu and self.threads > 1 and len(chunks) > 1:
            # torch on the CPU: chunks on our threads, each operation on its calling thread (torch's own intra-op
            # threads on top would put two threads on each core); restored after
            intra = single_intra_op_thread() if self.backend == "torch" else contextlib.nullcontext()
            with intra, ThreadPoolExecutor(self.threads) as pool:
                for out in pool.map(run, range(len(chunks))):
                    collect(*out)
        else:
            for i in range(len(chunks)):
                collect(*run(i))
        if progress is not None and len(queries) > len(rows):
            progress(len(queries) - len(rows))
        return BatchCandidates(
            queries=queries, candidates=cand, counts=vals, steps=int(len(rows) * per * params.walk_length)
        )

    def query_products(
        self, products: int | Sequence[int] | Mapping[int, float]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(every query product, those that walk, their weights): a product walks with out-edges and weight > 0."""
        if isinstance(products, Mapping):
            q = np.fromiter(products.keys(), np.int64, len(products))
            w = np.fromiter(products.values(), np.float64, len(products))
        else:
            q = np.atleast_1d(np.asarray(products, np.int64))
            w = np.ones(len(q))
        self._check_products(q)
        ok = (self._out_degree[q] > 0) & (w > 0)
        return q, q[ok], w[ok]

    def step_shares(self, q: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Pixie's allocation of a query's steps over its products `q` (weights `w`, each with out-edges): in
        proportion to weight x degree x (C - log degree), summing to 1."""
        deg = self._out_degree[q].astype(np.float64)
        share = w * deg * (self._c - np.log(deg))
        return share / share.sum()

    def _boost(self, per_query: list[tuple[np.ndarray, ...]], cand: np.ndarray) -> np.ndarray:
        """Pixie's multi-hit booster over query products: (sum_i sqrt(V_i[p]))**2, aligned with `cand`."""
        g, node, c = (np.concatenate(a) for a in zip(*per_query, strict=True))
        keys, inv = np.unique(g * self.graph.n_products + node, return_inverse=True)
        per = np.bincount(inv, weights=c)  # V_i[p], summed over rounds
        nodes, inv = np.unique(keys % self.graph.n_products, return_inverse=True)  # the same set as `cand`
        boosted = np.bincount(inv, weights=np.sqrt(per)) ** 2
        return boosted[np.searchsorted(nodes, cand)]

    def norm(self, degree_norm: float) -> np.ndarray:
        """``in_degree ** degree_norm`` per product, the popularity correction of the scores; computed once per
        `degree_norm` asked for, because every query divides by it."""
        norm = self._norms.get(degree_norm)
        if norm is None:
            norm = self._norms[degree_norm] = self._in_degree**degree_norm
        return norm

    def _count_buffer(self) -> np.ndarray:
        buf = getattr(self._local, "buf", None)
        if buf is None:
            buf = self._local.buf = np.zeros(self.graph.n_products, np.int64)
        return buf

    def _check_products(self, q: np.ndarray) -> None:
        if len(q) and (q.min() < 0 or q.max() >= self.graph.n_products):
            raise ValueError("query ids must be product ids, 0..n_products-1")

    def _check_walkable(self, starts: np.ndarray) -> None:
        if len(starts) and (starts.min() < 0 or starts.max() >= self.graph.n_nodes):
            raise ValueError("start ids must be node ids, 0..n_nodes-1")
        if len(starts) and (self.graph.out_degree()[starts] == 0).any():
            raise ValueError("a walk cannot start on a node without out-edges")
