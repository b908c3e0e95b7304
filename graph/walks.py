"""Pixie-style random-walk candidate generation over the product graph, with three backends.

Pixie (C. Eksombatchai et al., "Pixie: A System for Recommending 3+ Billion Items to 200+ Million Users in
Real-Time", WWW 2018) answers "what goes with these items?" by random walks with restart from the query items over
a bipartite item-user graph, counting how often each item is visited. This module does the same over the product
knowledge graph.

The walk graph (:class:`WalkGraph`, built once per relation from a :class:`~graph.snapshot.Snapshot`) is one
homogeneous CSR over products (ids ``0..P-1``) and customers (``P..P+C-1``):

- customer interactions (REVIEWED, PURCHASED, VIEWED) in both directions, product -> customer being the transpose,
  so a walk goes product -> customer -> product as Pixie's pin -> board -> pin;
- co-purchase lists (ALSO_BOUGHT, BOUGHT_TOGETHER, ALSO_VIEWED) product -> product *forward only*: complements are
  directional (ALSO_BOUGHT a -> b says b completes a, not the reverse). ALSO_VIEWED is walked both ways for
  substitutes, which are symmetric (DESIGN.md).

Relation bias: each relationship type has a non-negative integer weight (:data:`RELATION_WEIGHTS`; 0 leaves the
type out) and an edge of weight ``w`` is stored ``w`` times, so a uniform pick among a node's stored out-edges
picks an edge with probability proportional to its weight. Complement walks follow ALSO_BOUGHT, BOUGHT_TOGETHER,
purchases and reviews; substitute walks follow ALSO_VIEWED, views and reviews. Integer multiplicities, not
float weights, because they keep each step to one uniform draw and one memory read (see "Speed").

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

Parameters (:class:`WalkParams`, defaults): ``restart=0.5``, ``steps=100_000`` per query, ``walk_length=10``
(steps per walker; walkers = steps / walk_length), ``n_p=200``, ``n_v=4`` (``n_v=0`` turns early stopping off),
``check_every=2``, ``degree_norm=0.2``. :meth:`Walker.batch` walks every product (or a given list) with the same
budget (default ``steps=10_000``) and no early stopping, so every product gets comparable evidence, and returns
:class:`BatchCandidates`, saved as an ``.npz`` artifact by :func:`save_candidates`.

Backends (``backend="auto"|"cugraph"|"torch"|"numpy"``; auto picks cuGraph when pylibcugraph imports and a CUDA
GPU is present, else torch when CUDA is present, else numpy; :attr:`Walker.reason` and a log line say why):

- ``numpy``: walkers in lockstep over one record per stored edge holding the target's row start, out-degree and
  id (8 bytes, bit-packed, when the graph allows; else 16), so each step is one uniform 64-bit draw, a dozen vector
  operations and one gather. Batch mode spreads chunks of queries over threads (numpy releases the GIL in these
  loops).
- ``torch``: the same walk on tensors, on CUDA when present, else on the CPU (batch chunks on threads, as numpy).
- ``cugraph``: pylibcugraph's ``uniform_random_walks`` / ``biased_random_walks`` on an ``SGGraph`` built from the
  walk graph's CSR, stored edges merged into float weights (:func:`cugraph_arguments` gives the exact arguments).
  cuGraph walks do not restart, so restarts are drawn on the host and each run between two restarts is one cuGraph
  walk; a walk that reaches a node without out-edges ends there (cuGraph pads it with -1) instead of restarting.
  This backend is exercised only where RAPIDS (the ``[gpu]`` extra) and a CUDA GPU are installed; elsewhere the
  tests check its graph building and argument mapping against pylibcugraph's documented signatures.

Batch counting lays each query's visits out as one row and sorts the rows independently (32-bit keys), and the
top-k is one packed 64-bit sort per chunk; together they cost about a third of the walk itself.

Speed: on a 2-core machine numpy and torch-CPU batch walks run at tens of millions of steps per second, and a
100,000-step single query answers in milliseconds; ``bench/walk_speed.py`` and ``bench/walk_gpu.py`` measure.
This module imports only numpy (and graph.snapshot's pyarrow) at load time; torch and pylibcugraph are imported
when a backend needs them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from graph.schema import CO_PURCHASE_TYPES, INTERACTION_TYPES
from graph.snapshot import Snapshot

log = logging.getLogger("kgrec.walks")

BACKENDS = ("auto", "cugraph", "torch", "numpy")
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

_WIDE = np.dtype("V16")  # an edge record too big to pack: int64 row start, int32 out-degree, int32 node
_MASK32 = 0xFFFFFFFF


@dataclass(frozen=True)
class WalkParams:
    """The knobs of a Pixie walk; see the module docstring for what each does."""

    restart: float = 0.5
    steps: int = 100_000
    walk_length: int = 10
    n_p: int = 200
    n_v: int = 4
    check_every: int = 2
    degree_norm: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 <= self.restart < 1.0:
            raise ValueError(f"restart must be in [0, 1), not {self.restart}")
        if self.steps < 1 or self.walk_length < 1 or self.check_every < 1:
            raise ValueError("steps, walk_length and check_every must be >= 1")
        if self.n_p < 0 or self.n_v < 0 or self.degree_norm < 0:
            raise ValueError("n_p, n_v and degree_norm must be >= 0")


@dataclass(frozen=True)
class WalkGraph:
    """A homogeneous CSR over products then customers; an edge of weight ``w`` is stored ``w`` times.

    Rows are sorted by target, so the copies of one edge are adjacent (:func:`cugraph_arguments` merges them back).
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
        snapshot: Snapshot, relation: str = "complement", weights: Mapping[str, int] | None = None
    ) -> WalkGraph:
        """The walk graph of `relation` ("complement" or "substitute"); `weights` overrides the type weights."""
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
                if type_ in BOTH_WAYS[relation]:
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


