"""The pairwise structural and content features a link model's scores add to its embeddings.

:class:`PairFeatures` gives, for a (query, candidate) pair, what link-prediction heuristics are made of: paths of
length two through co-purchase, co-view and co-review lists (counts, and resource allocation, which weighs a path
by 1/degree of its middle node: Zhou, Lü, Zhang, EPJ B 2009), title cosine, same category, popularity. GNNs with
dot-product decoders cannot count common neighbours (Zhang et al., "Labeling Trick", NeurIPS 2021), which is why
NCN (Wang et al., ICLR 2024) and BUDDY (Chamberlain et al., ICLR 2023) add such counts to the learned score; so
does :class:`gnn.model.PairTerm`.

Each feature is one row of :data:`PAIR_FEATURES`: its name, how to compute it for given pairs (training), how to
compute it for a block of queries against the whole catalog (ranking), from the same arrays, and its kind (path
counts enter as ``log1p``). The rows are made by a few constructors (a two-hop product of lists, a value of the
query, of the candidate, of both), each of which writes the pair and the block computation once, side by side.
The order of a relation's rows is the order of the model's input columns, which a saved run's weights depend on:
append, never reorder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np

from gnn.sparse import SparseRows
from graph.schema import INTERACTION_TYPES
from graph.snapshot import Snapshot

# a path count (or a sum of path weights), squashed by log1p: a hundred common neighbours is not fifty times as
# telling as two; or a value already on a fair scale (a cosine, 0/1, a log)
Kind = Literal["paths", "value"]


class PairFeature(NamedTuple):
    """One input column of the structural term.

    ``pair(f, a, b)`` is its value for each pair ``(a[i], b[i])``, ``[m]``; ``row(f, a)`` for every pair
    ``(a[i], b)``, b over the catalog, ``[len(a), n_products]`` or broadcastable to it. Both must agree.
    """

    name: str
    pair: Callable[[PairFeatures, np.ndarray, np.ndarray], np.ndarray]
    row: Callable[[PairFeatures, np.ndarray], np.ndarray]
    kind: Kind


Matrix = Callable[["PairFeatures"], SparseRows]
Values = Callable[["PairFeatures"], np.ndarray]


def _two_hop(name: str, left: Matrix, right: Matrix, kind: Kind) -> PairFeature:
    """``(left @ right)[a, b]``: the paths a -> x -> b, weighted by the two matrices' entries."""
    return PairFeature(
        name,
        lambda f, a, b: left(f).pair_paths(right(f), a, b),
        lambda f, a: left(f).row_paths(right(f), a),
        kind,
    )


def _both_ways(name: str, left: Matrix, right: Matrix, left_t: Matrix, right_t: Matrix) -> PairFeature:
    """``(left @ right)[a, b] + (left @ right)[b, a]``, path counts made symmetric; `left_t` and `right_t` are
    the transposes (the second term of a query's row is ``(right_t @ left_t)[a]``)."""
    return PairFeature(
        name,
        lambda f, a, b: left(f).pair_paths(right(f), a, b) + left(f).pair_paths(right(f), b, a),
        lambda f, a: left(f).row_paths(right(f), a) + right_t(f).row_paths(left_t(f), a),
        "paths",
    )


def _of_query(name: str, values: Values) -> PairFeature:
    """A product value of the query, ``values[a]``."""
    return PairFeature(name, lambda f, a, b: values(f)[a], lambda f, a: values(f)[a[:, None]], "value")


def _of_candidate(name: str, values: Values) -> PairFeature:
    """A product value of the candidate, ``values[b]``."""
    return PairFeature(name, lambda f, a, b: values(f)[b], lambda f, a: values(f)[None, :], "value")


def _of_both(name: str, values: Values, op: np.ufunc) -> PairFeature:
    """``op(values[a], values[b])``: a symmetric `op` gives a symmetric feature."""
    return PairFeature(
        name,
        lambda f, a, b: op(values(f)[a], values(f)[b]),
        lambda f, a: op(values(f)[a[:, None]], values(f)[None, :]),
        "value",
    )


