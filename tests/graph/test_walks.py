"""Pixie walks: the walk graph, every step an edge, restart and bias frequencies, seeds, backend agreement, the
cuGraph argument mapping, the batch artifact and the `kgrec candidates` command. Small graphs, fixed seeds."""

from __future__ import annotations

import argparse
import inspect
import subprocess
import sys
import types
from pathlib import Path

import networkx as nx
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from graph import walks
from graph.schema import GraphBatch
from graph.snapshot import Snapshot
from graph.walks import (
    BatchCandidates,
    Walker,
    WalkGraph,
    WalkParams,
    choose_backend,
    cugraph_arguments,
    load_candidates,
    save_candidates,
)

REPO = Path(__file__).resolve().parents[2]
CPU_BACKENDS = ["numpy", "torch"]
COMPLEMENT = {"ALSO_BOUGHT": 2, "BOUGHT_TOGETHER": 2, "PURCHASED": 1, "REVIEWED": 1}  # not the tuned defaults


def _batch() -> GraphBatch:
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


def _snapshot() -> Snapshot:
    batch = _batch()
    return Snapshot.from_tables(batch.nodes, batch.rels)


def _edges(graph: WalkGraph) -> list[tuple[int, int]]:
    src = np.repeat(np.arange(graph.n_nodes), graph.out_degree())
    return list(zip(src.tolist(), graph.indices.tolist(), strict=True))


def _random_graph(n_nodes: int, n_edges: int, seed: int, n_products: int | None = None) -> WalkGraph:
    rng = np.random.default_rng(seed)
    return WalkGraph.from_edges(
        rng.integers(0, n_nodes, n_edges),
        rng.integers(0, n_nodes, n_edges),
        n_nodes,
        n_products or n_nodes,
        multiplicity=rng.integers(1, 4, n_edges),
    )


def _clusters() -> WalkGraph:
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


# --- the walk graph -------------------------------------------------------------------------------------------


def test_walk_graph_complement_is_directional_and_weighted():
    snap = _snapshot()
    g = WalkGraph.from_snapshot(snap, "complement", COMPLEMENT)
    p = snap.index("Product")
    u1, u2 = 5 + snap.index("Customer")["u1"], 5 + snap.index("Customer")["u2"]
    edges = _edges(g)
    # ALSO_BOUGHT a -> b forward only, twice (weight 2); never b -> a
    assert edges.count((p["a"], p["b"])) == 2 and (p["b"], p["a"]) not in edges
    assert edges.count((p["b"], p["c"])) == 2  # BOUGHT_TOGETHER
    assert (p["b"], p["d"]) not in edges  # ALSO_VIEWED is not a complement signal
    # u1 reviewed and purchased a: one edge per interaction, both ways
    assert edges.count((u1, p["a"])) == 2 and edges.count((p["a"], u1)) == 2
    assert edges.count((u2, p["c"])) == 1 and edges.count((p["c"], u2)) == 1
    assert g.n_products == 5 and g.n_nodes == 7
    assert g.out_degree()[p["e"]] == 0 and g.out_degree()[p["d"]] == 0


def test_walk_graph_substitute_walks_also_viewed_both_ways():
    snap = _snapshot()
    g = WalkGraph.from_snapshot(snap, "substitute", {"ALSO_VIEWED": 2, "VIEWED": 1, "REVIEWED": 1})
    p = snap.index("Product")
    edges = _edges(g)
    assert edges.count((p["b"], p["d"])) == 2 and edges.count((p["d"], p["b"])) == 2
    assert (p["a"], p["b"]) not in edges  # ALSO_BOUGHT is not a substitute signal
    assert not any(
        d == p["a"] and s >= 5 for s, d in edges if edges.count((s, d)) > 1
    )  # purchases not walked


def test_walk_graph_rejects_bad_weights():
    with pytest.raises(ValueError, match="integers"):
        WalkGraph.from_snapshot(_snapshot(), "complement", {"ALSO_BOUGHT": 1.5})
    with pytest.raises(ValueError, match="cannot walk"):
        WalkGraph.from_snapshot(_snapshot(), "complement", {"IN_CATEGORY": 1})
    with pytest.raises(ValueError, match="relation"):
        WalkGraph.from_snapshot(_snapshot(), "bundle")


# --- walks are walks ------------------------------------------------------------------------------------------