@dataclass(frozen=True)
class WalkPaths:
    """Raw walks: ``nodes[w, 0]`` is walker w's start, ``nodes[w, t+1]`` where step t took it (-1: no step).

    ``restarted[w, t]`` says the walker jumped back to its start before step t, so step t traversed the edge
    ``(start if restarted else nodes[w, t]) -> nodes[w, t+1]``.
    """

    nodes: np.ndarray  # int32 [walkers, steps + 1]
    restarted: np.ndarray  # bool [walkers, steps]


@dataclass(frozen=True)
class Candidates:
    """The answer to one query: product ids (dense snapshot ids) best first, with their scores."""

    products: np.ndarray  # int64 [<= k]
    scores: np.ndarray  # float32 [<= k]: boosted, degree-normalized visit counts
    steps: int  # steps walked
    stopped_early: bool


@dataclass(frozen=True)
class BatchCandidates:
    """Top-k candidates of many query products: row i answers ``queries[i]``; -1 pads short rows."""

    queries: np.ndarray  # int64 [n]
    candidates: np.ndarray  # int32 [n, k]
    counts: np.ndarray  # float32 [n, k]
    steps: int  # steps walked in all


@dataclass(frozen=True)
class CugraphCall:
    """The arguments of the pylibcugraph calls for a walk graph, with host (numpy) arrays.

    At call time the arrays go to the device (cupy) and the objects the library makes are added:
    ``GraphProperties(**graph_properties)``, ``SGGraph(resource_handle, graph_properties, **sg_graph)`` and
    ``getattr(pylibcugraph, walk_function)(resource_handle, input_graph, **walk)``.
    """

    graph_properties: dict[str, Any]
    sg_graph: dict[str, Any]
    walk_function: str
    walk: dict[str, Any]


