"""Titles as vectors: TF-IDF over word uni- and bigrams, reduced by a truncated SVD (latent semantic analysis).

A product that arrived after training has no edges, so what the model knows of it comes from its title (and its
category). The TF-IDF is scikit-learn's recipe (its token pattern, smooth idf, sublinear tf, L2-normalised rows),
written out over :class:`~gnn.sparse.SparseRows`; the SVD is a randomized one (Halko, Martinsson, Tropp, SIAM
Review 2011, as ``torch.svd_lowrank``). These are the functions; :class:`gnn.features.FeaturePipeline` holds what
they fit (vocabulary, idf, components) and is saved with the run, so serving transforms a new title exactly as
training did.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from gnn.sparse import SparseRows
from graph.snapshot import Snapshot

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern: words of two or more characters


def tokens(title: str | None) -> list[str]:
    """Lower-cased words and adjacent word pairs of a title; brand names and sizes are often the telling part."""
    words = _TOKEN.findall((title or "").lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def titles_of(snap: Snapshot) -> np.ndarray:
    """The products' titles, object ``[n_products]``; all None for a snapshot without titles."""
    if snap.titles is None:
        return np.full(snap.n("Product"), None, dtype=object)
    return snap.titles


def vocabulary(titles: np.ndarray, min_df: int, max_vocab: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted tokens of at least `min_df` titles, at most `max_vocab` of the most frequent; their smooth idf,
    float32, as scikit-learn computes it)."""
    df: dict[str, int] = {}
    for title in titles:
        for tok in set(tokens(title)):
            df[tok] = df.get(tok, 0) + 1
    kept = sorted((t for t, c in df.items() if c >= min_df), key=lambda t: (-df[t], t))[:max_vocab]
    vocab = np.asarray(sorted(kept), dtype=object)
    counts = np.asarray([df[t] for t in vocab], dtype=np.float64)
    idf = (np.log((1 + len(titles)) / (1 + counts)) + 1).astype(np.float32)
    return vocab, idf


def tfidf_rows(titles: np.ndarray | list[str | None], vocab: np.ndarray, idf: np.ndarray) -> SparseRows:
    """L2-normalised TF-IDF rows ``[len(titles), V]``, sublinear tf (1 + log count); unknown tokens are ignored."""
    index = {t: i for i, t in enumerate(vocab.tolist())}
    rows: list[int] = []
    cols: list[int] = []
    for r, title in enumerate(titles):
        for j in (index.get(t) for t in tokens(title)):
            if j is not None:
                rows.append(r)
                cols.append(j)
    cols_a = np.asarray(cols, np.int64)
    x = SparseRows.from_coo(
        np.asarray(rows, np.int64), cols_a, len(titles), len(vocab), np.ones(len(cols), np.float32)
    )
    x.data = (1 + np.log(x.data)) * idf[x.indices]
    norms = np.sqrt(SparseRows(x.indptr, x.indices, x.data**2, x.n_cols).row_sums())
    return x.scale_rows(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0))


def lsa_components(tfidf: SparseRows, k: int, seed: int) -> np.ndarray:
    """The top `k` right singular vectors of the TF-IDF rows, float32 ``[k, V]`` (seeded; torch's global random
    state is left as it was)."""
    x = tfidf.torch().to_sparse_coo()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        _, _, v = torch.svd_lowrank(x, q=k, niter=5)
    return v.T.contiguous().numpy().astype(np.float32)


def project(tfidf: SparseRows, components: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """TF-IDF rows onto the components, float32 ``[n, k]``, `chunk` rows at a time (bounded memory)."""
    comp = torch.from_numpy(np.ascontiguousarray(components.T))
    out = np.zeros((tfidf.n_rows, components.shape[0]), np.float32)
    for lo in range(0, tfidf.n_rows, chunk):
        hi = min(lo + chunk, tfidf.n_rows)
        p = tfidf.indptr[lo : hi + 1]
        block = SparseRows(p - p[0], tfidf.indices[p[0] : p[-1]], tfidf.data[p[0] : p[-1]], tfidf.n_cols)
        out[lo:hi] = (block.torch() @ comp).numpy()
    return out


def word_tfidf(titles: np.ndarray | list[str | None]) -> SparseRows:
    """L2-normalised word (unigram) TF-IDF rows of `titles`, fitted on them: what "near-duplicate titles" means
    in ranking (:class:`gnn.model_scorer.Distinct`) and in the evaluation (:func:`gnn.evaluate.distinctness`),
    scikit-learn's ``TfidfVectorizer(sublinear_tf=True)``. A product without words gets a zero row."""
    docs = [" ".join(_TOKEN.findall((t or "").lower())) for t in titles]
    df: dict[str, int] = {}
    for doc in docs:
        for tok in set(doc.split()):
            df[tok] = df.get(tok, 0) + 1
    vocab = np.asarray(sorted(df), dtype=object)
    counts = np.asarray([df[t] for t in vocab], dtype=np.float64)
    idf = (np.log((1 + len(docs)) / (1 + counts)) + 1).astype(np.float32)
    index = {t: i for i, t in enumerate(vocab.tolist())}
    rows = [r for r, doc in enumerate(docs) for _ in doc.split()]
    cols = [index[t] for doc in docs for t in doc.split()]
    x = SparseRows.from_coo(
        np.asarray(rows, np.int64),
        np.asarray(cols, np.int64),
        len(docs),
        len(vocab),
        np.ones(len(cols), np.float32),
    )
    x.data = (1 + np.log(x.data)) * idf[x.indices]
    norms = np.sqrt(SparseRows(x.indptr, x.indices, x.data**2, x.n_cols).row_sums())
    return x.scale_rows(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0))
