"""Walker: every step an edge, restart and bias frequencies, seeds, numpy and torch agreeing, single and session
queries, batches. Small graphs, fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from graph.walks import (
    BatchCandidates,
    Walker,
    WalkGraph,
    WalkParams,
    load_candidates,
    numpy_kernel,
    save_candidates,
    torch_kernel,
)
from tests.graph.walks import walk_fixture as wf


@pytest.mark.parametrize("backend", wf.CPU_BACKENDS)
@settings(max_examples=15, deadline=None)
@given(
    n_nodes=st.integers(2, 40),
    density=st.floats(0.5, 4.0),
    restart=st.sampled_from([0.0, 0.3, 0.9]),
    seed=st.integers(0, 2**16),
)
def test_every_step_is_an_edge(backend, n_nodes, density, restart, seed):
    graph = wf.random_graph(n_nodes, max(1, int(n_nodes * density)), seed)  # some nodes have no out-edges
    starts = np.flatnonzero(graph.out_degree() > 0)
    paths = Walker(graph, backend).paths(np.repeat(starts, 3), 12, restart=restart, seed=seed)
    assert paths.nodes.shape == (3 * len(starts), 13)
    wf.check_paths_are_walks(graph, paths)


@pytest.mark.parametrize("backend", wf.CPU_BACKENDS)
def test_walks_on_a_wide_record_graph_are_walks(backend, monkeypatch):
    # a graph too big to pack an edge record into 64 bits takes the 16-byte form; force it on a small graph
    kernel = {"numpy": numpy_kernel, "torch": torch_kernel}[backend]
    monkeypatch.setattr(kernel, "record_layout", lambda graph: None)
    graph = wf.random_graph(30, 80, 3)
    starts = np.flatnonzero(graph.out_degree() > 0)
    wf.check_paths_are_walks(graph, Walker(graph, backend).paths(starts, 20, restart=0.3, seed=1))


@pytest.mark.parametrize("backend", wf.CPU_BACKENDS)
def test_restart_frequency_matches_its_parameter(backend):
    graph = wf.random_graph(50, 400, 1)
    starts = np.flatnonzero(graph.out_degree() > 0)
    alpha = 0.3
    paths = Walker(graph, backend).paths(np.repeat(starts, 40), 50, restart=alpha, seed=11)
    # a restart is forced on a node without out-edges: count the free choices only
    free = graph.out_degree()[paths.nodes[:, 1:-1]] > 0
    jumps = paths.restarted[:, 1:][free]
    n, k = jumps.size, int(jumps.sum())
    assert n > 50_000
    assert stats.binomtest(k, n, alpha).pvalue > 1e-4  # fixed seed: a deterministic check, not a flaky one


@pytest.mark.parametrize("backend", wf.CPU_BACKENDS)
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
    snap = wf.small_snapshot()
    graph = WalkGraph.from_snapshot(snap, "complement", {"ALSO_BOUGHT": 3, "REVIEWED": 1, "PURCHASED": 1})
    p = snap.index("Product")
    u1 = 5 + snap.index("Customer")["u1"]
    paths = Walker(graph, "numpy").paths(np.full(50_000, p["a"]), 1, seed=3)
    observed = [int((paths.nodes[:, 1] == v).sum()) for v in (p["b"], p["c"], u1)]
    assert sum(observed) == 50_000
    assert stats.chisquare(observed, np.array([3, 3, 2]) / 8 * 50_000).pvalue > 1e-4


def test_paths_refuse_a_start_without_out_edges():
    graph = WalkGraph.from_snapshot(wf.small_snapshot(), "complement")
    with pytest.raises(ValueError, match="out-edges"):
        Walker(graph, "numpy").paths([4], 3)  # e


@pytest.mark.parametrize("backend", wf.CPU_BACKENDS)
def test_a_seed_makes_runs_reproducible(backend):
    graph = wf.clusters()
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
    graph = wf.clusters()
    params = WalkParams(steps=60_000, n_v=0)
    tops = {}
    for backend in wf.CPU_BACKENDS:
        got = Walker(graph, backend).query(0, k=5, params=params, seed=1)
        tops[backend] = got.products
        assert set(got.products[:2].tolist()) == {1, 2}  # the planted co-purchases lead
        assert set(got.products.tolist()) <= set(range(10))  # the rest from the query's cluster
    assert set(tops["numpy"].tolist()) == set(tops["torch"].tolist())
    batch = {
        b: Walker(graph, b).batch([0, 10, 20], k=5, params=params, seed=0).candidates for b in wf.CPU_BACKENDS
    }
    for row, q in enumerate((0, 10, 20)):
        assert (
            set(batch["numpy"][row, :2].tolist()) == set(batch["torch"][row, :2].tolist()) == {q + 1, q + 2}
        )
        assert all(q <= c < q + 10 for b in wf.CPU_BACKENDS for c in batch[b][row])


def test_query_excludes_itself_and_stops_early():
    graph = wf.clusters()
    w = Walker(graph, "numpy")
    full = w.query(3, k=8, params=WalkParams(steps=20_000, n_v=0), seed=1)
    assert 3 not in full.products and not full.stopped_early
    assert full.steps >= 20_000 and np.all(np.diff(full.scores) <= 0)
    early = w.query(3, k=8, params=WalkParams(steps=20_000, n_p=5, n_v=3, check_every=2), seed=1)
    assert early.stopped_early and early.steps < full.steps
    assert w.query(graph.n_products - 1, k=3).products.dtype == np.int64


def test_session_query_boosts_products_near_several_queries():
    graph = wf.clusters()
    w = Walker(graph, "numpy")
    got = w.query({0: 1.0, 10: 1.0}, k=10, params=WalkParams(steps=40_000, n_v=0), seed=2)
    assert 0 not in got.products and 10 not in got.products
    clusters = {int(p) // 10 for p in got.products}
    assert clusters >= {0, 1}  # candidates from both query products' neighbourhoods
    nothing = w.query({0: 0.0}, k=5)
    assert len(nothing.products) == 0 and nothing.steps == 0


def test_batch_pads_products_without_walks_and_round_trips(tmp_path):
    snap = wf.small_snapshot()
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
