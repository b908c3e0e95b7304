"""The baselines every model is ranked against, each a :class:`~gnn.scoring.Scorer` fitted on ``split.train`` only.

From the cheapest signal to the richest:

- :class:`Popularity`: in-degree in the relation's lists plus review count (what a shop shows with no model);
- :class:`CategoryPopularity`: the same, but products of the query's category first;
- :class:`TitleSimilarity`: TF-IDF cosine between titles, the only signal a new product has besides its category;
- :class:`CoOccurrence`: Amazon's item-to-item collaborative filtering (Linden, Smith, York, IEEE Internet
  Computing 2003): customers who reviewed a also reviewed b, cosine-normalized;
- :class:`RandomWalk`: Pixie-style visit counts (Eksombatchai et al., WWW 2018) of a short walk over the remaining
  co-purchase lists and the customer graph, computed exactly as two steps of the transition matrix rather than
  sampled (same expectation, no variance, and fast on this scale with scipy.sparse).

All are sparse-matrix products over the train snapshot: a whole evaluation of Beauty takes seconds.

A baseline that reads a signal the catalog lacks (``needs``: titles, categories, customer interactions; see
:mod:`gnn.signals`) steps aside: :func:`baselines` leaves it out and says why, since its scores would be a copy
of another method's (category popularity without categories is popularity) or constant.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from gnn.scoring import Scorer
from gnn.signals import Signal, Signals, StepAside
from graph.schema import INTERACTION_TYPES, LABEL_TYPE, RELATIONS
from graph.snapshot import Snapshot


def interactions(snap: Snapshot) -> sp.csr_matrix:
    """Binary customer x product matrix of every interaction type (reviews, purchases, views)."""
    n_c, n_p = snap.n("Customer"), snap.n("Product")
    rows, cols = [], []
    for type_ in INTERACTION_TYPES:
        src, dst = snap.rel(type_).coo()
        rows.append(src)
        cols.append(dst)
    r, c = np.concatenate(rows), np.concatenate(cols)
    m = sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(n_c, n_p))
    m.data[:] = 1.0  # a customer who reviewed and bought counts once
    return m


def lists(snap: Snapshot, relation: str) -> sp.csr_matrix:
    """The relation's co-purchase lists as a binary product x product matrix (row a lists column b)."""
    src, dst = snap.rel(LABEL_TYPE[relation]).coo()
    n = snap.n("Product")
    return sp.csr_matrix((np.ones(len(src), dtype=np.float32), (src, dst)), shape=(n, n))


def _row_normalize(m: sp.csr_matrix) -> sp.csr_matrix:
    total = np.asarray(m.sum(axis=1)).ravel()
    return sp.diags(np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)) @ m


class Popularity:
    """score(q, b) = in-degree of b in the relation's train lists + b's number of customers; the same for every q."""

    name = "popularity"
    needs: tuple[Signal, ...] = ()

    def __init__(self, train: Snapshot) -> None:
        customers = np.asarray(interactions(train).sum(axis=0)).ravel()
        self.popularity = {
            relation: (np.asarray(lists(train, relation).sum(axis=0)).ravel() + customers).astype(np.float32)
            for relation in RELATIONS
        }

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        return np.tile(self.popularity[relation], (len(queries), 1))


class CategoryPopularity:
    """:class:`Popularity` with every product of the query's category ranked above every other product."""

    name = "category popularity"
    needs: tuple[Signal, ...] = ("categories",)

    def __init__(self, train: Snapshot) -> None:
        self.popularity = Popularity(train).popularity
        self.category = train.product_category()

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        pop = self.popularity[relation]
        query = self.category[np.asarray(queries)][:, None]
        same = (self.category[None, :] == query) & (query >= 0)  # no category is shared with no product
        return (same + pop / (pop.max() + 1.0)).astype(np.float32)