def _category_pair(name: str, table: Callable[[PairFeatures], np.ndarray]) -> PairFeature:
    """``table[category[a], category[b]]``: a value of the two products' categories."""
    return PairFeature(
        name,
        lambda f, a, b: table(f)[f.category[a], f.category[b]],
        lambda f, a: table(f)[f.category[a][:, None], f.category[None, :]],
        "value",
    )


# shared by both relations
_REVIEWED_AND_CONTENT = (
    _two_hop("reviewed_cn", lambda f: f.rt, lambda f: f.r, "paths"),  # customers who interacted with both
    # the same, each customer weighted 1/their interaction count
    _two_hop("reviewed_ra", lambda f: f.rt, lambda f: f.r_ra, "paths"),
    _two_hop("title_cos", lambda f: f.tfidf, lambda f: f.tfidf_t, "value"),  # paths through shared words
    # a product without a category shares it with none (else every uncategorized pair would be "same")
    _of_both("same_category", lambda f: f.category_or_none, np.equal),
)

PAIR_FEATURES: dict[str, tuple[PairFeature, ...]] = {
    "complement": (
        # paths a -> x -> b along ALSO_BOUGHT: the two-hop walk
        _two_hop("bought_a_x_b", lambda f: f.b, lambda f: f.b, "paths"),
        # the same, each path weighted 1/out-degree(x): a walk's visit probability
        _two_hop("bought_a_x_b_ra", lambda f: f.b, lambda f: f.b_ra, "paths"),
        _two_hop(
            "bought_x_ab", lambda f: f.bt, lambda f: f.b, "paths"
        ),  # some x lists both a and b (co-cited)
        _two_hop("bought_ab_x", lambda f: f.b, lambda f: f.bt, "paths"),  # a and b list a common x (coupled)
        _two_hop(
            "viewed_cn", lambda f: f.vs, lambda f: f.vs, "paths"
        ),  # common co-view neighbours, either way
        # a -> x along ALSO_VIEWED (either way), x -> b along ALSO_BOUGHT
        _two_hop("viewed_bought", lambda f: f.vs, lambda f: f.b, "paths"),
        *_REVIEWED_AND_CONTENT,
        # log in-degree of b in ALSO_BOUGHT: what is bought with things, and the direction
        _of_candidate("bought_in_b", lambda f: f.bought_in),
        _of_query("bought_in_a", lambda f: f.bought_in),
        _of_candidate("interactions_b", lambda f: f.interactions),
        # what a itself lists and who bought it: tells warm, cold and new queries apart
        _of_query("bought_out_a", lambda f: f.bought_out),
        _of_query("interactions_a", lambda f: f.interactions),
        # how often a's category completes a purchase with b's (pure complement pairs of the graph, by category),
        # and that over how often b's category is a complement at all: complementary categories, not the same one
        _category_pair("category_affinity", lambda f: f.category_affinity),
        _category_pair("category_lift", lambda f: f.category_lift),
    ),
    "substitute": (
        # a -> x -> b plus b -> x -> a along ALSO_VIEWED: the walk, made symmetric
        _both_ways("viewed_path", lambda f: f.v, lambda f: f.v, lambda f: f.vt, lambda f: f.vt),
        # the same, each path weighted 1/out-degree(x)
        _both_ways("viewed_path_ra", lambda f: f.v, lambda f: f.v_ra, lambda f: f.vt, lambda f: f.v_ra_t),
        _two_hop("viewed_x_ab", lambda f: f.vt, lambda f: f.v, "paths"),  # some x lists both (co-cited)
        _two_hop("viewed_ab_x", lambda f: f.v, lambda f: f.vt, "paths"),  # both list a common x (coupled)
        _two_hop("bought_cn", lambda f: f.bs, lambda f: f.bs, "paths"),  # common co-purchase neighbours
        *_REVIEWED_AND_CONTENT,
        # log co-view degree of a plus that of b: symmetric, and ranks b by popularity
        _of_both("viewed_deg_sum", lambda f: f.viewed_deg, np.add),
        _of_both("interactions_sum", lambda f: f.interactions, np.add),
        # the lesser of the two: zero when either end is cold or new, a regime the sums hide
        _of_both("viewed_deg_min", lambda f: f.viewed_deg, np.minimum),
        _of_both("interactions_min", lambda f: f.interactions, np.minimum),
    ),
}


