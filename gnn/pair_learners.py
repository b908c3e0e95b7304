"""The ablation that says what GraphSAGE adds: the GNN's own pair features, fitted by a plain learner.

:class:`PairLearner` learns a pair's score from the rows of :data:`gnn.pair_features.PAIR_FEATURES` alone (2-hop
path counts over both lists, co-reviews, title cosine, same category, category affinity, popularity), with no
embedding and no message passing, by logistic regression or gradient-boosted trees (scikit-learn's
``LogisticRegression`` and ``HistGradientBoostingClassifier``). It is trained the way the GNN is, so the only
difference left is the model:

- supervision comes from episodes of the train graph (:func:`gnn.objective.episode`, the GNN's own shares of
  warm, cold and new products): a positive's features are computed over the episode's message graph, from which
  the positive itself was removed both ways, so no feature counts the very edge it is asked to predict;
- negatives are the GNN's hard negatives in the GNN's shares (:func:`gnn.objective.hard_negatives`: uniform,
  same category, popular, two hops away, and the query's substitutes for complements); known partners are dropped;
- labels follow :mod:`gnn.labels` (complement positives are the pure also_bought pairs);
- scoring computes the features of a query block against the whole catalog over the graph it is given (a
  split's train graph), exactly as :class:`gnn.model_scorer.GNNScorer` does, so it ranks the same candidates.

Hyper-parameters are scikit-learn's defaults but for the trees' size (fixed here, not tuned on test pairs):
the learners are rivals, and a rival tuned on the test would flatter nobody but itself.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np

from gnn.config import TrainConfig
from gnn.features import FeaturePipeline
from gnn.model_scorer import Prepared
from gnn.objective import episode, hard_negatives, substitutes_of
from gnn.pair_features import PAIR_FEATURES
from graph.schema import RELATIONS
from graph.snapshot import Snapshot

log = logging.getLogger(__name__)

Kind = Literal["logreg", "trees"]
NAMES: dict[str, str] = {
    "logreg": "logistic regression (pair features)",
    "trees": "boosted trees (pair features)",
}
# pair-feature cells per scoring block: a query block's [q, n, F] float32 features stay ~64 MiB
_CELLS = 1 << 24


class PairLearner:
    """A :class:`~gnn.scoring.Scorer` of pair features fitted by `kind` (see the module docstring).

    Args:
        train: the graph it learns from and scores over (a split's train graph).
        kind: ``"logreg"`` or ``"trees"``.
        episodes: how many episodes of supervision to draw (each one cuts the graph afresh).
        config: the GNN's config, whose episode shares, negatives and seed it shares (default: the defaults).
    """

    def __init__(
        self, train: Snapshot, kind: Kind = "trees", episodes: int = 3, config: TrainConfig | None = None
    ) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        c = config or TrainConfig()
        self.kind = kind
        self.name = NAMES[kind]
        pipeline = FeaturePipeline.fit(train, text_dim=c.text_dim, seed=c.seed)
        self.prepared = Prepared.of(train, pipeline)
        rng = np.random.default_rng(c.seed)
        x: dict[str, list[np.ndarray]] = {r: [] for r in RELATIONS}
        y: dict[str, list[np.ndarray]] = {r: [] for r in RELATIONS}
        for _ in range(episodes):
            ep = episode(train, rng, c.episode_warm, c.episode_cold, c.episode_new, c.max_positives)
            pairs = self.prepared.pair_features(ep.message)
            samplers = hard_negatives(
                ep.message,
                pairs,
                self.prepared.category,
                c.negative_mix,
                substitutes_of(ep.message),
                c.substitute_negatives,
            )
            for relation, (a, b) in ep.supervision.items():
                if len(a) == 0:
                    continue
                neg = samplers[relation].sample(rng, a, b, c.negatives)
                rep = np.repeat(a, neg.shape[1])
                keep = (ep.known[relation].lookup(rep, neg.ravel()) == 0) & (neg.ravel() != rep)
                x[relation] += [
                    pairs.pairs(relation, a, b),
                    pairs.pairs(relation, rep[keep], neg.ravel()[keep]),
                ]
                y[relation] += [np.ones(len(a), np.int8), np.zeros(int(keep.sum()), np.int8)]
        self.models: dict[str, Any] = {}
        for relation in RELATIONS:
            if not x[relation] or not any(len(v) and v.max() for v in y[relation]):
                self.models[relation] = None  # nothing to learn from: every score ties
                continue
            features, labels = np.concatenate(x[relation]), np.concatenate(y[relation])
            # positives are 1 in 1 + negatives: weight them up to balance the classes
            weight = np.where(labels == 1, c.negatives, 1.0)
            if kind == "trees":
                model = HistGradientBoostingClassifier(
                    max_iter=100, max_leaf_nodes=15, learning_rate=0.1, random_state=c.seed
                )
            else:
                model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
            fit_kw = (
                {"sample_weight": weight}
                if kind == "trees"
                else {"logisticregression__sample_weight": weight}
            )
            model.fit(features, labels, **fit_kw)
            self.models[relation] = model
            log.info("pair_learner kind=%s relation=%s examples=%d", kind, relation, len(labels))
        self.pairs = self.prepared.pair_features()

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        queries = np.asarray(queries, np.int64)
        n = self.pairs.n
        out = np.zeros((len(queries), n), np.float32)
        if self.models[relation] is None:
            return out
        chunk = max(1, _CELLS // (n * len(PAIR_FEATURES[relation])))
        for lo in range(0, len(queries), chunk):
            q = queries[lo : lo + chunk]
            f = self.pairs.all_targets(relation, q).reshape(len(q) * n, -1)
            out[lo : lo + len(q)] = self._decide(relation, f).reshape(len(q), n)
        return out

    def pair_scores(self, relation: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """score(a[i] -> b[i]) for each i, from those pairs' features alone (what a direction check needs)."""
        if self.models[relation] is None:
            return np.zeros(len(a), np.float32)
        return self._decide(relation, self.pairs.pairs(relation, a, b))

    def _decide(self, relation: str, features: np.ndarray) -> np.ndarray:
        """The model's log-odds (a monotone map of its probability, without the probability's rounding to 1)."""
        return np.asarray(self.models[relation].decision_function(features), np.float32)
