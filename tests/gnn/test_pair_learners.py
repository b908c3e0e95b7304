"""gnn/pair_learners.py: the GNN's pair features fitted by logistic regression and boosted trees, as rivals."""

from __future__ import annotations

import numpy as np
import pytest

from gnn.baselines import Popularity
from gnn.evaluate import known_partners, labelled_pairs, rank_metrics
from gnn.model_scorer import Distinct, DistinctScorer, title_words
from gnn.pair_features import PAIR_FEATURES
from gnn.pair_learners import PairLearner
from gnn.split import make_split
from gnn.text import titles_of
from tests.gnn.gnn_fixture import small_catalog, tiny_config


@pytest.fixture(scope="module")
def split():
    return make_split(small_catalog(), seed=0)


@pytest.mark.parametrize("kind", ["logreg", "trees"])
def test_a_learner_on_pair_features_ranks_planted_partners_above_popularity(split, kind: str) -> None:
    learner = PairLearner(split.train, kind, episodes=2, config=tiny_config())
    assert learner.pairs.n == split.train.n("Product")
    popularity = Popularity(split.train)
    for relation in ("complement", "substitute"):
        pairs = labelled_pairs(split, relation, "warm")
        known = known_partners(split, relation, pure=True)
        ours = rank_metrics(learner, relation, pairs, known)["ndcg@10"]
        theirs = rank_metrics(popularity, relation, pairs, known)["ndcg@10"]
        assert ours > theirs, (relation, ours, theirs)


def test_pair_scores_are_the_rows_entries_and_features_are_the_train_graphs(split) -> None:
    learner = PairLearner(split.train, "trees", episodes=1, config=tiny_config())
    q = np.array([0, 5, 17])
    rows = learner.scores("complement", q)
    b = np.array([3, 9, 40])
    np.testing.assert_allclose(learner.pair_scores("complement", q, b), rows[np.arange(3), b], rtol=1e-5)
    # scores come from the features of the graph it was given, one column per feature of the GNN's table
    f = learner.pairs.all_targets("substitute", q)
    assert f.shape == (3, split.train.n("Product"), len(PAIR_FEATURES["substitute"]))
    assert learner.scores("substitute", q).shape == (3, split.train.n("Product"))


def test_the_push_down_wrapper_ranks_the_learners_own_substitutes_last(split) -> None:
    learner = PairLearner(split.train, "logreg", episodes=1, config=tiny_config())
    distinct = Distinct(exclude_similar=5, near_duplicate=1.0)
    wrapped = DistinctScorer(learner, distinct, title_words(titles_of(split.train)))
    q = np.array([1, 2])
    raw, pushed = learner.scores("complement", q), wrapped.scores("complement", q)
    sub = learner.scores("substitute", q)
    sub[np.arange(2), q] = -np.inf
    top = np.argsort(-sub, axis=1)[:, :5]
    for i in range(2):
        np.testing.assert_allclose(pushed[i, top[i]], raw[i, top[i]] - distinct.penalty, rtol=1e-5)
        others = np.setdiff1d(np.arange(raw.shape[1]), top[i])
        np.testing.assert_array_equal(pushed[i, others], raw[i, others])
    np.testing.assert_array_equal(wrapped.scores("substitute", q), learner.scores("substitute", q))
    assert wrapped.name == learner.name and wrapped.pair_scores == learner.pair_scores
