"""Visit counting and top-k ranking against plain counts and sorts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.walks import counts


@settings(max_examples=60, deadline=None)
@given(
    n_products=st.integers(1, 40),
    n_groups=st.integers(1, 6),
    per=st.integers(1, 7),
    n_steps=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_batch_counting_matches_a_plain_count(n_products, n_groups, per, n_steps, seed):
    """count_rows (batch mode) counts the product visits of each group exactly as a Counter does; customers
    (ids >= n_products) and "no step" (-1) are not counted."""
    rng = np.random.default_rng(seed)
    visits = rng.integers(-1, n_products + 5, (n_steps, n_groups * per)).astype(np.int32)
    g, node, c = counts.count_rows(visits, per, n_products)
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
        for a, b in zip(counts.count_visits(visits, group, n_products), (g, node, c), strict=True)
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
    cand, vals = counts.top_k_rows(group, node, score, n_rows, k)
    for r in range(n_rows):
        mine = sorted(
            (-np.float32(s), int(v)) for g_, v, s in zip(group, node, score, strict=True) if g_ == r
        )[:k]
        assert cand[r, : len(mine)].tolist() == [v for _, v in mine]
        assert np.allclose(vals[r, : len(mine)], [-s for s, _ in mine])
        assert (cand[r, len(mine) :] == -1).all() and (vals[r, len(mine) :] == 0).all()
