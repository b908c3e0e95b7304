"""The cuGraph kernel: pylibcugraph's random walks on an ``SGGraph`` built from the walk graph's CSR.

pylibcugraph's ``uniform_random_walks`` / ``biased_random_walks`` run on an ``SGGraph`` whose stored edges are
merged into float weights (:func:`cugraph_arguments` gives the exact arguments). cuGraph walks do not restart, so
restarts are drawn on the host and each run between two restarts is one cuGraph walk; a walk that reaches a node
without out-edges ends there (cuGraph pads it with -1) instead of restarting. This backend is exercised only
where RAPIDS (the ``[gpu]`` extra) and a CUDA GPU are installed; elsewhere the tests check its graph building and
argument mapping against pylibcugraph's documented signatures. cupy and pylibcugraph are imported when a kernel
is made, not with this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from graph.walks.counts import count_visits
from graph.walks.walk_graph import WalkGraph


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


class CugraphKernel:
    """Restart chains stitched from cuGraph walks: one pylibcugraph walk per run between two restarts.

    Each call of :meth:`advance` starts every walker afresh at its start (a restart at the call's first step).
    """

    lockstep = 1_048_576
    on_cpu = False

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
        return count_visits(visits, group, n_products)

    def to_numpy(self, a: Any) -> np.ndarray:
        return a