def cugraph_arguments(
    graph: WalkGraph, start_vertices: np.ndarray, max_length: int, seed: int
) -> CugraphCall:
    """Map a walk graph and a walk request onto pylibcugraph's documented API.

    The graph is given as CSR (``input_array_format="CSR"``, offsets int64, indices int32) with the stored copies
    of an edge merged into one edge whose float32 weight is its multiplicity, so it is a simple directed graph
    (``is_multigraph=False``) and ``biased_random_walks`` picks edges with the same probabilities as the CPU
    backends. Ids are already dense, so no renumbering. A graph whose merged weights are all 1 uses
    ``uniform_random_walks``.
    """
    deg = graph.out_degree()
    rows = np.repeat(np.arange(graph.n_nodes, dtype=np.int64), deg)
    # copies of an edge are adjacent (rows sorted by target): a run starts where (row, target) changes
    first = np.ones(graph.nnz, bool)
    first[1:] = (rows[1:] != rows[:-1]) | (graph.indices[1:] != graph.indices[:-1])
    starts = np.flatnonzero(first)
    weight = np.diff(np.append(starts, graph.nnz)).astype(np.float32)
    offsets = np.zeros(graph.n_nodes + 1, np.int64)
    np.cumsum(np.bincount(rows[starts], minlength=graph.n_nodes), out=offsets[1:])
    return CugraphCall(
        graph_properties={"is_symmetric": False, "is_multigraph": False},
        sg_graph={
            "src_or_offset_array": offsets,
            "dst_or_index_array": graph.indices[starts].astype(np.int32),
            "weight_array": weight,
            "store_transposed": False,
            "renumber": False,
            "do_expensive_check": False,
            "input_array_format": "CSR",
        },
        walk_function="uniform_random_walks" if bool(np.all(weight == 1.0)) else "biased_random_walks",
        walk=_cugraph_walk(start_vertices, max_length, seed),
    )


def _cugraph_walk(start_vertices: np.ndarray, max_length: int, seed: int) -> dict[str, Any]:
    return {
        "start_vertices": np.asarray(start_vertices, dtype=np.int32),
        "max_length": int(max_length),
        "random_state": int(seed),
    }


def choose_backend(requested: str = "auto") -> tuple[str, str]:
    """(backend, reason): what `requested` resolves to on this machine, and why."""
    if requested not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {requested!r}")
    if requested != "auto":
        return requested, f"requested {requested}"
    cuda = _cuda_available()
    try:
        import pylibcugraph  # noqa: F401

        have_cugraph = True
    except ImportError:
        have_cugraph = False
    if have_cugraph and cuda:
        return "cugraph", "auto: pylibcugraph imports and a CUDA GPU is present"
    if cuda:
        return "torch", "auto: a CUDA GPU is present but pylibcugraph does not import, so torch on CUDA"
    return "numpy", "auto: no CUDA GPU, so numpy on the CPU"


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


# --- kernels: start walkers, advance them in lockstep, count visits ---------------------------------------------


class _Kernel(Protocol):
    lockstep: int  # walkers stepped together per chunk in batch mode

    def start(self, starts: np.ndarray, seed: np.random.SeedSequence) -> Any: ...

    def advance(
        self, state: Any, n_steps: int, restart: float, record_restarts: bool = False
    ) -> tuple[Any, Any]:
        """Step every walker `n_steps` times: (visits [n_steps, W] int32, restarted [n_steps, W] bool or None)."""
        ...

    def count(self, visits: Any, group: np.ndarray, n_products: int) -> tuple[np.ndarray, ...]:
        """(group, product, count) of the product visits, sorted by (group, product); group[w] per walker."""
        ...

    def to_numpy(self, a: Any) -> np.ndarray: ...


def _restart_threshold(restart: float) -> int:
    # a 32-bit uniform below this is a restart: exact to 2**-32
    return min(int(restart * 2**32), _MASK32)


def _count_numpy(visits: np.ndarray, group: np.ndarray, n_products: int) -> tuple[np.ndarray, ...]:
    n_groups = int(group.max()) + 1 if len(group) else 0
    span = n_products + 1  # node id n_products collects every non-product visit of a group; dropped below
    dtype = np.int32 if n_groups * span < 2**31 else np.int64  # int32 keys sort twice as fast
    # min() sends customers (>= n_products) and "no step" (-1, huge as uint32) to the sentinel: cheaper than
    # compressing them out before the sort
    keys = np.minimum(visits.view(np.uint32), np.uint32(n_products)).astype(dtype)
    keys += (group.astype(dtype) * dtype(span))[None, :]
    keys = keys.ravel()
    keys.sort()
    change = np.empty(len(keys), bool)
    change[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=change[1:])
    first = np.flatnonzero(change)
    counts = np.diff(first, append=len(keys))
    keys = keys[first]
    product = keys % span != n_products
    keys, counts = keys[product], counts[product]
    return keys // span, keys % span, counts


