"""The numpy kernel: walkers in lockstep over one packed record per stored edge.

Each stored edge is one record holding the target's row start, out-degree and id (8 bytes, bit-packed, when the
graph allows; else 16), so each step is one uniform 64-bit draw, a dozen vector operations and one gather. Batch
mode spreads chunks of queries over threads (numpy releases the GIL in these loops).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graph.walks.counts import count_visits
from graph.walks.kernel import record_layout, restart_threshold
from graph.walks.walk_graph import WalkGraph

_WIDE = np.dtype("V16")  # an edge record too big to pack: int64 row start, int32 out-degree, int32 node


class NumpyKernel:
    lockstep = 16_384  # walker arrays of this size stay in L2 between the dozen operations of a step
    on_cpu = True
    _block = 8  # steps of random numbers drawn at once

    def __init__(self, graph: WalkGraph) -> None:
        self._deg = graph.out_degree()
        if len(self._deg) and self._deg.max() >= 2**31:
            raise ValueError("out-degrees must fit int32")
        self._row_start = graph.indptr[:-1]
        self._layout = record_layout(graph)
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
        thr = np.uint32(restart_threshold(restart))
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
        return count_visits(visits, group, n_products)

    def to_numpy(self, a: Any) -> np.ndarray:
        return a
