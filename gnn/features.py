"""Product features that make the model inductive, and the pairwise structural features its scores add.

A product that arrived after training has no edges, so everything the model knows about it must come from what a
product has on arrival: its title and its category. :class:`FeaturePipeline` turns titles into TF-IDF vectors over
word uni- and bigrams, reduced to a few dense dimensions by a randomized truncated SVD (latent semantic analysis;
Halko, Martinsson, Tropp, SIAM Review 2011, as ``torch.svd_lowrank``), fitted on the train snapshot's titles and
saved with the run, so serving transforms a new title exactly as training did. Popularity (log
degree) is not part of the pipeline: it is a property of each step's message graph (:func:`gnn.data.popularity`),
so a product whose edges a training step removes looks exactly like a new one.

:class:`PairFeatures` gives, for a (query, candidate) pair, what link-prediction heuristics are made of: paths of
length two through co-purchase, co-view and co-review lists (counts, and resource allocation, which weighs a path
by 1/degree of its middle node: Zhou, Lü, Zhang, EPJ B 2009), title cosine, same category, popularity. GNNs with
dot-product decoders cannot count common neighbours (Zhang et al., "Labeling Trick", NeurIPS 2021), which is why
NCN (Wang et al., ICLR 2024) and BUDDY (Chamberlain et al., ICLR 2023) add such counts to the learned score; so
does :class:`gnn.model.PairTerm`. One class computes them for given pairs (training) and for a block of queries
against the whole catalog (ranking), from the same arrays.

Sparse algebra here is plain numpy over CSR arrays (:class:`SparseRows`), and the SVD is torch's: the GPU machine
has torch, PyG and numpy only, and trains with these features too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gnn.data import sparse_csr
from graph.schema import INTERACTION_TYPES
from graph.snapshot import Snapshot

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern: words of two or more characters
BITMAP_CELLS = 1 << 31  # 256 MiB of bits: beyond that, a lookup is a binary search


def tokens(title: str | None) -> list[str]:
    """Lower-cased words and adjacent word pairs of a title; brand names and sizes are often the telling part."""
    words = _TOKEN.findall((title or "").lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


@dataclass
class SparseRows:
    """A CSR matrix as numpy arrays, column indices sorted within each row (so ``keys`` is sorted).

    ``indptr`` int64 ``[n_rows + 1]``, ``indices`` int64 ``[nnz]``, ``data`` float32 ``[nnz]``.
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_cols: int
    _keys: np.ndarray | None = field(default=None, repr=False)
    _bits: np.ndarray | None = field(default=None, repr=False)  # packed cell bitmap, shared by scaled copies
    _row_value: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    @staticmethod
    def from_coo(
        rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int, data: np.ndarray | None = None
    ) -> SparseRows:
        """Duplicates are summed when `data` is given, and count once when it is not (a binary adjacency)."""
        rows = np.asarray(rows, np.int64)
        cols = np.asarray(cols, np.int64)
        keys = rows * n_cols + cols
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        first = np.ones(len(keys), bool)
        first[1:] = keys[1:] != keys[:-1]
        if data is None or len(keys) == 0:
            values = np.ones(int(first.sum()), np.float32)
        else:
            values = np.add.reduceat(np.asarray(data, np.float32)[order], np.flatnonzero(first))
        keys = keys[first]
        r = keys // max(n_cols, 1)
        indptr = np.zeros(n_rows + 1, np.int64)
        np.cumsum(np.bincount(r, minlength=n_rows), out=indptr[1:])
        return SparseRows(indptr, keys % max(n_cols, 1), values, n_cols, keys)

    def rows(self) -> np.ndarray:
        """The row of each stored entry."""
        return np.repeat(np.arange(self.n_rows, dtype=np.int64), np.diff(self.indptr))

    def transpose(self) -> SparseRows:
        return SparseRows.from_coo(self.indices, self.rows(), self.n_cols, self.n_rows, self.data)

    def scale_rows(self, scale: np.ndarray) -> SparseRows:
        data = self.data * np.repeat(scale.astype(np.float32), np.diff(self.indptr))
        return SparseRows(self.indptr, self.indices, data, self.n_cols, self._keys, self._bits)

    def row_sums(self) -> np.ndarray:
        return np.add.reduceat(np.append(self.data, 0), self.indptr[:-1])[: self.n_rows] * (
            np.diff(self.indptr) > 0
        )

    def keys(self) -> np.ndarray:
        if self._keys is None:
            rows = np.repeat(np.arange(self.n_rows, dtype=np.int64), np.diff(self.indptr))
            self._keys = rows * self.n_cols + self.indices
        return self._keys

    def expand(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each entry of the given rows: (which of `rows` it belongs to, its position in indices/data)."""
        start = self.indptr[rows]
        count = self.indptr[rows + 1] - start
        owner = np.repeat(np.arange(len(rows), dtype=np.int64), count)
        offsets = np.cumsum(count) - count
        return owner, start[owner] + np.arange(len(owner), dtype=np.int64) - offsets[owner]

    def lookup(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``M[rows[i], cols[i]]`` for each i, 0 where absent.

        A binary search per lookup, except on a matrix whose rows are each one value (an adjacency, or one
        scaled per row) and whose cells fit in :data:`BITMAP_CELLS`: there a bitmap of the cells answers, about
        ten times faster, and the lookups are what pair features spend their time on.
        """
        rows = np.asarray(rows, np.int64)
        want = rows * self.n_cols + np.asarray(cols, np.int64)
        bits = self._bitmap()
        if bits is not None:
            bitmap, row_value = bits
            return (((bitmap[want >> 3] >> (want & 7)) & 1) * row_value[rows]).astype(np.float32)
        keys = self.keys()
        if len(keys) == 0:
            return np.zeros(len(want), np.float32)
        pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        return np.where(keys[pos] == want, self.data[pos], 0.0).astype(np.float32)

    def _bitmap(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(packed bitmap of the stored cells, each row's one value), or None where a row holds several values
        or the cells are too many."""
        if self.n_rows * self.n_cols > BITMAP_CELLS:
            return None
        if self._row_value is None:
            rows = self.rows()
            value = np.zeros(self.n_rows, np.float32)
            value[rows] = self.data
            self._row_value = value if np.array_equal(value[rows], self.data) else np.empty(0, np.float32)
        if len(self._row_value) != self.n_rows:
            return None
        if self._bits is None:
            keys = self.keys()
            bits = np.zeros((self.n_rows * self.n_cols + 7) // 8, np.uint8)
            np.bitwise_or.at(bits, keys >> 3, np.left_shift(1, keys & 7).astype(np.uint8))
            self._bits = bits
        return self._bits, self._row_value

    def pair_paths(self, other: SparseRows, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``(self @ other)[a[i], b[i]]`` for each pair, without forming the product."""
        owner, pos = self.expand(a)
        w = self.data[pos] * other.lookup(self.indices[pos], b[owner])
        return np.bincount(owner, weights=w, minlength=len(a)).astype(np.float32)

    def row_paths(self, other: SparseRows, a: np.ndarray) -> np.ndarray:
        """Dense ``(self @ other)[a]``, ``[len(a), other.n_cols]``."""
        owner, pos = self.expand(a)
        owner2, pos2 = other.expand(self.indices[pos])
        cell = owner[owner2] * other.n_cols + other.indices[pos2]
        w = self.data[pos][owner2] * other.data[pos2]
        return (
            np.bincount(cell, weights=w, minlength=len(a) * other.n_cols)
            .reshape(len(a), -1)
            .astype(np.float32)
        )

    def torch(self) -> torch.Tensor:
        return sparse_csr(
            torch.from_numpy(self.indptr),
            torch.from_numpy(self.indices),
            torch.from_numpy(self.data),
            (self.n_rows, self.n_cols),
        )


@dataclass
class FeaturePipeline:
    """Title TF-IDF + truncated SVD, fitted once and stored with the run (plain arrays, no pickle).

    ``vocab`` is the sorted token list (position = TF-IDF column), ``idf`` float32 ``[V]``, ``components`` float32
    ``[text_dim, V]`` (the SVD's right singular vectors), ``categories`` the category keys seen at fit time.
    """

    vocab: np.ndarray
    idf: np.ndarray
    components: np.ndarray
    categories: np.ndarray

    @property
    def text_dim(self) -> int:
        return self.components.shape[0]

    @staticmethod
    def fit(
        snap: Snapshot,
        text_dim: int = 64,
        min_df: int = 2,
        max_vocab: int = 50_000,
        max_fit: int = 200_000,
        seed: int = 0,
    ) -> FeaturePipeline:
        """Fit on the titles of `snap`, the train graph (titles are what a catalog knows of every product,
        new ones included; no pair of the test enters).

        At most `max_fit` titles (a seeded sample) are used: the vocabulary of a million titles is no better.
        """
        titles = titles_of(snap)
        if len(titles) > max_fit:
            titles = titles[np.sort(np.random.default_rng(seed).choice(len(titles), max_fit, replace=False))]
        df: dict[str, int] = {}
        for title in titles:
            for tok in set(tokens(title)):
                df[tok] = df.get(tok, 0) + 1
        kept = sorted((t for t, c in df.items() if c >= min_df), key=lambda t: (-df[t], t))[:max_vocab]
        vocab = np.asarray(sorted(kept), dtype=object)
        counts = np.asarray([df[t] for t in vocab], dtype=np.float64)
        idf = (np.log((1 + len(titles)) / (1 + counts)) + 1).astype(np.float32)  # smooth idf, as scikit-learn
        pipe = FeaturePipeline(
            vocab, idf, np.zeros((0, len(vocab)), np.float32), np.asarray(snap.ids["Category"])
        )
        k = max(1, min(text_dim, len(vocab) - 1, len(titles) - 1))
        if len(vocab) > 1:
            x = pipe.tfidf(titles).torch().to_sparse_coo()
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                _, _, v = torch.svd_lowrank(x, q=k, niter=5)
            pipe.components = v.T.contiguous().numpy().astype(np.float32)
        else:  # no vocabulary to speak of (a toy catalog): title features are zero
            pipe.components = np.zeros((1, len(vocab)), np.float32)
        return pipe

    def tfidf(self, titles: np.ndarray | list[str | None]) -> SparseRows:
        """L2-normalised TF-IDF rows ``[len(titles), V]``, sublinear tf (1 + log count); unknown tokens are ignored."""
        index = {t: i for i, t in enumerate(self.vocab.tolist())}
        rows: list[int] = []
        cols: list[int] = []
        for r, title in enumerate(titles):
            for j in (index.get(t) for t in tokens(title)):
                if j is not None:
                    rows.append(r)
                    cols.append(j)
        cols_a = np.asarray(cols, np.int64)
        x = SparseRows.from_coo(
            np.asarray(rows, np.int64), cols_a, len(titles), len(self.vocab), np.ones(len(cols), np.float32)
        )
        x.data = (1 + np.log(x.data)) * self.idf[x.indices]
        norms = np.sqrt(SparseRows(x.indptr, x.indices, x.data**2, x.n_cols).row_sums())
        return x.scale_rows(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0))

    def text(self, tfidf: SparseRows, chunk: int = 100_000) -> np.ndarray:
        """The dense title features ``[n, text_dim]`` of TF-IDF rows."""
        comp = torch.from_numpy(np.ascontiguousarray(self.components.T))
        out = np.zeros((tfidf.n_rows, self.text_dim), np.float32)
        for lo in range(0, tfidf.n_rows, chunk):
            hi = min(lo + chunk, tfidf.n_rows)
            p = tfidf.indptr[lo : hi + 1]
            block = SparseRows(p - p[0], tfidf.indices[p[0] : p[-1]], tfidf.data[p[0] : p[-1]], tfidf.n_cols)
            out[lo:hi] = (block.torch() @ comp).numpy()
        return out

    def category_index(self, snap: Snapshot) -> np.ndarray:
        """Each product's deepest category as a position in ``categories`` (``len(categories)``: none/unknown)."""
        pos = {k: i for i, k in enumerate(self.categories.tolist())}
        unknown = len(self.categories)
        keys = snap.ids["Category"]
        return np.asarray(
            [unknown if c < 0 else pos.get(keys[c], unknown) for c in snap.product_category()], dtype=np.int64
        )

    def category_nodes(self, snap: Snapshot) -> np.ndarray:
        """Each Category node's position in ``categories`` (``len(categories)`` if unseen at fit time)."""
        pos = {k: i for i, k in enumerate(self.categories.tolist())}
        return np.asarray(
            [pos.get(k, len(self.categories)) for k in snap.ids["Category"].tolist()], dtype=np.int64
        )

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            np.savez(
                f,
                vocab=self.vocab.astype(str),
                idf=self.idf,
                components=self.components,
                categories=self.categories.astype(str),
            )

    @staticmethod
    def load(path: Path) -> FeaturePipeline:
        with np.load(path, allow_pickle=False) as z:
            return FeaturePipeline(
                vocab=z["vocab"].astype(object),
                idf=z["idf"],
                components=z["components"],
                categories=z["categories"].astype(object),
            )


def titles_of(snap: Snapshot) -> np.ndarray:
    if snap.titles is None:
        return np.full(snap.n("Product"), None, dtype=object)
    return snap.titles


# -- pairwise structural features --------------------------------------------------------------------------------

FEATURES: dict[str, tuple[str, ...]] = {
    "complement": (
        "bought_a_x_b",  # paths a -> x -> b along ALSO_BOUGHT: the two-hop walk
        "bought_a_x_b_ra",  # the same, each path weighted 1/out-degree(x): a walk's visit probability
        "bought_x_ab",  # some x lists both a and b (co-cited)
        "bought_ab_x",  # a and b list a common x (coupled)
        "viewed_cn",  # common co-view neighbours (either direction)
        "viewed_bought",  # a -> x along ALSO_VIEWED (either way), x -> b along ALSO_BOUGHT
        "reviewed_cn",  # customers who interacted with both
        "reviewed_ra",  # the same, each customer weighted 1/their interaction count
        "title_cos",
        "same_category",
        "bought_in_b",  # log in-degree of b in ALSO_BOUGHT: what is bought with things, and the direction
        "bought_in_a",
        "interactions_b",
        "bought_out_a",  # what a itself lists and who bought it: tells warm, cold and new queries apart
        "interactions_a",
    ),
    "substitute": (
        "viewed_path",  # a -> x -> b plus b -> x -> a along ALSO_VIEWED: the walk, made symmetric
        "viewed_path_ra",  # the same, each path weighted 1/out-degree(x)
        "viewed_x_ab",  # some x lists both (co-cited)
        "viewed_ab_x",  # both list a common x (coupled)
        "bought_cn",  # common co-purchase neighbours (either direction)
        "reviewed_cn",
        "reviewed_ra",
        "title_cos",
        "same_category",
        "viewed_deg_sum",  # log co-view degree of a plus that of b: symmetric, and ranks b by popularity
        "interactions_sum",
        "viewed_deg_min",  # the lesser of the two: zero when either end is cold or new, a regime the sums hide
        "interactions_min",
    ),
}


class PairFeatures:
    """Structural and content features of product pairs over one message graph (see the module docstring).

    Args:
        snap: the message graph (a train snapshot, or a training step's).
        tfidf: L2-normalised title TF-IDF rows ``[n_products, V]`` (:meth:`FeaturePipeline.tfidf`).
        category: int64 ``[n_products]`` category positions (:meth:`FeaturePipeline.category_index`).

    :meth:`pairs` returns float32 ``[m, F]``, :meth:`all_targets` ``[q, n_products, F]``, F =
    ``len(FEATURES[relation])``; counts enter as ``log1p``.
    """

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
        self.bought_in = np.log1p(self.bt.row_sums()).astype(np.float32)
        self.bought_out = np.log1p(self.b.row_sums()).astype(np.float32)
        self.viewed_deg = np.log1p(self.vs.row_sums()).astype(np.float32)
        self.interactions = np.log1p(self.rt.row_sums()).astype(np.float32)

    def pairs(self, relation: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Features ``[m, F]`` of pairs ``(a[i], b[i])``."""
        a = np.asarray(a, np.int64)
        b = np.asarray(b, np.int64)
        if relation == "complement":
            cols = [
                lambda: self.b.pair_paths(self.b, a, b),
                lambda: self.b.pair_paths(self.b_ra, a, b),
                lambda: self.bt.pair_paths(self.b, a, b),
                lambda: self.b.pair_paths(self.bt, a, b),
                lambda: self.vs.pair_paths(self.vs, a, b),
                lambda: self.vs.pair_paths(self.b, a, b),
                lambda: self.rt.pair_paths(self.r, a, b),
                lambda: self.rt.pair_paths(self.r_ra, a, b),
                lambda: self.tfidf.pair_paths(self.tfidf_t, a, b),
                lambda: self.category[a] == self.category[b],
                lambda: self.bought_in[b],
                lambda: self.bought_in[a],
                lambda: self.interactions[b],
                lambda: self.bought_out[a],
                lambda: self.interactions[a],
            ]
        else:
            cols = [
                lambda: self.v.pair_paths(self.v, a, b) + self.v.pair_paths(self.v, b, a),
                lambda: self.v.pair_paths(self.v_ra, a, b) + self.v.pair_paths(self.v_ra, b, a),
                lambda: self.vt.pair_paths(self.v, a, b),
                lambda: self.v.pair_paths(self.vt, a, b),
                lambda: self.bs.pair_paths(self.bs, a, b),
                lambda: self.rt.pair_paths(self.r, a, b),
                lambda: self.rt.pair_paths(self.r_ra, a, b),
                lambda: self.tfidf.pair_paths(self.tfidf_t, a, b),
                lambda: self.category[a] == self.category[b],
                lambda: self.viewed_deg[a] + self.viewed_deg[b],
                lambda: self.interactions[a] + self.interactions[b],
                lambda: np.minimum(self.viewed_deg[a], self.viewed_deg[b]),
                lambda: np.minimum(self.interactions[a], self.interactions[b]),
            ]
        return _fill(relation, cols, (len(a),))

    def all_targets(self, relation: str, a: np.ndarray) -> np.ndarray:
        """Features ``[len(a), n, F]`` of every pair ``(a[i], b)``, b over the whole catalog: one query block."""
        a = np.asarray(a, np.int64)
        q = a[:, None]  # the query's value, broadcast over the catalog
        if relation == "complement":
            cols = [
                lambda: self.b.row_paths(self.b, a),
                lambda: self.b.row_paths(self.b_ra, a),
                lambda: self.bt.row_paths(self.b, a),
                lambda: self.b.row_paths(self.bt, a),
                lambda: self.vs.row_paths(self.vs, a),
                lambda: self.vs.row_paths(self.b, a),
                lambda: self.rt.row_paths(self.r, a),
                lambda: self.rt.row_paths(self.r_ra, a),
                lambda: self.tfidf.row_paths(self.tfidf_t, a),
                lambda: self.category[q] == self.category[None, :],
                lambda: self.bought_in[None, :],
                lambda: self.bought_in[q],
                lambda: self.interactions[None, :],
                lambda: self.bought_out[q],
                lambda: self.interactions[q],
            ]
        else:
            cols = [
                lambda: self.v.row_paths(self.v, a) + self.vt.row_paths(self.vt, a),
                lambda: self.v.row_paths(self.v_ra, a) + self.v_ra_t.row_paths(self.vt, a),
                lambda: self.vt.row_paths(self.v, a),
                lambda: self.v.row_paths(self.vt, a),
                lambda: self.bs.row_paths(self.bs, a),
                lambda: self.rt.row_paths(self.r, a),
                lambda: self.rt.row_paths(self.r_ra, a),
                lambda: self.tfidf.row_paths(self.tfidf_t, a),
                lambda: self.category[q] == self.category[None, :],
                lambda: self.viewed_deg[q] + self.viewed_deg[None, :],
                lambda: self.interactions[q] + self.interactions[None, :],
                lambda: np.minimum(self.viewed_deg[q], self.viewed_deg[None, :]),
                lambda: np.minimum(self.interactions[q], self.interactions[None, :]),
            ]
        return _fill(relation, cols, (len(a), self.n))


def _inverse(x: np.ndarray) -> np.ndarray:
    return np.divide(1.0, x, out=np.zeros(len(x), np.float64), where=x > 0)


# features that are path counts (or sums of path weights), squashed by log1p; the rest are cosines, 0/1, or logs already
_PATHS = {
    rel: {
        i
        for i, f in enumerate(names)
        if f.endswith(("_cn", "_ra", "_x_b", "_x_ab", "_ab_x", "_path", "_bought"))
    }
    for rel, names in FEATURES.items()
}


def _fill(relation: str, cols: list[Callable[[], np.ndarray]], shape: tuple[int, ...]) -> np.ndarray:
    """Stack the columns into float32 ``[*shape, F]``, one at a time (a query block is large), taking log1p of
    the path counts: a hundred common neighbours is not fifty times as telling as two."""
    out = np.empty((*shape, len(cols)), np.float32)
    paths = _PATHS[relation]
    for j, col in enumerate(cols):
        if j in paths:
            np.log1p(col(), out=out[..., j])
        else:
            out[..., j] = col()
    return out