def _check_paths_are_walks(graph: WalkGraph, paths: walks.WalkPaths) -> None:
    reference = nx.DiGraph(_edges(graph))
    nodes, restarted = paths.nodes, paths.restarted
    start = nodes[:, 0]
    for t in range(nodes.shape[1] - 1):
        src = np.where(restarted[:, t], start, nodes[:, t])
        for s, d in zip(src.tolist(), nodes[:, t + 1].tolist(), strict=True):
            assert reference.has_edge(s, d), f"step {t}: {s} -> {d} is not an edge"
        dead = graph.out_degree()[nodes[:, t]] == 0
        assert restarted[dead, t].all() or t == 0, "a walker on a node without out-edges must restart"


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@settings(max_examples=15, deadline=None)
@given(
    n_nodes=st.integers(2, 40),
    density=st.floats(0.5, 4.0),
    restart=st.sampled_from([0.0, 0.3, 0.9]),
    seed=st.integers(0, 2**16),
)
def test_every_step_is_an_edge(backend, n_nodes, density, restart, seed):
    graph = _random_graph(n_nodes, max(1, int(n_nodes * density)), seed)  # some nodes have no out-edges
    starts = np.flatnonzero(graph.out_degree() > 0)
    paths = Walker(graph, backend).paths(np.repeat(starts, 3), 12, restart=restart, seed=seed)
    assert paths.nodes.shape == (3 * len(starts), 13)
    _check_paths_are_walks(graph, paths)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_walks_on_a_wide_record_graph_are_walks(backend, monkeypatch):
    # a graph too big to pack an edge record into 64 bits takes the 16-byte form; force it on a small graph
    monkeypatch.setattr(walks, "_record_layout", lambda graph: None)
    graph = _random_graph(30, 80, 3)
    starts = np.flatnonzero(graph.out_degree() > 0)
    _check_paths_are_walks(graph, Walker(graph, backend).paths(starts, 20, restart=0.3, seed=1))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_restart_frequency_matches_its_parameter(backend):
    graph = _random_graph(50, 400, 1)
    starts = np.flatnonzero(graph.out_degree() > 0)
    alpha = 0.3
    paths = Walker(graph, backend).paths(np.repeat(starts, 40), 50, restart=alpha, seed=11)
    # a restart is forced on a node without out-edges: count the free choices only
    free = graph.out_degree()[paths.nodes[:, 1:-1]] > 0
    jumps = paths.restarted[:, 1:][free]
    n, k = jumps.size, int(jumps.sum())
    assert n > 50_000
    assert stats.binomtest(k, n, alpha).pvalue > 1e-4  # fixed seed: a deterministic check, not a flaky one


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_edge_choice_follows_the_weights(backend):
    # node 0 -> 1 (weight 3), 2 (weight 3), 3, 4, 5 (weight 1): first steps go 3:3:1:1:1
    src = np.zeros(5, np.int64)
    dst = np.arange(1, 6)
    back = np.arange(1, 6)  # every target leads back, so no dead end
    graph = WalkGraph.from_edges(
        np.concatenate([src, back]),
        np.concatenate([dst, src]),
        6,
        6,
        np.array([3, 3, 1, 1, 1, 1, 1, 1, 1, 1]),
    )
    paths = Walker(graph, backend).paths(np.zeros(90_000, np.int64), 1, seed=5)
    observed = np.bincount(paths.nodes[:, 1], minlength=6)[1:]
    expected = np.array([3, 3, 1, 1, 1]) / 9 * 90_000
    assert stats.chisquare(observed, expected).pvalue > 1e-4


def test_relation_bias_of_a_snapshot_graph():
    # from a: ALSO_BOUGHT b, c (weight 3 each) and u1 (reviewed + purchased, weight 1 each): 3 : 3 : 2
    snap = _snapshot()
    graph = WalkGraph.from_snapshot(snap, "complement", {"ALSO_BOUGHT": 3, "REVIEWED": 1, "PURCHASED": 1})
    p = snap.index("Product")
    u1 = 5 + snap.index("Customer")["u1"]
    paths = Walker(graph, "numpy").paths(np.full(50_000, p["a"]), 1, seed=3)
    observed = [int((paths.nodes[:, 1] == v).sum()) for v in (p["b"], p["c"], u1)]
    assert sum(observed) == 50_000
    assert stats.chisquare(observed, np.array([3, 3, 2]) / 8 * 50_000).pvalue > 1e-4


def test_paths_refuse_a_start_without_out_edges():
    graph = WalkGraph.from_snapshot(_snapshot(), "complement")
    with pytest.raises(ValueError, match="out-edges"):
        Walker(graph, "numpy").paths([4], 3)  # e


