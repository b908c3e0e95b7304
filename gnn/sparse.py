"""Sparse matrices as plain numpy CSR arrays, with the products that pair features are made of.

:class:`SparseRows` is what path counts, resource allocation and title cosines are computed on
(:mod:`gnn.pair_features`), what the trainer's known partners are looked up in, and what hard negatives walk. It
is numpy rather than scipy because the GPU machine has torch, PyG and numpy only, and trains with these features
too; :meth:`SparseRows.torch` hands a matrix to torch where a product is dense on one side (the title SVD).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from gnn.data import sparse_csr

BITMAP_CELLS = 1 << 31  # 256 MiB of bits: beyond that, a lookup is a binary search


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