def _count_rows(visits: np.ndarray, per: int, n_products: int) -> tuple[np.ndarray, ...]:
    """:func:`_count_numpy` for batch mode, where walkers ``g*per .. (g+1)*per - 1`` form group g.

    Each group's visits are laid out as one row and the rows are sorted independently, so the keys stay 32-bit
    node ids (no group offset) and each sort is over one query's visits.
    """
    n_steps, w = visits.shape
    n_groups, length = w // per, n_steps * per
    keys = np.empty((n_groups, n_steps, per), np.uint32)
    # min() sends customers (>= n_products) and "no step" (-1, huge as uint32) to the sentinel n_products
    np.minimum(
        visits.view(np.uint32).reshape(n_steps, n_groups, per).transpose(1, 0, 2),
        np.uint32(n_products),
        out=keys,
    )
    keys = keys.reshape(n_groups, length)
    keys.sort(axis=1)
    flat = keys.ravel()
    change = np.empty(len(flat), bool)
    np.not_equal(flat[1:], flat[:-1], out=change[1:])
    change[::length] = True  # a row's first key starts a run
    first = np.flatnonzero(change)
    counts = np.diff(first, append=len(flat))
    node = flat[first]
    product = node != n_products
    first, node, counts = first[product], node[product], counts[product]
    return first // length, node.astype(np.int64), counts


def _record_layout(graph: WalkGraph) -> tuple[int, int] | None:
    """(node_bits, degree_bits) when an edge record ``start << (n + d) | degree << n | node`` fits 63 bits."""
    node_bits = max(1, (graph.n_nodes - 1).bit_length())
    deg_bits = max(1, int(graph.out_degree().max(initial=0)).bit_length())
    if node_bits + deg_bits + max(1, graph.nnz.bit_length()) > 63:
        return None
    return node_bits, deg_bits


