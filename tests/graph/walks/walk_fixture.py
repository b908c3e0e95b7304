"""Small walk graphs and checks shared by the walk tests: a five-product batch, random graphs, three clusters."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pyarrow as pa

from graph.schema import GraphBatch
from graph.snapshot import Snapshot
from graph.walks import WalkGraph, WalkPaths

CPU_BACKENDS = ["numpy", "torch"]
COMPLEMENT = {"ALSO_BOUGHT": 2, "BOUGHT_TOGETHER": 2, "PURCHASED": 1, "REVIEWED": 1}  # not the tuned defaults


def small_batch() -> GraphBatch:
    """a -> b, a -> c also bought; b -> c bought together; b -> d viewed; u1 reviewed a, b and bought a; u2
    reviewed c; d and e have no complement edges out."""
    return GraphBatch(
        nodes={
            "Product": pa.table({"asin": ["a", "b", "c", "d", "e"]}),
            "Customer": pa.table({"id": ["u1", "u2"]}),
        },
        rels={
            "ALSO_BOUGHT": pa.table({"src": ["a", "a"], "dst": ["b", "c"]}),
            "BOUGHT_TOGETHER": pa.table({"src": ["b"], "dst": ["c"]}),
            "ALSO_VIEWED": pa.table({"src": ["b"], "dst": ["d"]}),
            "REVIEWED": pa.table({"src": ["u1", "u1", "u2"], "dst": ["a", "b", "c"]}),
            "PURCHASED": pa.table({"src": ["u1"], "dst": ["a"]}),
        },
    )


def small_snapshot() -> Snapshot:
    batch = small_batch()
    return Snapshot.from_tables(batch.nodes, batch.rels)


def edges(graph: WalkGraph) -> list[tuple[int, int]]:
    src = np.repeat(np.arange(graph.n_nodes), graph.out_degree())
    return list(zip(src.tolist(), graph.indices.tolist(), strict=True))


def random_graph(n_nodes: int, n_edges: int, seed: int, n_products: int | None = None) -> WalkGraph:
    rng = np.random.default_rng(seed)
    return WalkGraph.from_edges(
        rng.integers(0, n_nodes, n_edges),
        rng.integers(0, n_nodes, n_edges),
        n_nodes,
        n_products or n_nodes,
        multiplicity=rng.integers(1, 4, n_edges),
    )


def clusters() -> WalkGraph:
    """Products 0..29 in three clusters of ten, customers 30..59; each customer reviews mostly in one cluster.

    Products 0, 10 and 20 are also bought with the next two, which lead their candidates by a wide margin.
    """
    rng = np.random.default_rng(7)
    src, dst = [], []
    for c in range(30):
        cluster = c // 10
        for p in rng.choice(10, 4, replace=False):
            src += [30 + c, cluster * 10 + p]
            dst += [cluster * 10 + p, 30 + c]
        stray = int(rng.integers(30))
        src += [30 + c, stray]
        dst += [stray, 30 + c]
    src += [0, 0, 10, 10, 20, 20]
    dst += [1, 2, 11, 12, 21, 22]
    mult = np.ones(len(src), np.int64)
    mult[-6:] = 6
    return WalkGraph.from_edges(np.array(src), np.array(dst), 60, 30, multiplicity=mult)


def check_paths_are_walks(graph: WalkGraph, paths: WalkPaths) -> None:
    reference = nx.DiGraph(edges(graph))
    nodes, restarted = paths.nodes, paths.restarted
    start = nodes[:, 0]
    for t in range(nodes.shape[1] - 1):
        src = np.where(restarted[:, t], start, nodes[:, t])
        for s, d in zip(src.tolist(), nodes[:, t + 1].tolist(), strict=True):
            assert reference.has_edge(s, d), f"step {t}: {s} -> {d} is not an edge"
        dead = graph.out_degree()[nodes[:, t]] == 0
        assert restarted[dead, t].all() or t == 0, "a walker on a node without out-edges must restart"


def importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True
