"""The walk graph of a relation: directions, type weights as multiplicities, refused weights."""

from __future__ import annotations

import pytest

from graph.walks import WalkGraph
from tests.graph.walks import walk_fixture as wf


def test_walk_graph_complement_is_directional_and_weighted():
    snap = wf.small_snapshot()
    g = WalkGraph.from_snapshot(snap, "complement", wf.COMPLEMENT)
    p = snap.index("Product")
    u1, u2 = 5 + snap.index("Customer")["u1"], 5 + snap.index("Customer")["u2"]
    edges = wf.edges(g)
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
    snap = wf.small_snapshot()
    g = WalkGraph.from_snapshot(snap, "substitute", {"ALSO_VIEWED": 2, "VIEWED": 1, "REVIEWED": 1})
    p = snap.index("Product")
    edges = wf.edges(g)
    assert edges.count((p["b"], p["d"])) == 2 and edges.count((p["d"], p["b"])) == 2
    assert (p["a"], p["b"]) not in edges  # ALSO_BOUGHT is not a substitute signal
    assert not any(
        d == p["a"] and s >= 5 for s, d in edges if edges.count((s, d)) > 1
    )  # purchases not walked


def test_walk_graph_rejects_bad_weights():
    with pytest.raises(ValueError, match="integers"):
        WalkGraph.from_snapshot(wf.small_snapshot(), "complement", {"ALSO_BOUGHT": 1.5})
    with pytest.raises(ValueError, match="cannot walk"):
        WalkGraph.from_snapshot(wf.small_snapshot(), "complement", {"IN_CATEGORY": 1})
    with pytest.raises(ValueError, match="relation"):
        WalkGraph.from_snapshot(wf.small_snapshot(), "bundle")
