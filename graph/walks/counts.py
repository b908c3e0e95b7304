"""Visit counting and top-k ranking, shared by the kernels (:func:`count_visits`) and the walker.

Batch counting (:func:`count_rows`) lays each query's visits out as one row and sorts the rows independently
(32-bit keys), and the top-k (:func:`top_k_rows`) is one packed 64-bit sort per chunk; together they cost about a
third of the walk itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graph.walks.kernel import MASK32
from graph.walks.results import Candidates


def count_visits(visits: np.ndarray, group: np.ndarray, n_products: int) -> tuple[np.ndarray, ...]:
    n_groups = int(group.max()) + 1 if len(group) else 0
    span = n_products + 1  # node id n_products collects every non-product visit of a group; dropped below
    dtype: type[Any] = np.int32 if n_groups * span < 2**31 else np.int64  # int32 keys sort twice as fast
    # min() sends customers (>= n_products) and "no step" (-1, huge as uint32) to the sentinel: cheaper than
    # compressing them out before the sort
    keys = np.minimum(visits.view(np.uint32), np.uint32(n_products)).astype(dtype)
    keys += (group.astype(dtype) * dtype(span))[None, :]
    keys = keys.ravel()
    keys.sort()
    change = np.empty(len(keys), bool)
    change[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=change[1:])
    first = np.flatnonzero(change)
    counts = np.diff(first, append=len(keys))
    keys = keys[first]
    product = keys % span != n_products
    keys, counts = keys[product], counts[product]
    return keys // span, keys % span, counts


def count_rows(visits: np.ndarray, per: int, n_products: int) -> tuple[np.ndarray, ...]:
    """:func:`count_visits` for batch mode, where walkers ``g*per .. (g+1)*per - 1`` form group g.

    Each group's visits are laid out as one row and the rows are sorted independently, so the keys stay 32-bit
    node ids (no group offset) and each sort is over one query's visits.
    """
    n_steps, w = visits.shape
    n_groups, length = w // per, n_steps * per
    keys = np.empty((n_groups, n_steps, per), np.uint32)
    # min() sends customers (>= n_products) and "no step" (-1, huge as uint32) to the sentinel n_products
    np.minimum(
        visits.view(np.uint32).reshape(n_steps, n_groups, per).transpose(1, 0, 2),
        np.uint32(n_products),
        out=keys,
    )
    keys = keys.reshape(n_groups, length)
    keys.sort(axis=1)
    flat = keys.ravel()
    change = np.empty(len(flat), bool)
    np.not_equal(flat[1:], flat[:-1], out=change[1:])
    change[::length] = True  # a row's first key starts a run
    first = np.flatnonzero(change)
    counts = np.diff(first, append=len(flat))
    node = flat[first]
    product = node != n_products
    first, node, counts = first[product], node[product], counts[product]
    return first // length, node.astype(np.int64), counts


def top_k_rows(
    group: np.ndarray, node: np.ndarray, score: np.ndarray, n_rows: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the k best (score desc, then id asc) as [n_rows, k] arrays padded with -1 / 0."""
    cand = np.full((n_rows, k), -1, np.int32)
    vals = np.zeros((n_rows, k), np.float32)
    score = score.astype(np.float32)
    node_bits = max(1, int(node.max(initial=0)).bit_length())
    if max(1, (n_rows - 1).bit_length()) + 32 + node_bits <= 63:
        # One int64 sort instead of a three-key lexsort: the bits of a non-negative float32 order like its value.
        desc = (np.uint32(MASK32) - score.view(np.uint32)).astype(np.int64)
        keys = (group.astype(np.int64) << (32 + node_bits)) | (desc << node_bits) | node
        keys.sort()
        g = keys >> (32 + node_bits)
        # rank within the group: position minus the group's first position (a binary search per group, not per
        # entry), and only the kept entries are decoded
        first = np.searchsorted(g, np.arange(n_rows))
        rank = np.arange(len(g)) - first[g]
        keep = np.flatnonzero(rank < k)
        keys, g, rank = keys[keep], g[keep], rank[keep]
        cand[g, rank] = keys & ((1 << node_bits) - 1)
        vals[g, rank] = (np.uint32(MASK32) - ((keys >> node_bits) & MASK32).astype(np.uint32)).view(
            np.float32
        )
        return cand, vals
    order = np.lexsort((node, -score, group))
    g, node, score = group[order], node[order], score[order]
    rank = np.arange(len(g)) - np.searchsorted(g, np.arange(n_rows))[g]
    keep = rank < k
    cand[g[keep], rank[keep]] = node[keep]
    vals[g[keep], rank[keep]] = score[keep]
    return cand, vals


def top_candidates(
    cand: np.ndarray, score: np.ndarray, exclude: np.ndarray, k: int, steps: int, stopped: bool
) -> Candidates:
    """The `k` best of `cand` by `score` (ties by id), none of `exclude` among them."""
    keep = ~np.isin(cand, exclude)
    cand, score = cand[keep], score[keep]
    if len(cand) > k:
        top = np.argpartition(-score, k - 1)[:k]
        cand, score = cand[top], score[top]
    order = np.lexsort((cand, -score))
    return Candidates(
        products=cand[order].astype(np.int64),
        scores=score[order].astype(np.float32),
        steps=steps,
        stopped_early=stopped,
    )
