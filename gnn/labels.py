"""The label rule: which observed pairs teach (and test) complements, and which substitutes.

The lists are two signals about one pair of products: ``ALSO_BOUGHT`` (customers bought both) and
``ALSO_VIEWED`` (customers viewed one instead of the other). On Beauty 93,620 of the 239,344 also_bought pairs
are also co-viewed: another size of the same top coat, the two-bottle pack, the kit with it. Counting those as
complements trains the complement decoder to fill a bundle with the product's own substitutes, and an evaluation
built on the same labels rewards it. So, as Amazon's P-Companion derives complement labels from co-purchases that
are not co-views (Hao et al., KDD 2020):

**A pair bought together and viewed instead, in either direction, is a substitute, not a complement.**

- complement label: ``a -> b`` listed in ``ALSO_BOUGHT`` while neither ``a -> b`` nor ``b -> a`` is in
  ``ALSO_VIEWED`` (a *pure* complement);
- substitute label: ``a -> b`` in ``ALSO_VIEWED`` (a co-bought pair among them stays a substitute).

The rule holds in training (an episode's complement positives are pure, and a co-viewed co-purchase is a
complement *negative*: :func:`gnn.objective.episode`) and in the evaluation's ground truth (the ``complement``
table ranks pure pairs with pure partners filtered; ``complement_all`` keeps every also_bought pair for
comparison: :mod:`gnn.evaluate`). Messages are not labels: the message graph keeps both lists whole.
"""

from __future__ import annotations

import numpy as np

from graph.schema import LABEL_TYPE
from graph.snapshot import Snapshot

RULE = "a pair in both also_bought and also_viewed (either direction) is a substitute, not a complement"


def _unordered(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    return np.minimum(a, b) * n + np.maximum(a, b)


def viewed_keys(snap: Snapshot) -> np.ndarray:
    """Sorted unordered keys ``min*n + max`` of every ``ALSO_VIEWED`` pair of `snap`."""
    src, dst = snap.rel(LABEL_TYPE["substitute"]).coo()
    return np.unique(_unordered(src, dst, snap.n("Product")))


def pure_mask(snap: Snapshot, a: np.ndarray, b: np.ndarray, viewed: np.ndarray | None = None) -> np.ndarray:
    """bool ``[m]``: pair ``(a[i], b[i])`` is co-viewed in neither direction in `snap` (a pure complement pair,
    when it is co-bought). `viewed` is :func:`viewed_keys` of `snap` when the caller holds it."""
    keys = viewed if viewed is not None else viewed_keys(snap)
    if len(keys) == 0:
        return np.ones(len(a), dtype=bool)
    q = _unordered(a, b, snap.n("Product"))
    at = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
    return keys[at] != q


def pure_pairs(snap: Snapshot, pairs: np.ndarray, viewed: np.ndarray | None = None) -> np.ndarray:
    """The rows of `pairs` (int64 ``[m, 2]``) that are pure complement pairs by :data:`RULE` over `snap`."""
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    return pairs[pure_mask(snap, pairs[:, 0], pairs[:, 1], viewed)]


def complement_labels(snap: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """(src, dst) of `snap`'s complement labels: its ``ALSO_BOUGHT`` pairs that are pure."""
    src, dst = snap.rel(LABEL_TYPE["complement"]).coo()
    keep = pure_mask(snap, src, dst)
    return src[keep].astype(np.int64), dst[keep].astype(np.int64)


def label_pairs(snap: Snapshot, relation: str) -> tuple[np.ndarray, np.ndarray]:
    """(src, dst) of `snap`'s labels of `relation` by :data:`RULE`."""
    if relation == "complement":
        return complement_labels(snap)
    src, dst = snap.rel(LABEL_TYPE[relation]).coo()
    return src.astype(np.int64), dst.astype(np.int64)
