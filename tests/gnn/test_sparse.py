"""Sparse algebra: path counts and lookups agree with dense matrix products."""

from __future__ import annotations

import numpy as np

from gnn.sparse import SparseRows


def test_path_counts_match_a_dense_product() -> None:
    rng = np.random.default_rng(1)
    n = 40
    src, dst = rng.integers(0, n, 300), rng.integers(0, n, 300)
    m = SparseRows.from_coo(src, dst, n, n)
    dense = np.zeros((n, n))
    dense[src, dst] = 1
    two = dense @ dense
    a, b = rng.integers(0, n, 100), rng.integers(0, n, 100)
    np.testing.assert_allclose(m.pair_paths(m, a, b), two[a, b])
    np.testing.assert_allclose(m.row_paths(m, a[:7]), two[a[:7]])
    np.testing.assert_allclose(m.lookup(a, b), dense[a, b])
