"""Pair features: symmetric where the relation is, the same for given pairs as for whole query blocks, and of the
message graph they are given."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnn.features import FeaturePipeline
from gnn.model import PairTerm
from gnn.model_scorer import Prepared
from gnn.pair_features import PAIR_FEATURES, PairFeatures
from graph.snapshot import CSR, Snapshot
from tests.gnn.gnn_fixture import small_catalog


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    snap = small_catalog()
    return Prepared.of(snap, FeaturePipeline.fit(snap, text_dim=8))


def test_pair_features_substitute_symmetric_complement_not(prepared: Prepared) -> None:
    pairs = prepared.pair_features()
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, pairs.n, 400), rng.integers(0, pairs.n, 400)
    sub_ab, sub_ba = pairs.pairs("substitute", a, b), pairs.pairs("substitute", b, a)
    assert sub_ab.shape == (400, len(PAIR_FEATURES["substitute"]))
    np.testing.assert_allclose(sub_ab, sub_ba, rtol=1e-6)
    assert not np.allclose(pairs.pairs("complement", a, b), pairs.pairs("complement", b, a))


@pytest.mark.parametrize("relation", ["complement", "substitute"])
def test_pair_features_agree_with_all_targets(prepared: Prepared, relation: str) -> None:
    pairs = prepared.pair_features()
    q = np.array([0, 5, 77, 300])
    block = pairs.all_targets(relation, q)
    assert block.shape == (4, pairs.n, len(PAIR_FEATURES[relation]))
    b = np.arange(pairs.n)
    for i, a in enumerate(q):
        np.testing.assert_allclose(
            pairs.pairs(relation, np.full(pairs.n, a), b), block[i], rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("relation", ["complement", "substitute"])
def test_feature_major_blocks_and_term_agree_with_the_default_layout(
    prepared: Prepared, relation: str
) -> None:
    """The layout the scorer ranks with (features first, a reused buffer) holds the same values, and the
    structural term reads it to the same scores."""
    pairs = prepared.pair_features()
    q = np.array([0, 5, 77, 300, 599])
    block = pairs.all_targets(relation, q)
    buffer = np.full((len(PAIR_FEATURES[relation]), len(q), pairs.n), np.nan, np.float32)  # stale contents
    major = pairs.all_targets(relation, q, feature_major=True, out=buffer)
    assert major is buffer
    np.testing.assert_allclose(np.moveaxis(major, 0, -1), block, rtol=1e-6, atol=1e-7)
    term = PairTerm(len(PAIR_FEATURES[relation]), hidden=8)
    with torch.no_grad():
        want = term(torch.from_numpy(block))
        got = term.feature_major(torch.from_numpy(major), rows=2)  # rows that do not divide the block
    assert got.shape == (len(q), pairs.n)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_pair_features_of_a_message_graph_are_its_own(prepared: Prepared) -> None:
    """Removing an edge from the message graph removes it from every path count (no stale structure)."""
    snap = prepared.snap
    full = PairFeatures(snap, prepared.tfidf, prepared.category)
    src, dst = snap.rel("ALSO_BOUGHT").coo()
    empty = {**snap.rels, "ALSO_BOUGHT": CSR.from_coo(src[:0], dst[:0], snap.n("Product"), snap.n("Product"))}
    none = PairFeatures(
        Snapshot(ids=snap.ids, rels=empty, titles=snap.titles), prepared.tfidf, prepared.category
    )
    a, b = src[:50], dst[:50]
    assert full.pairs("complement", a, b)[:, :4].sum() > 0
    assert none.pairs("complement", a, b)[:, :4].sum() == 0
