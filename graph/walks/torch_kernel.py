"""The torch kernel: the numpy kernel's walk on tensors, on CUDA when present, else on the CPU.

On the CPU batch chunks run on threads, as numpy's do, each operation on its calling thread
(:func:`single_intra_op_thread`). torch is imported when a kernel is made, not with this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from graph.walks.counts import count_visits
from graph.walks.kernel import MASK32, record_layout, restart_threshold
from graph.walks.walk_graph import WalkGraph


class TorchKernel:
    _block = 8  # steps of random numbers drawn at once

    def __init__(self, graph: WalkGraph, device: str | None = None) -> None:
        import torch

        self._torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        # CUDA: enough walkers to fill the GPU. CPU: below torch's intra-op grain (32768), so each operation runs
        # on the calling thread and batch chunks run on a thread pool instead: on a loaded machine torch's
        # OpenMP barriers wait for descheduled threads, which made a 64K-walker step 100x slower.
        self.on_cpu = self.device.type == "cpu"
        self.lockstep = 32_000 if self.on_cpu else 4_194_304
        self._layout = record_layout(graph)
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
        thr = restart_threshold(restart)
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
                    torch.bitwise_and(cur[:, 1], MASK32, out=deg)
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
            jumps = (raw & MASK32) < thr
            eqs = ((hi * state["deg0"].numpy()) >> 31) + state["start0"].numpy()
            return torch.from_numpy(hi), torch.from_numpy(jumps), torch.from_numpy(eqs)
        raw = torch.empty((n, w), dtype=torch.int64, device=self.device).random_(generator=state["gen"])
        hi = (raw >> 32) & 0x7FFFFFFF
        return hi, (raw & MASK32) < thr, ((hi * state["deg0"]) >> 31) + state["start0"]

    def count(self, visits: Any, group: np.ndarray, n_products: int) -> tuple[np.ndarray, ...]:
        if self.device.type == "cpu":
            return count_visits(visits.numpy(), group, n_products)
        # on the GPU: the same keys as count_visits, unique there, and only the (smaller) result comes back
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


@contextlib.contextmanager
def single_intra_op_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
