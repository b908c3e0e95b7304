"""The model's pieces: decoder direction and symmetry, scores, and an encoder that is inductive."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnn.data import encoder_inputs
from gnn.features import FeaturePipeline
from gnn.model import ComplementDecoder, PairTerm, SubstituteDecoder
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


def test_reprs_name_the_arguments() -> None:
    assert repr(ComplementDecoder(8, 4)) == "ComplementDecoder(8, 4)"
    assert repr(SubstituteDecoder(8)) == "SubstituteDecoder(8, 64)"
    assert repr(PairTerm(5, hidden=3)) == "PairTerm(5, hidden=3)"


def test_reset_parameters_draws_every_parameter_again(prepared: Prepared) -> None:
    """Every parameter, the whole model's included, is drawn again: none keeps a value set before, and a second
    reset draws other values than the first."""
    model = build_model(tiny_config().to_dict(), FeaturePipeline.fit(prepared.snap, text_dim=8), brands=False)
    for module in (ComplementDecoder(8, 4), SubstituteDecoder(8, 4), PairTerm(5, hidden=3), model):
        with torch.no_grad():
            for p in module.parameters():
                p.fill_(7.0)
        module.reset_parameters()
        for name, p in module.named_parameters():
            assert not (p == 7.0).any(), (module.__class__.__name__, name)
    for module in (ComplementDecoder(8, 4), SubstituteDecoder(8, 4), PairTerm(5, hidden=3)):
        first = [p.detach().clone() for p in module.parameters()]
        module.reset_parameters()
        assert all(not torch.equal(a, b) for a, b in zip(first, module.parameters(), strict=True)), module


def test_pair_term_by_hand() -> None:
    """t = w2 . relu(W1 f + b1) + b2 on every row of a (*, features) input, by hand."""
    term = PairTerm(2, hidden=2)
    with torch.no_grad():
        term.lin1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        term.lin1.bias.zero_()
        term.lin2.weight.copy_(torch.tensor([[2.0, 3.0]]))
        term.lin2.bias.fill_(0.5)
        # [1, 2] -> relu([1, -2]) = [1, 0] -> 2.5;  [-1, -3] -> relu([-1, 3]) = [0, 3] -> 9.5
        out = term(torch.tensor([[[1.0, 2.0]], [[-1.0, -3.0]]]))
    assert out.shape == (2, 1)
    assert out.tolist() == [[2.5], [9.5]]


def test_sparse_and_scatter_aggregation_agree(prepared: Prepared) -> None:
    model = build_model(
        tiny_config().to_dict(), FeaturePipeline.fit(prepared.snap, text_dim=8), brands=False
    ).eval()
    data = prepared.graph()
    with torch.no_grad():
        dense = model.encoder(**encoder_inputs(data))
        sparse = model.encoder(**encoder_inputs(data, sparse=True))
    assert torch.allclose(dense, sparse, atol=1e-4)


def test_a_run_saved_before_pair_features_were_appended_still_scores() -> None:
    """PAIR_FEATURES is append-only: a model whose structural term reads fewer columns scores with the first ones."""
    from gnn.features import FeaturePipeline
    from gnn.model_scorer import GNNScorer, Prepared, build_model, pair_feature_count
    from gnn.pair_features import PAIR_FEATURES
    from tests.gnn.gnn_fixture import small_catalog, tiny_config

    snap = small_catalog()
    pipeline = FeaturePipeline.fit(snap, text_dim=8, seed=0)
    older = {
        "complement": len(PAIR_FEATURES["complement"]) - 2,
        "substitute": len(PAIR_FEATURES["substitute"]),
    }
    model = build_model(tiny_config().to_dict(), pipeline, brands=False, features=older)
    assert pair_feature_count(model, "complement") == older["complement"]
    prepared = Prepared.of(snap, pipeline)
    s = GNNScorer(model, prepared.graph(), prepared.pair_features()).scores("complement", np.array([0, 1]))
    assert s.shape == (2, snap.n("Product")) and np.isfinite(s).all()
