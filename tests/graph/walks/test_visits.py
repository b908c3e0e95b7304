"""ProductVisits: each product's own walk kept, combined as Pixie's booster would combine one joint walk."""

from __future__ import annotations

import numpy as np

from graph.walks import ProductVisits, Walker, WalkParams
from tests.graph.walks import walk_fixture as wf


def test_product_visits_are_each_products_own_walk_kept():
    graph = wf.clusters()
    w = Walker(graph, "numpy")
    params = WalkParams(steps=2_000, n_v=0)
    visits = ProductVisits(w, params, k=12, precompute=np.array([0, 10]), max_cached=2, seed=5)
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
    graph = wf.clusters()
    w = Walker(graph, "numpy")
    params = WalkParams(steps=20_000, n_v=0)
    visits = ProductVisits(w, params, k=60)
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