class PairFeatures:
    """Structural and content features of product pairs over one message graph (see the module docstring).

    Args:
        snap: the message graph (a train snapshot, or a training step's).
        tfidf: L2-normalised title TF-IDF rows ``[n_products, V]`` (:meth:`gnn.features.FeaturePipeline.tfidf`).
        category: int64 ``[n_products]`` category positions (:meth:`gnn.features.FeaturePipeline.category_index`).

    :meth:`pairs` returns float32 ``[m, F]``, :meth:`all_targets` ``[q, n_products, F]``, F =
    ``len(PAIR_FEATURES[relation])``.
    """

    # the arrays the rows of PAIR_FEATURES read (``_t``: transposed; ``_ra``: rows weighted 1/row sum)
    n: int
    b: SparseRows  # ALSO_BOUGHT, product -> the products it lists
    bt: SparseRows
    b_ra: SparseRows
    bs: SparseRows  # ALSO_BOUGHT either way
    v: SparseRows  # ALSO_VIEWED
    vt: SparseRows
    v_ra: SparseRows
    v_ra_t: SparseRows
    vs: SparseRows  # ALSO_VIEWED either way
    r: SparseRows  # customer -> the products they interacted with
    rt: SparseRows
    r_ra: SparseRows
    tfidf: SparseRows
    tfidf_t: SparseRows
    category: np.ndarray  # int64 [n]
    category_or_none: np.ndarray  # int64 [n]: the category, or a value of the product's own where it has none
    bought_in: np.ndarray  # float32 [n] log1p degrees and counts
    bought_out: np.ndarray
    viewed_deg: np.ndarray
    interactions: np.ndarray
    category_affinity: np.ndarray  # float32 [C, C]: share of category i's pure complement pairs going to j
    category_lift: np.ndarray  # float32 [C, C]: log of that over j's share of all pure complement pairs

    def __init__(self, snap: Snapshot, tfidf: SparseRows, category: np.ndarray) -> None:
        n = self.n = snap.n("Product")

        def lists(type_: str) -> SparseRows:
            return SparseRows.from_coo(*snap.rel(type_).coo(), n, n)

        def symmetric(m: SparseRows) -> SparseRows:
            rows = m.rows()
            return SparseRows.from_coo(
                np.concatenate([rows, m.indices]), np.concatenate([m.indices, rows]), n, n
            )

        self.b = lists("ALSO_BOUGHT")
        self.bt = self.b.transpose()
        self.v = lists("ALSO_VIEWED")
        self.vt = self.v.transpose()
        self.v_ra = self.v.scale_rows(_inverse(self.v.row_sums()))
        self.v_ra_t = self.v_ra.transpose()
        self.vs = symmetric(self.v)
        self.bs = symmetric(self.b)
        self.b_ra = self.b.scale_rows(_inverse(self.b.row_sums()))  # row x weighted 1/out-degree(x)
        rows, cols = zip(*(snap.rel(t).coo() for t in INTERACTION_TYPES), strict=True)
        r = SparseRows.from_coo(np.concatenate(rows), np.concatenate(cols), snap.n("Customer"), n)
        self.r = r  # customer -> products
        self.rt = r.transpose()  # product -> customers
        self.r_ra = r.scale_rows(_inverse(r.row_sums()))
        self.tfidf = tfidf
        self.tfidf_t = tfidf.transpose()
        self.category = np.asarray(category, np.int64)
        self.category_or_none = np.where(snap.product_category() >= 0, self.category, -1 - np.arange(n))
        self.bought_in = np.log1p(self.bt.row_sums()).astype(np.float32)
        self.bought_out = np.log1p(self.b.row_sums()).astype(np.float32)
        self.viewed_deg = np.log1p(self.vs.row_sums()).astype(np.float32)
        self.interactions = np.log1p(self.rt.row_sums()).astype(np.float32)
        self.category_affinity, self.category_lift = _category_tables(snap, self.category)

    def pairs(self, relation: str, a: np.ndarray, b: np.ndarray, count: int | None = None) -> np.ndarray:
        """Features ``[m, F]`` of pairs ``(a[i], b[i])``; the first `count` of the relation's (None: all)."""
        a = np.asarray(a, np.int64)
        b = np.asarray(b, np.int64)
        rows = PAIR_FEATURES[relation][:count]
        return _stack(rows, (len(a),), lambda feature: feature.pair(self, a, b))

    def all_targets(
        self,
        relation: str,
        a: np.ndarray,
        count: int | None = None,
        feature_major: bool = False,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Features ``[len(a), n, F]`` of every pair ``(a[i], b)``, b over the whole catalog: one query block.

        `count`: the first `count` features only, what a run saved before later rows were appended reads.
        `feature_major`: ``[F, len(a), n]`` instead, each feature one contiguous block: written without strides,
        several times faster to fill, and what :meth:`gnn.model.PairTerm.feature_major` reads. `out`: a buffer of
        that shape to fill (reused across query blocks, it spares the allocation's page faults)."""
        a = np.asarray(a, np.int64)
        rows = PAIR_FEATURES[relation][:count]
        if not feature_major:
            return _stack(rows, (len(a), self.n), lambda feature: feature.row(self, a))
        shape = (len(rows), len(a), self.n)
        if out is None or out.shape != shape or out.dtype != np.float32:
            out = np.empty(shape, np.float32)
        for j, feature in enumerate(rows):
            column = feature.row(self, a)
            if feature.kind == "paths":
                # path counts are mostly zero, and log1p(0) = 0: the logarithm only where there is a path
                column = np.asarray(column, np.float32)
                out[j] = 0.0
                np.log1p(column, out=out[j], where=column != 0)
            else:
                out[j] = column
        return out


def _category_tables(snap: Snapshot, category: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The category-to-category tables of :attr:`PairFeatures.category_affinity` and ``category_lift``, counted
    over the graph's complement labels (:func:`gnn.labels.complement_labels`), add-one smoothed."""
    from gnn.labels import complement_labels

    c = int(category.max()) + 1 if len(category) else 1
    src, dst = complement_labels(snap)
    counts = np.bincount(category[src] * c + category[dst], minlength=c * c).reshape(c, c).astype(np.float64)
    counts += 1.0 / c
    affinity = counts / counts.sum(axis=1, keepdims=True)
    overall = counts.sum(axis=0) / counts.sum()
    lift = np.log(affinity / overall[None, :])
    return affinity.astype(np.float32), lift.astype(np.float32)


def _inverse(x: np.ndarray) -> np.ndarray:
    return np.divide(1.0, x, out=np.zeros(len(x), np.float64), where=x > 0)


def _stack(
    features: tuple[PairFeature, ...],
    shape: tuple[int, ...],
    column: Callable[[PairFeature], np.ndarray],
) -> np.ndarray:
    """float32 ``[*shape, F]``, filled one column at a time (a query block is large), path counts through log1p."""
    out = np.empty((*shape, len(features)), np.float32)
    for j, feature in enumerate(features):
        if feature.kind == "paths":
            np.log1p(column(feature), out=out[..., j])
        else:
            out[..., j] = column(feature)
    return out
