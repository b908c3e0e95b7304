"""The training objective: an episode never supervises with a pair its messages carry, and the losses mask the
known partners of a query instead of pushing them down."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnn.data import encoder_inputs
from gnn.features import FeaturePipeline
from gnn.model_scorer import Prepared, build_model
from gnn.objective import Examples, episode, losses
from gnn.sparse import SparseRows
from graph.schema import CO_PURCHASE_TYPES, RELATIONS
from tests.gnn.gnn_fixture import small_catalog, tiny_config


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    snap = small_catalog()
    return Prepared.of(snap, FeaturePipeline.fit(snap, text_dim=8))


def test_episode_supervision_is_never_a_message(prepared: Prepared) -> None:
    ep = episode(prepared.snap, np.random.default_rng(0), 0.3, 0.03, 0.03, max_positives=500)
    messages: set[tuple[int, int]] = set()
    for type_ in CO_PURCHASE_TYPES:
        src, dst = ep.message.rel(type_).coo()
        messages |= set(zip(src.tolist(), dst.tolist(), strict=True))
    for relation in RELATIONS:
        a, b = ep.supervision[relation]
        assert 0 < len(a) <= 500
        pairs = set(zip(a.tolist(), b.tolist(), strict=True))
        assert not pairs & messages and not {(y, x) for x, y in pairs} & messages, relation
        assert (ep.known[relation].lookup(a, b) == 1).all()


@pytest.mark.parametrize("relation", RELATIONS)
def test_known_partners_are_masked_out_of_the_ranking_loss(prepared: Prepared, relation: str) -> None:
    torch.manual_seed(0)
    model = build_model(tiny_config().to_dict(), FeaturePipeline.fit(prepared.snap, text_dim=8), brands=False)
    z = model.encoder(**encoder_inputs(prepared.graph()))
    pairs = prepared.pair_features()
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, pairs.n, 64), rng.integers(0, pairs.n, 64)
    neg = rng.integers(0, pairs.n, (64, 4))
    n = pairs.n
    some = SparseRows.from_coo(a, b, n, n)
    every = SparseRows.from_coo(np.concatenate([a, np.repeat(a, 4)]), np.concatenate([b, neg.ravel()]), n, n)
    rank, _ = losses(model, relation, z, Examples.of(relation, pairs, some, a, b, neg, z.device), None, 1.0)
    masked, _ = losses(
        model, relation, z, Examples.of(relation, pairs, every, a, b, neg, z.device), None, 1.0
    )
    assert float(rank.detach()) > 0
    assert float(masked.detach()) == 0.0  # the positive alone is left to rank
