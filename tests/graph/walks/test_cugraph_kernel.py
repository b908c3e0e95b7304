"""The cuGraph kernel: its arguments against pylibcugraph's documented signatures, and restart chains stitched
from walks on stand-ins with those signatures (RAPIDS itself is exercised only on a GPU machine)."""

from __future__ import annotations

import inspect
import sys
import types

import networkx as nx
import numpy as np
import pytest

from graph.walks import Walker, WalkGraph, WalkParams, cugraph_arguments
from tests.graph.walks import walk_fixture as wf


# pylibcugraph's documented signatures (docs.rapids.ai/api/cugraph: pylibcugraph.SGGraph, GraphProperties,
# uniform_random_walks, biased_random_walks), written out because the library cannot be installed here.
def _SGGraph(  # noqa: N802
    resource_handle,
    graph_properties,
    src_or_offset_array,
    dst_or_index_array,
    vertices_array=None,
    weight_array=None,
    store_transposed=False,
    renumber=False,
    do_expensive_check=False,
    edge_id_array=None,
    edge_type_array=None,
    input_array_format="COO",
    drop_self_loops=False,
    drop_multi_edges=False,
    symmetrize=False,
): ...


def _GraphProperties(is_symmetric=False, is_multigraph=False): ...  # noqa: N802


def _random_walks(resource_handle, input_graph, start_vertices, max_length, random_state=None): ...


def test_cugraph_arguments_match_the_documented_api():
    graph = WalkGraph.from_snapshot(wf.small_snapshot(), "complement")
    call = cugraph_arguments(graph, np.array([0, 1]), 8, seed=42)
    inspect.signature(_GraphProperties).bind(**call.graph_properties)
    inspect.signature(_SGGraph).bind(resource_handle=None, graph_properties=None, **call.sg_graph)
    assert call.walk_function in ("uniform_random_walks", "biased_random_walks")
    inspect.signature(_random_walks).bind(resource_handle=None, input_graph=None, **call.walk)
    sg = call.sg_graph
    assert sg["input_array_format"] == "CSR" and sg["renumber"] is False and sg["store_transposed"] is False
    assert call.graph_properties == {"is_symmetric": False, "is_multigraph": False}
    offsets, indices, weights = sg["src_or_offset_array"], sg["dst_or_index_array"], sg["weight_array"]
    assert offsets.dtype == np.int64 and indices.dtype == np.int32 and weights.dtype == np.float32
    assert call.walk["start_vertices"].dtype == np.int32
    assert call.walk["max_length"] == 8 and call.walk["random_state"] == 42
    # the merged CSR is the walk graph: each edge once, its weight its multiplicity, no multi-edges left
    src = np.repeat(np.arange(graph.n_nodes), np.diff(offsets))
    merged = sorted(
        (s, d, w) for s, d, w in zip(src.tolist(), indices.tolist(), weights.tolist(), strict=True)
    )
    pairs = [(s, d) for s, d, _ in merged]
    assert len(pairs) == len(set(pairs))
    expected = {}
    for e in wf.edges(graph):
        expected[e] = expected.get(e, 0) + 1
    assert {(s, d): w for s, d, w in merged} == expected
    assert call.walk_function == "biased_random_walks"  # weights 2 and 1 differ


def test_cugraph_arguments_pick_uniform_walks_for_an_unweighted_graph():
    graph = WalkGraph.from_edges(np.array([0, 1, 1]), np.array([1, 0, 2]), 3, 3)
    assert cugraph_arguments(graph, np.array([0]), 3, 0).walk_function == "uniform_random_walks"


def _fake_rapids(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """pylibcugraph and cupy stand-ins with the documented signatures, walking on the CPU; records the calls."""
    calls: list[dict] = []

    class SGGraph:
        def __init__(self, *args, **kwargs):
            bound = inspect.signature(_SGGraph).bind(*args, **kwargs)
            self.csr = bound.arguments
            calls.append({"SGGraph": bound.arguments})

    def random_walks(*args, **kwargs):
        bound = inspect.signature(_random_walks).bind(*args, **kwargs).arguments
        calls.append({"walk": bound})
        csr = bound["input_graph"].csr
        offsets, indices, weights = csr["src_or_offset_array"], csr["dst_or_index_array"], csr["weight_array"]
        rng = np.random.default_rng(bound["random_state"])
        starts, length = bound["start_vertices"], bound["max_length"]
        paths = np.full((len(starts), length + 1), -1, np.int32)
        paths[:, 0] = starts
        for i in range(len(starts)):
            for t in range(length):
                lo, hi = offsets[paths[i, t]], offsets[paths[i, t] + 1]
                if hi == lo:
                    break  # documented: padded with -1 after a vertex without out-edges
                w = weights[lo:hi]
                paths[i, t + 1] = indices[lo + rng.choice(hi - lo, p=w / w.sum())]
        return paths.ravel(), None, length

    plc = types.ModuleType("pylibcugraph")
    plc.ResourceHandle = lambda: "handle"
    plc.GraphProperties = _GraphProperties
    plc.SGGraph = SGGraph
    plc.uniform_random_walks = plc.biased_random_walks = random_walks
    cupy = types.ModuleType("cupy")
    cupy.asarray = cupy.asnumpy = np.asarray
    monkeypatch.setitem(sys.modules, "pylibcugraph", plc)
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    return calls


def test_cugraph_backend_stitches_restart_chains_from_walks(monkeypatch):
    calls = _fake_rapids(monkeypatch)
    check_cugraph_walks()
    assert calls[0]["SGGraph"]["input_array_format"] == "CSR" and "walk" in calls[1]


def check_cugraph_walks() -> None:
    """The cugraph backend's restart chains follow the graph's edges, and a query ranks real candidates."""
    graph = wf.random_graph(20, 50, 2)
    walker = Walker(graph, "cugraph")
    starts = np.flatnonzero(graph.out_degree() > 0)
    paths = walker.paths(starts, 15, restart=0.3, seed=1)
    reference = nx.DiGraph(wf.edges(graph))
    nodes, restarted = paths.nodes, paths.restarted
    for t in range(15):
        src = np.where(restarted[:, t], nodes[:, 0], nodes[:, t])
        for s, d in zip(src.tolist(), nodes[:, t + 1].tolist(), strict=True):
            # a run ends at a node without out-edges; the walker waits for its next restart
            assert (d == -1) or (s != -1 and reference.has_edge(s, d))
    got = walker.query(int(starts[0]), k=5, params=WalkParams(steps=2_000, n_v=0), seed=0)
    assert len(got.products) > 0 and int(starts[0]) not in got.products
