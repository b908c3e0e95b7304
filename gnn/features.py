"""The product features that make the model inductive: a title and a category, which a product has on arrival.

:class:`FeaturePipeline` is fitted once, on the train snapshot's titles and categories, and saved with the run as
plain arrays, so serving transforms a new product exactly as training did: its title through the TF-IDF and SVD of
:mod:`gnn.text`, its category to a position seen at fit time. Popularity (log degree) is not part of the
pipeline: it is a property of each step's message graph (:func:`gnn.data.popularity`), so a product whose edges a
training step removes looks exactly like a new one. The features of a *pair* of products are
:mod:`gnn.pair_features`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gnn.sparse import SparseRows
from gnn.text import lsa_components, project, tfidf_rows, titles_of, vocabulary
from graph.snapshot import Snapshot


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
        vocab, idf = vocabulary(titles, min_df, max_vocab)
        # always `text_dim` rows, so the model's input has one shape whatever the catalog: the SVD's components
        # first, then zero rows where the vocabulary has fewer (a toy catalog), all zero when it has none (a
        # catalog without titles: the text block steps aside, see gnn.signals)
        components = np.zeros((text_dim, len(vocab)), np.float32)
        pipe = FeaturePipeline(vocab, idf, components, np.asarray(snap.ids["Category"]))
        k = min(text_dim, len(vocab) - 1, len(titles) - 1)
        if k >= 1:
            components[:k] = lsa_components(pipe.tfidf(titles), k, seed)
        return pipe

    def tfidf(self, titles: np.ndarray | list[str | None]) -> SparseRows:
        """L2-normalised TF-IDF rows ``[len(titles), V]`` over the fitted vocabulary (:func:`gnn.text.tfidf_rows`)."""
        return tfidf_rows(titles, self.vocab, self.idf)

    def text(self, tfidf: SparseRows, chunk: int = 100_000) -> np.ndarray:
        """The dense title features ``[n, text_dim]`` of TF-IDF rows."""
        return project(tfidf, self.components, chunk)

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
