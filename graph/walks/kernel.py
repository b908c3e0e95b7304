"""The kernel protocol every walk backend implements: start walkers, advance them in lockstep, count visits.

A kernel holds one :class:`~graph.walks.walk_graph.WalkGraph` in the form its backend walks fastest;
:class:`~graph.walks.walker.Walker` does everything else (step shares, early stopping, boosting, ranking) the same
way for every backend. The edge-record layout and the restart threshold are here because the numpy and torch
kernels share them, so that both walk the same bits.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from graph.walks.walk_graph import WalkGraph

MASK32 = 0xFFFFFFFF


class Kernel(Protocol):
    lockstep: int  # walkers stepped together per chunk in batch mode
    on_cpu: bool  # its steps run on the CPU cores (batch mode then spreads chunks over threads)

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


def restart_threshold(restart: float) -> int:
    # a 32-bit uniform below this is a restart: exact to 2**-32
    return min(int(restart * 2**32), MASK32)


def record_layout(graph: WalkGraph) -> tuple[int, int] | None:
    """(node_bits, degree_bits) when an edge record ``start << (n + d) | degree << n | node`` fits 63 bits."""
    node_bits = max(1, (graph.n_nodes - 1).bit_length())
    deg_bits = max(1, int(graph.out_degree().max(initial=0)).bit_length())
    if node_bits + deg_bits + max(1, graph.nnz.bit_length()) > 63:
        return None
    return node_bits, deg_bits