class TitleSimilarity:
    """Cosine of TF-IDF title vectors (sublinear tf, words); the same for both relations.

    Word pairs and a minimum document frequency were tried on Beauty and cost ~0.01 NDCG@10: titles are short.
    """

    name = "title similarity"
    needs: tuple[Signal, ...] = ("titles",)

    def __init__(self, train: Snapshot) -> None:
        n = train.n("Product")
        if Signals.of(train).lacks("titles") is not None:  # no word to match on: every score is 0
            self.vectors = sp.csr_matrix((n, 0), dtype=np.float32)
            return
        titles = ["" if t is None else str(t) for t in train.titles] if train.titles is not None else [""] * n
        vectorizer = TfidfVectorizer(sublinear_tf=True, dtype=np.float32)
        self.vectors = vectorizer.fit_transform(titles).tocsr()  # rows are l2-normalized

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        return (self.vectors[queries] @ self.vectors.T).toarray().astype(np.float32)


class CoOccurrence:
    """Item-to-item: |customers of q and of b| / sqrt(|customers of q| |customers of b|); both relations alike.

    The whole product x product matrix is computed once: it has as many entries as co-reviewed pairs.
    """

    name = "co-occurrence"
    needs: tuple[Signal, ...] = ("interactions",)

    def __init__(self, train: Snapshot) -> None:
        r = interactions(train)
        count = np.asarray(r.sum(axis=0)).ravel()
        inv_norm = sp.diags(np.divide(1.0, np.sqrt(count), out=np.zeros_like(count), where=count > 0))
        self.cosine = (inv_norm @ (r.T @ r) @ inv_norm).tocsr()

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        return self.cosine[queries].toarray()


class RandomWalk:
    """Expected visit counts of a `hops`-step walk from the query (Pixie, without the sampling).

    One step from product i follows i's list in the relation with probability ``1 - customer_weight``, or goes
    to one of i's customers and on to another product of theirs with ``customer_weight``; a product whose lists
    are gone (cold) walks through its customers only. Visits after each step are summed: hop 1 is the product's
    own list (filtered away at evaluation), so what ranks held-out partners is hop 2 and beyond. The one-step
    transition matrix is built once per relation; a walk is then `hops` sparse products.
    """

    name = "random walk"
    needs: tuple[Signal, ...] = ()  # without customers it walks the lists alone

    def __init__(self, train: Snapshot, customer_weight: float = 0.1, hops: int = 2) -> None:
        r = interactions(train)
        through_customers = _row_normalize(r.T.tocsr()) @ _row_normalize(r)
        has_customers = np.asarray(r.sum(axis=0)).ravel() > 0
        self.hops = hops
        self.transition: dict[str, sp.csr_matrix] = {}
        for relation in RELATIONS:
            a = lists(train, relation)
            has_list = np.asarray(a.sum(axis=1)).ravel() > 0
            via_list = np.where(has_list, np.where(has_customers, 1.0 - customer_weight, 1.0), 0.0)
            via_customer = np.where(has_customers, 1.0 - via_list, 0.0)
            self.transition[relation] = (
                sp.diags(via_list) @ _row_normalize(a) + sp.diags(via_customer) @ through_customers
            ).tocsr()

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        step = self.transition[relation]
        x = step[queries]
        visits = x
        for _ in range(self.hops - 1):
            x = x @ step
            visits = visits + x
        return visits.toarray().astype(np.float32)


# in the order the report lists them
BASELINES = (Popularity, CategoryPopularity, TitleSimilarity, CoOccurrence, RandomWalk)


def baselines(train: Snapshot) -> tuple[list[Scorer], list[StepAside]]:
    """The baselines `train` has the signals for, fitted on it, and those that stepped aside, with why."""
    signals = Signals.of(train)
    fitted: list[Scorer] = []
    aside: list[StepAside] = []
    for method in BASELINES:
        missing = [why for why in (signals.lacks(s) for s in method.needs) if why is not None]
        if missing:
            aside.append(StepAside(method.name, "; ".join(missing)))
        else:
            fitted.append(method(train))
    return fitted, aside


def all_baselines(train: Snapshot) -> list[Scorer]:
    """Every baseline `train` has the signals for, fitted on it, in the order the report lists them."""
    return baselines(train)[0]