# --- seeds and backends ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_a_seed_makes_runs_reproducible(backend):
    graph = _clusters()
    w = Walker(graph, backend)
    a, b = w.paths(np.arange(30), 30, restart=0.3, seed=4), w.paths(np.arange(30), 30, restart=0.3, seed=4)
    assert np.array_equal(a.nodes, b.nodes) and np.array_equal(a.restarted, b.restarted)
    assert not np.array_equal(a.nodes, w.paths(np.arange(30), 30, restart=0.3, seed=5).nodes)
    q1, q2 = w.query(0, k=10, seed=9), w.query(0, k=10, seed=9)
    assert np.array_equal(q1.products, q2.products) and np.array_equal(q1.scores, q2.scores)
    params = WalkParams(steps=2_000)
    b1 = Walker(graph, backend, threads=1).batch(k=5, params=params, seed=2)
    b2 = Walker(graph, backend, threads=2).batch(k=5, params=params, seed=2)
    assert np.array_equal(b1.candidates, b2.candidates) and np.array_equal(b1.counts, b2.counts)


def test_numpy_and_torch_find_the_same_top_candidates():
    graph = _clusters()
    params = WalkParams(steps=60_000, n_v=0)
    tops = {}
    for backend in CPU_BACKENDS:
        got = Walker(graph, backend).query(0, k=5, params=params, seed=1)
        tops[backend] = got.products
        assert set(got.products[:2].tolist()) == {1, 2}  # the planted co-purchases lead
        assert set(got.products.tolist()) <= set(range(10))  # the rest from the query's cluster
    assert set(tops["numpy"].tolist()) == set(tops["torch"].tolist())
    batch = {
        b: Walker(graph, b).batch([0, 10, 20], k=5, params=params, seed=0).candidates for b in CPU_BACKENDS
    }
    for row, q in enumerate((0, 10, 20)):
        assert (
            set(batch["numpy"][row, :2].tolist()) == set(batch["torch"][row, :2].tolist()) == {q + 1, q + 2}
        )
        assert all(q <= c < q + 10 for b in CPU_BACKENDS for c in batch[b][row])


# --- queries and batches --------------------------------------------------------------------------------------


def test_query_excludes_itself_and_stops_early():
    graph = _clusters()
    w = Walker(graph, "numpy")
    full = w.query(3, k=8, params=WalkParams(steps=20_000, n_v=0), seed=1)
    assert 3 not in full.products and not full.stopped_early
    assert full.steps >= 20_000 and np.all(np.diff(full.scores) <= 0)
    early = w.query(3, k=8, params=WalkParams(steps=20_000, n_p=5, n_v=3, check_every=2), seed=1)
    assert early.stopped_early and early.steps < full.steps
    assert w.query(graph.n_products - 1, k=3).products.dtype == np.int64


