"""The model's pieces: decoder direction and symmetry, scores, and an encoder that is inductive."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnn.data import encoder_inputs
from gnn.features import FeaturePipeline
from gnn.model import ComplementDecoder, LinkModel, PairTerm, SubstituteDecoder
from gnn.model_scorer import GNNScorer, Prepared, build_model
from graph.snapshot import CSR, Snapshot
from tests.gnn.gnn_fixture import small_catalog, tiny_config


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    return small_catalog()


@pytest.fixture(scope="module")
def prepared(snap: Snapshot) -> Prepared:
    return Prepared.of(snap, FeaturePipeline.fit(snap, text_dim=8))


def test_complement_decoder_is_directional() -> None:
    torch.manual_seed(0)
    dec = ComplementDecoder(16, 8)
    za, zb = torch.randn(50, 16), torch.randn(50, 16)
    forward, backward = dec(za, zb), dec(zb, za)
    assert not torch.allclose(forward, backward)
    assert (forward - backward).abs().min() > 0
    # every pair against every product: the same numbers as pair by pair
    matrix = dec(za, zb, pairs=False)
    assert torch.allclose(matrix.diagonal(), forward, atol=1e-5)


def test_substitute_decoder_is_symmetric() -> None:
    torch.manual_seed(0)
    dec = SubstituteDecoder(16, 8)
    za, zb = torch.randn(50, 16), torch.randn(50, 16)
    assert torch.allclose(dec(za, zb), dec(zb, za), atol=1e-6)
    z = torch.randn(30, 16)
    m = dec(z, z, pairs=False)
    assert torch.allclose(m, m.T, atol=1e-5)


def test_link_model_substitute_scores_are_symmetric(prepared: Prepared) -> None:
    torch.manual_seed(0)
    model = build_model(tiny_config().to_dict(), FeaturePipeline.fit(prepared.snap, text_dim=8), brands=False)
    scorer = GNNScorer(model, prepared.graph(), prepared.pair_features())
    q = np.arange(20)
    s = scorer.scores("substitute", q)[:, :20]
    np.testing.assert_allclose(s, s.T, rtol=1e-4, atol=1e-5)
    c = scorer.scores("complement", q)[:, :20]
    assert not np.allclose(c, c.T, atol=1e-4)


def test_encoder_is_inductive(snap: Snapshot, prepared: Prepared) -> None:
    """A product with no edges at all still gets an embedding, and it follows its title."""
    model = build_model(tiny_config().to_dict(), FeaturePipeline.fit(snap, text_dim=8), brands=False).eval()
    isolated = 0
    rels = {}
    for type_, csr in snap.rels.items():
        src, dst = csr.coo()
        keep = np.ones(len(src), bool)
        if type_ in ("ALSO_BOUGHT", "ALSO_VIEWED"):
            keep = (src != isolated) & (dst != isolated)
        elif type_ == "REVIEWED":
            keep = dst != isolated
        rels[type_] = CSR.from_coo(src[keep], dst[keep], csr.n_rows, csr.n_cols)
    lonely = Snapshot(ids=snap.ids, rels=rels, titles=snap.titles.copy())
    with torch.no_grad():
        z1 = model.encoder(**encoder_inputs(prepared.graph(lonely)))
        text = prepared.text.copy()
        text[isolated] = prepared.text[1]  # another product's title
        other = Prepared(lonely, prepared.tfidf, text, prepared.category, prepared.category_nodes)
        z2 = model.encoder(**encoder_inputs(other.graph()))
    assert torch.isfinite(z1[isolated]).all()
    assert not torch.allclose(z1[isolated], z2[isolated])


def test_modules_have_reprs_and_reset() -> None:
    for module in (ComplementDecoder(8), SubstituteDecoder(8), PairTerm(5)):
        assert module.__class__.__name__ in repr(module)
        module.reset_parameters()
    assert isinstance(PairTerm(5)(torch.randn(3, 4, 5)), torch.Tensor)
    assert LinkModel.__doc__ and "score" in LinkModel.__doc__


def test_sparse_and_scatter_aggregation_agree(prepared: Prepared) -> None:
    model = build_model(
        tiny_config().to_dict(), FeaturePipeline.fit(prepared.snap, text_dim=8), brands=False
    ).eval()
    data = prepared.graph()
    with torch.no_grad():
        dense = model.encoder(**encoder_inputs(data))
        sparse = model.encoder(**encoder_inputs(data, sparse=True))
    assert torch.allclose(dense, sparse, atol=1e-4)