class _NumpyKernel:
    lockstep = 16_384  # walker arrays of this size stay in L2 between the dozen operations of a step
    _block = 8  # steps of random numbers drawn at once

    def __init__(self, graph: WalkGraph) -> None:
        self._deg = graph.out_degree()
        if len(self._deg) and self._deg.max() >= 2**31:
            raise ValueError("out-degrees must fit int32")
        self._row_start = graph.indptr[:-1]
        self._layout = _record_layout(graph)
        # Each step needs the target's id, row start and degree. One record per stored edge holding all three
        # makes that one random memory read instead of two dependent ones (indices, then indptr); packed into
        # 8 bytes when the graph is small enough, which halves the memory the gathers reach into.
        self._records = self._encode(graph.indices.astype(np.int64))

    def _encode(self, nodes: np.ndarray) -> np.ndarray:
        start, deg = self._row_start[nodes], self._deg[nodes]
        if self._layout is not None:
            node_bits, deg_bits = self._layout
            return (start << (node_bits + deg_bits)) | (deg << node_bits) | nodes
        rec = np.empty((len(nodes), 2), np.int64)
        rec[:, 0] = start
        rec[:, 1] = (nodes << 32) | deg  # little-endian: int32 view [2] is the degree, [3] the node
        return rec.view(_WIDE).ravel()

    def start(self, starts: np.ndarray, seed: np.random.SeedSequence) -> dict[str, Any]:
        starts = np.asarray(starts, np.int64)
        return {
            "cur": self._encode(starts),
            "start0": self._row_start[starts],
            "deg0": self._deg[starts],
            "bitgen": np.random.SFC64(seed),
            "fresh": True,
        }

    def advance(
        self, state: dict[str, Any], n_steps: int, restart: float, record_restarts: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        cur, start0, deg0 = state["cur"], state["start0"], state["deg0"]
        w = len(cur)
        if self._layout is not None:
            node_bits, deg_bits = self._layout
            start, deg, node = np.empty(w, np.int64), np.empty(w, np.int64), None
        else:
            c32 = cur.view(np.int32).reshape(w, 4)
            start, deg, node = cur.view(np.int64).reshape(w, 2)[:, 0], c32[:, 2], c32[:, 3]
        visits = np.empty((n_steps, w), np.int32)
        restarted = np.zeros((n_steps, w), bool) if record_restarts else None
        thr = np.uint32(_restart_threshold(restart))
        e, eq = np.empty(w, np.int64), np.empty(w, np.int64)
        jump = np.empty(w, bool)
        bitgen = state["bitgen"]
        for b in range(0, n_steps, self._block):
            raw = bitgen.random_raw((min(self._block, n_steps - b), w)).view(np.uint32).reshape(-1, w, 2)
            lo, hi = raw[..., 0], raw[..., 1]
            # What does not depend on where the walkers are is drawn for the whole block in a few calls: the
            # restart coins, and the edge each walker would take from its start if it restarts.
            jumps = lo < thr
            eqs = hi * deg0
            eqs >>= 32
            eqs += start0
            for i in range(raw.shape[0]):
                t = b + i
                if self._layout is not None:
                    np.right_shift(cur, node_bits, out=deg)
                    np.bitwise_and(deg, (1 << deg_bits) - 1, out=deg)
                    np.right_shift(cur, node_bits + deg_bits, out=start)
                # slot = floor(hi * deg / 2**32): a uniform out-edge of the current node
                np.multiply(hi[i], deg, out=e)
                np.right_shift(e, 32, out=e)
                np.add(e, start, out=e)
                np.equal(deg, 0, out=jump)  # no out-edge: the walker must restart
                np.logical_or(jumps[i], jump, out=jump)
                # e += (eq - e) * jump: arithmetic beats copyto(where=) on a random mask
                np.subtract(eqs[i], e, out=eq)
                np.multiply(eq, jump, out=eq)
                np.add(e, eq, out=e)
                np.take(self._records, e, out=cur)
                if node is None:
                    np.bitwise_and(cur, (1 << node_bits) - 1, out=visits[t], casting="unsafe")
                else:
                    visits[t] = node
                if restarted is not None and not (state["fresh"] and t == 0):
                    restarted[t] = jump
        state["fresh"] = False
        return visits, restarted

    def count(self, visits: np.ndarray, group: np.ndarray, n_products: int) -> tuple[np.ndarray, ...]:
        return _count_numpy(visits, group, n_products)

    def to_numpy(self, a: Any) -> np.ndarray:
        return a


class _TorchKernel:
    _block = 8  # steps of random numbers drawn at once

    def __init__(self, graph: WalkGraph, device: str | None = None) -> None:
        import torch

        self._torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        # CUDA: enough walkers to fill the GPU. CPU: below torch's intra-op grain (32768), so each operation runs
        # on the calling thread and batch chunks run on a thread pool instead: on a loaded machine torch's
        # OpenMP barriers wait for descheduled threads, which made a 64K-walker step 100x slower.
        self.lockstep = 4_194_304 if self.device.type == "cuda" else 32_000
        self._layout = _record_layout(graph)
        self._deg = torch.from_numpy(graph.out_degree()).to(self.device)
        self._row_start = torch.from_numpy(graph.indptr[:-1]).to(self.device)
        # the records of the numpy kernel: one gathered int64 (or one [2] row when too big) per step
        self._records = self._encode(torch.from_numpy(graph.indices.astype(np.int64)).to(self.device))

    def _encode(self, nodes: Any) -> Any:
        start, deg = self._row_start[nodes], self._deg[nodes]
        if self._layout is not None:
            node_bits, deg_bits = self._layout
            return (start << (node_bits + deg_bits)) | (deg << node_bits) | nodes
        return self._torch.stack([start, (nodes << 32) | deg], dim=1)

    def start(self, starts: np.ndarray, seed: np.random.SeedSequence) -> dict[str, Any]:
        torch = self._torch
        s = torch.from_numpy(np.asarray(starts, np.int64)).to(self.device)
        state = {"cur": self._encode(s), "start0": self._row_start[s], "deg0": self._deg[s], "fresh": True}
        if self.device.type == "cpu":
            state["bitgen"] = np.random.SFC64(seed)  # 5x faster than torch's CPU generator
        else:
            state["gen"] = torch.Generator(device=self.device)
            state["gen"].manual_seed(int(seed.generate_state(1, np.uint64)[0]) & (2**63 - 1))
        return state

    def advance(
        self, state: dict[str, Any], n_steps: int, restart: float, record_restarts: bool = False
    ) -> tuple[Any, Any]:
        torch = self._torch
        cur = state["cur"]
        w = cur.shape[0]
        visits = torch.empty((n_steps, w), dtype=torch.int32, device=self.device)
        restarted = (
            torch.zeros((n_steps, w), dtype=torch.bool, device=self.device) if record_restarts else None
        )
        thr = _restart_threshold(restart)
        # preallocated buffers and out=: on the CPU a fresh tensor per operation costs more than the operation
        deg, start, e, eq = (torch.empty(w, dtype=torch.int64, device=self.device) for _ in range(4))
        jump = torch.empty(w, dtype=torch.bool, device=self.device)
        for b in range(0, n_steps, self._block):
            n = min(self._block, n_steps - b)
            hi, jumps, eqs = self._draw(state, n, w, thr)
            for i in range(n):
                t = b + i
                if self._layout is not None:
                    node_bits, deg_bits = self._layout
                    torch.bitwise_right_shift(cur, node_bits, out=deg)
                    torch.bitwise_and(deg, (1 << deg_bits) - 1, out=deg)
                    torch.bitwise_right_shift(cur, node_bits + deg_bits, out=start)
                else:
                    torch.bitwise_and(cur[:, 1], _MASK32, out=deg)
                    start.copy_(cur[:, 0])
                torch.mul(hi[i], deg, out=e)
                torch.bitwise_right_shift(e, 31, out=e)
                e += start
                torch.eq(deg, 0, out=jump)  # no out-edge: the walker must restart
                jump |= jumps[i]
                torch.sub(eqs[i], e, out=eq)  # e += (eq - e) * jump: torch.where is slow on the CPU
                eq *= jump
                e += eq
                torch.index_select(self._records, 0, e, out=cur)
                if self._layout is not None:
                    torch.bitwise_and(cur, (1 << self._layout[0]) - 1, out=e)
                    visits[t] = e
                else:
                    visits[t] = cur[:, 1] >> 32
                if restarted is not None and not (state["fresh"] and t == 0):
                    restarted[t] = jump
        state["fresh"] = False
        return visits, restarted

    def _draw(self, state: dict[str, Any], n: int, w: int, thr: int) -> tuple[Any, Any, Any]:
        """A block of draws, as in the numpy kernel: 31 bits pick the edge, 32 others decide the restart; the
        restart coins and the edge each walker would take from its start are computed for the whole block."""
        torch = self._torch
        if "bitgen" in state:
            # numpy on the CPU: a block is over torch's parallel grain, and its OpenMP pool stalls when loaded
            raw = state["bitgen"].random_raw((n, w)).view(np.int64)
            hi = (raw >> 32) & 0x7FFFFFFF
            jumps = (raw & _MASK32) < thr
            eqs = ((hi * state["deg0"].numpy()) >> 31) + state["start0"].numpy()
            return torch.from_numpy(hi), torch.from_numpy(jumps), torch.from_numpy(eqs)
        raw = torch.empty((n, w), dtype=torch.int64, device=self.device).random_(generator=state["gen"])
        hi = (raw >> 32) & 0x7FFFFFFF
        return hi, (raw & _MASK32) < thr, ((hi * state["deg0"]) >> 31) + state["start0"]

    def count(self, visits: Any, group: np.ndarray, n_products: int) -> tuple[np.ndarray, ...]:
        if self.device.type == "cpu":
            return _count_numpy(visits.numpy(), group, n_products)
        # on the GPU: the same keys as _count_numpy, unique there, and only the (smaller) result comes back
        torch = self._torch
        span = n_products + 1
        g = torch.from_numpy(np.asarray(group, np.int64)).to(self.device)
        keys = torch.where((visits >= 0) & (visits < n_products), visits, n_products).to(torch.int64)
        keys = (keys + g[None, :] * span).ravel()
        keys, counts = torch.unique(keys, sorted=True, return_counts=True)
        keys, counts = keys.cpu().numpy(), counts.cpu().numpy()
        product = keys % span != n_products
        keys, counts = keys[product], counts[product]
        return keys // span, keys % span, counts

    def to_numpy(self, a: Any) -> np.ndarray:
        return a.cpu().numpy()


class _CugraphKernel:
    """Restart chains stitched from cuGraph walks: one pylibcugraph walk per run between two restarts.

    Each call of :meth:`advance` starts every walker afresh at its start (a restart at the call's first step).
    """

    lockstep = 1_048_576

    def __init__(self, graph: WalkGraph) -> None:
        import cupy
        import pylibcugraph

        self._cupy = cupy
        call = cugraph_arguments(graph, np.empty(0, np.int32), 1, 0)
        self._handle = pylibcugraph.ResourceHandle()
        arrays = {k: cupy.asarray(v) if isinstance(v, np.ndarray) else v for k, v in call.sg_graph.items()}
        self._sg = pylibcugraph.SGGraph(
            self._handle, pylibcugraph.GraphProperties(**call.graph_properties), **arrays
        )
        self._walk = getattr(pylibcugraph, call.walk_function)

    def start(self, starts: np.ndarray, seed: np.random.SeedSequence) -> dict[str, Any]:
        return {"starts": np.asarray(starts, np.int64), "rng": np.random.Generator(np.random.SFC64(seed))}

    def advance(
        self, state: dict[str, Any], n_steps: int, restart: float, record_restarts: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        starts, rng = state["starts"], state["rng"]
        w = len(starts)
        # a restart before step t (t > 0) begins a new run; each run is one cuGraph walk from the start
        jump = rng.random((n_steps, w)) < restart
        jump[0] = True
        w_idx, t_idx = np.nonzero(jump.T)  # runs ordered by walker, then by time
        last = np.append(w_idx[1:] != w_idx[:-1], True)
        run_len = np.where(last, n_steps, np.append(t_idx[1:], n_steps)) - t_idx
        length = int(run_len.max())
        walk = _cugraph_walk(starts[w_idx], length, int(rng.integers(2**31)))
        walk["start_vertices"] = self._cupy.asarray(walk["start_vertices"])
        paths, _, _ = self._walk(resource_handle=self._handle, input_graph=self._sg, **walk)
        # padded paths, -1 after a node without out-edges: that run ends there
        paths = self._cupy.asnumpy(paths).reshape(len(w_idx), -1)[:, 1 : length + 1]
        visits = np.full((n_steps, w), -1, np.int32)
        offset = np.arange(length)
        keep = offset[None, :] < run_len[:, None]
        tt = (t_idx[:, None] + offset[None, :])[keep]
        ww = np.broadcast_to(w_idx[:, None], keep.shape)[keep]
        visits[tt, ww] = paths[keep]
        restarted = None
        if record_restarts:
            restarted = jump.copy()
            restarted[0] = False
        return visits, restarted

    def count(self, visits: np.ndarray, group: np.ndarray, n_products: int) -> tuple[np.ndarray, ...]:
        return _count_numpy(visits, group, n_products)

    def to_numpy(self, a: Any) -> np.ndarray:
        return a


def _make_kernel(backend: str, graph: WalkGraph, device: str | None) -> _Kernel:
    if backend == "numpy":
        return _NumpyKernel(graph)
    if backend == "torch":
        return _TorchKernel(graph, device)
    return _CugraphKernel(graph)


@contextlib.contextmanager
def _single_intra_op_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _top_k_rows(
    group: np.ndarray, node: np.ndarray, score: np.ndarray, n_rows: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the k best (score desc, then id asc) as [n_rows, k] arrays padded with -1 / 0."""
    cand = np.full((n_rows, k), -1, np.int32)
    vals = np.zeros((n_rows, k), np.float32)
    score = score.astype(np.float32)
    node_bits = max(1, int(node.max(initial=0)).bit_length())
    if max(1, (n_rows - 1).bit_length()) + 32 + node_bits <= 63:
        # One int64 sort instead of a three-key lexsort: the bits of a non-negative float32 order like its value.
        desc = (np.uint32(_MASK32) - score.view(np.uint32)).astype(np.int64)
        keys = (group.astype(np.int64) << (32 + node_bits)) | (desc << node_bits) | node
        keys.sort()
        g = keys >> (32 + node_bits)
        # rank within the group: position minus the group's first position (a binary search per group, not per
        # entry), and only the kept entries are decoded
        first = np.searchsorted(g, np.arange(n_rows))
        rank = np.arange(len(g)) - first[g]
        keep = np.flatnonzero(rank < k)
        keys, g, rank = keys[keep], g[keep], rank[keep]
        cand[g, rank] = keys & ((1 << node_bits) - 1)
        vals[g, rank] = (np.uint32(_MASK32) - ((keys >> node_bits) & _MASK32).astype(np.uint32)).view(
            np.float32
        )
        return cand, vals
    order = np.lexsort((node, -score, group))
    g, node, score = group[order], node[order], score[order]
    rank = np.arange(len(g)) - np.searchsorted(g, np.arange(n_rows))[g]
    keep = rank < k
    cand[g[keep], rank[keep]] = node[keep]
    vals[g[keep], rank[keep]] = score[keep]
    return cand, vals


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
        self._kernel = _make_kernel(self.backend, graph, device)
        log.info("walks backend=%s reason=%r relation=%s", self.backend, self.reason, graph.relation)
        self.threads = max(1, threads or os.cpu_count() or 1)
        self._on_cpu = self.backend == "numpy" or (
            self.backend == "torch" and self._kernel.device.type == "cpu"
        )
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
        exclude, q, w = self._query_products(products)
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
        score = visits_of / self._norm(params.degree_norm)[cand]
        return _top_candidates(cand, score, exclude, k, int(done * len(group)), stopped)

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
        norm = self._norm(params.degree_norm)
        size = max(1, self._kernel.lockstep // per)
        chunks = [rows[i : i + size] for i in range(0, len(rows), size)]

        def run(i: int) -> tuple[int, np.ndarray, np.ndarray]:
            qs = queries[chunks[i]]
            state = self._kernel.start(np.repeat(qs, per), np.random.SeedSequence(seed, spawn_key=(i,)))
            visits, _ = self._kernel.advance(state, params.walk_length, params.restart)
            if self._on_cpu:
                g, node, c = _count_rows(self._kernel.to_numpy(visits), per, p)
            else:
                g, node, c = self._kernel.count(visits, np.repeat(np.arange(len(qs)), per), p)
            keep = node != qs[g]
            g, node = g[keep], node[keep]
            return i, *_top_k_rows(g, node, c[keep] / norm[node], len(qs), k)

        def collect(i: int, c: np.ndarray, v: np.ndarray) -> None:
            cand[chunks[i]], vals[chunks[i]] = c, v
            if progress is not None:
                progress(len(chunks[i]))

        if self._on_cpu and self.threads > 1 and len(chunks) > 1:
            # torch on the CPU: chunks on our threads, each operation on its calling thread (torch's own intra-op
            # threads on top would put two threads on each core); restored after
            intra = _single_intra_op_thread() if self.backend == "torch" else contextlib.nullcontext()
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

    def _query_products(
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

    def _norm(self, degree_norm: float) -> np.ndarray:
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
        self._norm = walker._norm(params.degree_norm)
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
        exclude, q, w = self.walker._query_products(products)
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
        return _top_candidates(
            uniq, boosted / self._norm[uniq], exclude, k, self.params.steps * len(q), False
        )


def _top_candidates(
    cand: np.ndarray, score: np.ndarray, exclude: np.ndarray, k: int, steps: int, stopped: bool
) -> Candidates:
    """The `k` best of `cand` by `score` (ties by id), none of `exclude` among them."""
    keep = ~np.isin(cand, exclude)
    cand, score = cand[keep], score[keep]
    if len(cand) > k:
        top = np.argpartition(-score, k - 1)[:k]
        cand, score = cand[top], score[top]
    order = np.lexsort((cand, -score))
    return Candidates(
        products=cand[order].astype(np.int64),
        scores=score[order].astype(np.float32),
        steps=steps,
        stopped_early=stopped,
    )


def save_candidates(
    path: str | Path, result: BatchCandidates, product_ids: np.ndarray, meta: Mapping[str, Any] | None = None
) -> None:
    """Write the batch artifact: ``product_ids`` [P] str, ``queries`` [n] int64 (row i answers
    ``product_ids[queries[i]]``), ``candidates`` [n, K] int32 indexing ``product_ids`` (-1 padded), ``counts``
    [n, K] float32, and ``meta`` (a JSON string: relation, backend, parameters...). Loads without pickle."""
    import json

    np.savez(
        path,
        product_ids=np.asarray(product_ids, dtype=str),
        queries=result.queries,
        candidates=result.candidates,
        counts=result.counts,
        meta=np.asarray(json.dumps(dict(meta or {}) | {"steps": result.steps})),
    )


def load_candidates(path: str | Path) -> tuple[BatchCandidates, np.ndarray, dict[str, Any]]:
    """(result, product_ids, meta) from an artifact written by :func:`save_candidates`."""
    import json

    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        result = BatchCandidates(
            queries=z["queries"], candidates=z["candidates"], counts=z["counts"], steps=int(meta["steps"])
        )
        return result, z["product_ids"], meta