def test_session_query_boosts_products_near_several_queries():
    graph = _clusters()
    w = Walker(graph, "numpy")
    got = w.query({0: 1.0, 10: 1.0}, k=10, params=WalkParams(steps=40_000, n_v=0), seed=2)
    assert 0 not in got.products and 10 not in got.products
    clusters = {int(p) // 10 for p in got.products}
    assert clusters >= {0, 1}  # candidates from both query products' neighbourhoods
    nothing = w.query({0: 0.0}, k=5)
    assert len(nothing.products) == 0 and nothing.steps == 0


def test_product_visits_are_each_products_own_walk_kept():
    graph = _clusters()
    w = Walker(graph, "numpy")
    params = WalkParams(steps=2_000, n_v=0)
    visits = walks.ProductVisits(w, params, k=12, precompute=np.array([0, 10]), max_cached=2, seed=5)
    # not precomputed: exactly the product's walk alone, seeded by its own id
    alone = w.query(3, k=12, params=params, seed=5 + 3)
    cand, score = visits.visits(3)
    assert cand.tolist() == alone.products.tolist() and np.allclose(score, alone.scores)
    # precomputed in one batch: that batch's row, padding dropped
    pre = w.batch(np.array([0, 10]), k=12, params=params, seed=5)
    cand, score = visits.visits(10)
    row = pre.candidates[1]
    assert cand.tolist() == row[row >= 0].tolist() and np.allclose(score, pre.counts[1][row >= 0])
    # one product: the query is its own walk; none of the query products among the answers
    one = visits.query({3: 2.0}, k=12)
    assert one.products.tolist() == alone.products.tolist() and np.allclose(
        one.scores, alone.scores, rtol=1e-5
    )
    both = visits.query({3: 1.0, 21: 1.0}, k=30)
    assert not {3, 21} & set(both.products.tolist()) and np.all(np.diff(both.scores) <= 0)
    # an answer does not depend on what was asked (or evicted) before
    for p in (4, 5, 6, 7):
        visits.visits(p)
    assert visits.query({3: 1.0, 21: 1.0}, k=30).products.tolist() == both.products.tolist()
    assert len(visits.query({0: 0.0}, k=5).products) == 0


def test_product_visits_combine_as_pixies_booster_and_agree_with_a_joint_walk():
    graph = _clusters()
    w = Walker(graph, "numpy")
    params = WalkParams(steps=20_000, n_v=0)
    visits = walks.ProductVisits(w, params, k=60)
    query = {0: 1.0, 10: 0.5, 24: 2.0}
    got = visits.query(query, k=60)
    # by hand: each product's counts scaled by its step share, (sum sqrt)^2 over the degree norm
    q = np.array(list(query)), np.array(list(query.values()))
    shares = w.step_shares(*q)
    norm = (np.maximum(graph.in_degree()[: graph.n_products], 1).astype(np.float64)) ** params.degree_norm
    total: dict[int, float] = {}
    for product, share in zip(q[0].tolist(), shares.tolist(), strict=True):
        cand, score = visits.visits(product)
        for c, s in zip(cand.tolist(), score.tolist(), strict=True):
            total[c] = total.get(c, 0.0) + float(np.sqrt(s * norm[c] * share))
    expected = {c: v**2 / norm[c] for c, v in total.items() if c not in query}
    assert set(got.products.tolist()) == set(expected)
    assert np.allclose(got.scores, [expected[c] for c in got.products.tolist()], rtol=1e-4)
    # the same neighbourhoods as one joint walk of as many steps in all: 8 or more of the same top 10
    joint = w.query(query, k=10, params=WalkParams(steps=60_000, n_v=0), seed=3)
    assert len(set(joint.products.tolist()) & set(got.products[:10].tolist())) >= 8


def test_batch_pads_products_without_walks_and_round_trips(tmp_path):
    snap = _snapshot()
    graph = WalkGraph.from_snapshot(snap, "complement")
    done = []
    result = Walker(graph, "numpy").batch(k=3, params=WalkParams(steps=500), seed=0, progress=done.append)
    assert sum(done) == 5
    assert result.candidates.shape == (5, 3) and result.candidates.dtype == np.int32
    assert result.counts.dtype == np.float32
    p = snap.index("Product")
    assert (result.candidates[p["e"]] == -1).all()  # no out-edges: no walk
    assert p["a"] not in result.candidates[p["a"]]
    assert set(result.candidates[p["a"]][:2].tolist()) == {p["b"], p["c"]}
    path = tmp_path / "c.npz"
    save_candidates(path, result, snap.ids["Product"], {"relation": "complement"})
    back, ids, meta = load_candidates(path)
    assert isinstance(back, BatchCandidates) and meta["relation"] == "complement"
    assert np.array_equal(back.candidates, result.candidates) and list(ids) == list(snap.ids["Product"])
    assert np.load(path, allow_pickle=False)["product_ids"].dtype.kind == "U"


@settings(max_examples=60, deadline=None)
@given(
    n_products=st.integers(1, 40),
    n_groups=st.integers(1, 6),
    per=st.integers(1, 7),
    n_steps=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_batch_counting_matches_a_plain_count(n_products, n_groups, per, n_steps, seed):
    """_count_rows (batch mode) counts the product visits of each group exactly as a Counter does; customers
    (ids >= n_products) and "no step" (-1) are not counted."""
    rng = np.random.default_rng(seed)
    visits = rng.integers(-1, n_products + 5, (n_steps, n_groups * per)).astype(np.int32)
    g, node, c = walks._count_rows(visits, per, n_products)
    got = {(int(a), int(b)): int(n) for a, b, n in zip(g, node, c, strict=True)}
    want: dict[tuple[int, int], int] = {}
    for t in range(n_steps):
        for w in range(n_groups * per):
            v = int(visits[t, w])
            if 0 <= v < n_products:
                want[(w // per, v)] = want.get((w // per, v), 0) + 1
    assert got == want
    assert list(zip(g.tolist(), node.tolist(), strict=True)) == sorted(want)  # sorted by (group, product)
    group = np.repeat(np.arange(n_groups), per)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(walks._count_numpy(visits, group, n_products), (g, node, c), strict=True)
    )


@settings(max_examples=60, deadline=None)
@given(
    n_rows=st.integers(1, 5),
    n=st.integers(0, 60),
    k=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
    wide=st.booleans(),
)
def test_top_k_rows_matches_sorting_each_group(n_rows, n, k, seed, wide):
    """Per group the k best by score, ties by smaller id, padded with -1/0; the packed-key path and the lexsort
    path (ids of 30 bits: too wide to pack) agree with a plain sort."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, n_rows, n)
    node = rng.choice(2**30 if wide else 1000, n, replace=False) if n else np.empty(0, np.int64)
    # keep (group, node) unique, as counting makes them
    score = rng.integers(1, 5, n) / rng.choice([1.0, 1.5, 2.0], n)
    cand, vals = walks._top_k_rows(group, node, score, n_rows, k)
    for r in range(n_rows):
        mine = sorted(
            (-np.float32(s), int(v)) for g_, v, s in zip(group, node, score, strict=True) if g_ == r
        )[:k]
        assert cand[r, : len(mine)].tolist() == [v for _, v in mine]
        assert np.allclose(vals[r, : len(mine)], [-s for s, _ in mine])
        assert (cand[r, len(mine) :] == -1).all() and (vals[r, len(mine) :] == 0).all()


# --- backend choice and cuGraph -------------------------------------------------------------------------------


def test_auto_backend_says_what_it_chose_and_why(monkeypatch, caplog):
    monkeypatch.setattr(walks, "_cuda_available", lambda: False)
    assert choose_backend("auto") == ("numpy", "auto: no CUDA GPU, so numpy on the CPU")
    with caplog.at_level("INFO", logger="kgrec.walks"):
        w = Walker(_clusters())
    assert w.backend == "numpy" and "no CUDA" in w.reason and "backend=numpy" in caplog.text
    monkeypatch.setattr(walks, "_cuda_available", lambda: True)
    assert choose_backend("auto")[0] == ("cugraph" if _has("pylibcugraph") else "torch")
    with pytest.raises(ValueError):
        choose_backend("spark")


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
    graph = WalkGraph.from_snapshot(_snapshot(), "complement")
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
    for e in _edges(graph):
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
    _check_cugraph_walks()
    assert calls[0]["SGGraph"]["input_array_format"] == "CSR" and "walk" in calls[1]


def _check_cugraph_walks() -> None:
    """The cugraph backend's restart chains follow the graph's edges, and a query ranks real candidates."""
    graph = _random_graph(20, 50, 2)
    walker = Walker(graph, "cugraph")
    starts = np.flatnonzero(graph.out_degree() > 0)
    paths = walker.paths(starts, 15, restart=0.3, seed=1)
    reference = nx.DiGraph(_edges(graph))
    nodes, restarted = paths.nodes, paths.restarted
    for t in range(15):
        src = np.where(restarted[:, t], nodes[:, 0], nodes[:, t])
        for s, d in zip(src.tolist(), nodes[:, t + 1].tolist(), strict=True):
            # a run ends at a node without out-edges; the walker waits for its next restart
            assert (d == -1) or (s != -1 and reference.has_edge(s, d))
    got = walker.query(int(starts[0]), k=5, params=WalkParams(steps=2_000, n_v=0), seed=0)
    assert len(got.products) > 0 and int(starts[0]) not in got.products


def test_cugraph_backend_needs_rapids():
    """Without RAPIDS the backend says so; with it (a GPU machine), the real one walks as the stand-in did."""
    pytest.importorskip("torch")
    if _has("pylibcugraph"):
        _check_cugraph_walks()
        return
    with pytest.raises(ImportError):
        Walker(_clusters(), "cugraph")


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# --- imports and the command ----------------------------------------------------------------------------------


def test_walks_import_without_the_serving_stack():
    code = (
        "import sys, graph.walks, loaders.synthetic\n"
        "heavy = {'torch', 'tqdm', 'strawberry', 'starlette', 'neo4j'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_candidates_command_writes_the_artifact(tmp_path):
    from api.commands import candidates
    from graph.local_store import LocalStore

    LocalStore(tmp_path / "store").write([_batch()])
    parser = argparse.ArgumentParser()
    candidates.add_parser(parser.add_subparsers())
    out = tmp_path / "c.npz"
    args = parser.parse_args(
        [
            "candidates",
            "--store",
            f"local:{tmp_path / 'store'}",
            "--relation",
            "complement",
            "--k",
            "3",
            "--backend",
            "numpy",
            "--out",
            str(out),
            "--steps",
            "400",
            "--seed",
            "1",
            "--no-progress",
        ]
    )
    assert candidates.run(args) == 0
    result, ids, meta = load_candidates(out)
    assert (
        result.candidates.shape == (5, 3) and meta["backend"] == "numpy" and meta["relation"] == "complement"
    )
    row = list(ids).index("a")
    assert {ids[c] for c in result.candidates[row][:2]} == {"b", "c"}
