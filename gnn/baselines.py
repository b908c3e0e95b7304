"""The baselines every model is ranked against, each a :class:`~gnn.scoring.Scorer` fitted on ``split.train`` only.

From the cheapest signal to the richest:

- :class:`Popularity`: in-degree in the relation's lists plus review count (what a shop shows with no model);
- :class:`CategoryPopularity`: the same, but products of the query's category first;
- :class:`TitleSimilarity`: TF-IDF cosine between titles, the only signal a new product has besides its category;
- :class:`CoOccurrence`: Amazon's item-to-item collaborative filtering (Linden, Smith, York, IEEE Internet
  Computing 2003): customers who reviewed a also reviewed b, cosine-normalized;
- :class:`CommonNeighbours`, :class:`AdamicAdar`, :class:`PathCounts`: the structural heuristics of link
  prediction over every co-purchase list together (what an edge list alone supports);
- :class:`RandomWalk`: Pixie's walk (Eksombatchai et al., WWW 2018) over both co-purchase lists and the
  customers, run by the same :class:`~graph.walks.walker.Walker` that serving uses.

All but the walk are sparse-matrix products over the train snapshot; a whole evaluation of Beauty's baselines
takes well under a minute. :mod:`gnn.pair_learners` adds the learned rivals on the GNN's own pair features.

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
from graph.schema import CO_PURCHASE_TYPES, INTERACTION_TYPES, LABEL_TYPE, RELATIONS
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
    """Pixie's walk (Eksombatchai et al., WWW 2018) over both co-purchase lists and the customers, run by the
    :class:`~graph.walks.walker.Walker` that serving uses (its batch mode, on its default backend): a query's
    score of a product is the product's visit count, divided by ``in_degree ** degree_norm`` as serving does.

    Each relation walks the lists of both relations and every customer interaction (:data:`WALK_WEIGHTS`: the
    relation's own list weighs most, as in :data:`graph.walks.walk_graph.RELATION_WEIGHTS`, which walks one list
    only); a cold product walks through its customers, a new one has no walk (every score ties). `steps` per query
    and `k` kept candidates (the rest score 0); the walk is seeded, so one call's scores are reproducible.
    """

    name = "random walk"
    needs: tuple[Signal, ...] = ()  # without customers it walks the lists alone

    def __init__(self, train: Snapshot, steps: int = 20_000, k: int = 1000, seed: int = 0) -> None:
        from graph.walks.params import WalkParams
        from graph.walks.walk_graph import WalkGraph
        from graph.walks.walker import Walker

        self.n = train.n("Product")
        self.k, self.seed = min(k, self.n), seed
        self.params = WalkParams(steps=steps, restart=WALK_RESTART, degree_norm=WALK_DEGREE_NORM)
        self.walkers = {
            relation: Walker(
                WalkGraph.from_snapshot(train, relation, weights=WALK_WEIGHTS[relation], both_ways=())
            )
            for relation in RELATIONS
        }

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        queries = np.asarray(queries, np.int64)
        found = self.walkers[relation].batch(queries, k=self.k, params=self.params, seed=self.seed)
        out = np.zeros((len(queries), self.n), np.float32)
        row, col = np.nonzero(found.candidates >= 0)
        out[row, found.candidates[row, col]] = found.counts[row, col]
        return out


# RandomWalk's walk graph per relation (edge multiplicities) and walk, tuned on seed 0's warm validation pairs
# of Beauty and Cell Phones (NDCG@10): the relation's own list first, the other list and the customers beside it;
# co-purchase lists walked forward only (the held-out pairs are listed a -> b), no popularity correction.
WALK_WEIGHTS: dict[str, dict[str, int]] = {
    "complement": {
        "ALSO_BOUGHT": 32,
        "BOUGHT_TOGETHER": 32,
        "ALSO_VIEWED": 1,
        "PURCHASED": 4,
        "REVIEWED": 4,
        "VIEWED": 4,
    },
    "substitute": {"ALSO_VIEWED": 32, "ALSO_BOUGHT": 1, "VIEWED": 4, "REVIEWED": 4, "PURCHASED": 4},
}
WALK_RESTART = 0.5
WALK_DEGREE_NORM = 0.0


def co_purchase(snap: Snapshot, undirected: bool) -> sp.csr_matrix:
    """Every co-purchase list together as one binary product x product matrix (`undirected`: both ways)."""
    n = snap.n("Product")
    parts = [snap.rel(t).coo() for t in CO_PURCHASE_TYPES]
    src = np.concatenate([p[0] for p in parts])
    dst = np.concatenate([p[1] for p in parts])
    if undirected:
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    m = sp.csr_matrix((np.ones(len(src), dtype=np.float32), (src, dst)), shape=(n, n))
    m.data[:] = 1.0
    return m


class CommonNeighbours:
    """|N(q) ∩ N(b)| over every co-purchase list together, undirected (Liben-Nowell and Kleinberg, 2007)."""

    name = "common neighbours"
    needs: tuple[Signal, ...] = ()

    def __init__(self, train: Snapshot) -> None:
        self.a = co_purchase(train, undirected=True)
        self.right = self.a

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        return (self.a[queries] @ self.right).toarray().astype(np.float32)


class AdamicAdar(CommonNeighbours):
    """Common neighbours each weighted 1 / log(degree) (Adamic and Adar, Social Networks 2003)."""

    name = "Adamic-Adar"

    def __init__(self, train: Snapshot) -> None:
        super().__init__(train)
        degree = np.asarray(self.a.sum(axis=1)).ravel()
        weight = np.divide(1.0, np.log(np.maximum(degree, 2.0)), out=np.zeros_like(degree), where=degree > 1)
        self.right = (sp.diags(weight) @ self.a).tocsr()


class PathCounts:
    """Counts of 2-step paths q -> x -> b over every co-purchase list together, ties broken by 3-step paths
    (score = p2 + p3 / (1 + max p3) per query); complements follow the lists' direction, substitutes (a symmetric
    relation) add the paths b -> q, so a pair scores the same in both directions."""

    name = "path counts (2, 3 steps)"
    needs: tuple[Signal, ...] = ()

    def __init__(self, train: Snapshot) -> None:
        self.m = co_purchase(train, undirected=False)
        self.mt = self.m.T.tocsr()

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        out = self._paths(self.m, queries)
        if relation == "substitute":
            out += self._paths(self.mt, queries)
        return out

    @staticmethod
    def _paths(m: sp.csr_matrix, queries: np.ndarray) -> np.ndarray:
        one = m[queries]
        two = (one @ m).toarray()
        three = np.asarray((m.T @ two.T).T)  # dense rows times the sparse matrix
        top = three.max(axis=1, keepdims=True) if three.size else three
        return (two + three / (1.0 + top)).astype(np.float32)


# in the order the report lists them
BASELINES = (
    Popularity,
    CategoryPopularity,
    TitleSimilarity,
    CoOccurrence,
    CommonNeighbours,
    AdamicAdar,
    PathCounts,
    RandomWalk,
)


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
