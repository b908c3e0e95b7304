"""What every ranked method provides, the GNN and the baselines alike: one score per (query, product).

Evaluation (:mod:`gnn.evaluate`) sees only this protocol, so a model and a baseline are ranked by the same code on
the same filtered candidates, and adding a method never touches the evaluation.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Scorer(Protocol):
    """A method that ranks all products for query products, in one relation.

    ``name`` labels the method in results and plots. ``scores(relation, queries)`` takes ``relation`` in
    ``("complement", "substitute")`` and int64 product ids ``[q]``, and returns float32 ``[q, n_products]``,
    higher = better partner for that query. Scores are compared only within a row (a query's ranking), never
    across queries; ties are broken at random in expectation by the metrics.
    """

    name: str

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray: ...
