"""The in-memory snapshot of the knowledge graph that all compute reads.

Nodes of each label get dense int ids (``0..n-1``, in the order of their key arrays); each relationship type is a
:class:`CSR` over those ids, rows are sources. Walks, the GNN and the serving index read only this; stores build it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from graph.schema import NODES, RELATIONSHIPS


@dataclass(frozen=True)
class CSR:
    """A compressed sparse row adjacency: the neighbours of row ``i`` are ``indices[indptr[i]:indptr[i+1]]``.

    ``weights`` and ``ts`` are aligned with ``indices`` when the relationship carries them (else ``None``).
    Within a row, neighbours keep the order the source listed them in (Amazon's lists are ranked).
    """

    indptr: np.ndarray  # int64 [n_rows + 1]
    indices: np.ndarray  # int32 [nnz]
    n_cols: int
    weights: np.ndarray | None = None  # float32 [nnz]
    ts: np.ndarray | None = None  # int64 [nnz], -1 where unknown

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        return len(self.indices)

    def degree(self) -> np.ndarray:
        return np.diff(self.indptr)

    def row(self, i: int) -> np.ndarray:
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def coo(self) -> tuple[np.ndarray, np.ndarray]:
        """(src, dst) arrays, int64."""
        src = np.repeat(np.arange(self.n_rows, dtype=np.int64), self.degree())
        return src, self.indices.astype(np.int64)

    def transpose(self) -> CSR:
        src, dst = self.coo()
        return CSR.from_coo(dst, src, self.n_cols, self.n_rows, weights=self.weights, ts=self.ts)

    @staticmethod
    def from_coo(
        src: np.ndarray,
        dst: np.ndarray,
        n_rows: int,
        n_cols: int,
        weights: np.ndarray | None = None,
        ts: np.ndarray | None = None,
    ) -> CSR:
        """Build from edge arrays; a stable sort keeps each row's neighbours in their input order."""
        src = np.asarray(src, dtype=np.int64)
        order = np.argsort(src, kind="stable")
        counts = np.bincount(src, minlength=n_rows)
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return CSR(
            indptr=indptr,
            indices=np.asarray(dst, dtype=np.int64)[order].astype(np.int32),
            n_cols=n_cols,
            weights=None if weights is None else np.asarray(weights, dtype=np.float32)[order],
            ts=None if ts is None else np.asarray(ts, dtype=np.int64)[order],
        )


@dataclass
class Snapshot:
    """Id maps per node label, properties of products, and a CSR per relationship type."""

    ids: dict[str, np.ndarray]  # label -> key values (object array of str), position = dense id
    rels: dict[str, CSR]  # type -> CSR from its source label's ids to its target label's ids
    titles: np.ndarray | None = None  # object array aligned with ids["Product"]; None where missing
    prices: np.ndarray | None = None  # float64 aligned with ids["Product"]; NaN where missing
    brands: np.ndarray | None = (
        None  # object array aligned with ids["Product"] (the `brand` property); None where missing
    )
    category_names: np.ndarray | None = None  # object array aligned with ids["Category"]; None where missing
    _index: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)

    def n(self, label: str) -> int:
        return len(self.ids.get(label, ()))

    def index(self, label: str) -> dict[str, int]:
        """key value -> dense id, built on first use and cached."""
        if label not in self._index:
            self._index[label] = {k: i for i, k in enumerate(self.ids.get(label, ()))}
        return self._index[label]

    def rel(self, type_: str) -> CSR:
        """The CSR of a relationship type; an empty one (right shape) when the graph has none."""
        if type_ in self.rels:
            return self.rels[type_]
        spec = RELATIONSHIPS[type_]
        return CSR.from_coo(np.empty(0, np.int64), np.empty(0, np.int64), self.n(spec.src), self.n(spec.dst))

    def product_category(self) -> np.ndarray:
        """The first listed (most specific available) category id per product, -1 where none."""
        csr = self.rel("IN_CATEGORY")
        out = np.full(self.n("Product"), -1, dtype=np.int64)
        has = csr.degree() > 0
        # the last category of a product's list is the deepest of its path
        out[has] = csr.indices[csr.indptr[1:][has] - 1]
        return out

    def counts(self) -> dict[str, int]:
        out = {label: self.n(label) for label in self.ids}
        out.update({t: c.nnz for t, c in self.rels.items()})
        return out

    @staticmethod
    def from_tables(nodes: dict[str, pa.Table], rels: dict[str, pa.Table]) -> Snapshot:
        """Build from full node and relationship tables (as a store holds them).

        Relationship rows whose ends are not nodes of the right label are dropped (a store never holds them, but a
        snapshot must not crash on them either).
        """
        ids: dict[str, np.ndarray] = {}
        for label in NODES:
            if label in nodes:
                ids[label] = np.asarray(nodes[label].column(NODES[label].key).to_pylist(), dtype=object)
            else:
                ids[label] = np.empty(0, dtype=object)
        snap = Snapshot(ids=ids, rels={})
        if "Product" in nodes:
            p = nodes["Product"]
            snap.titles = np.asarray(p.column("title").to_pylist(), dtype=object)
            snap.prices = p.column("price").to_numpy(zero_copy_only=False).astype(np.float64)
            snap.brands = np.asarray(p.column("brand").to_pylist(), dtype=object)
        if "Category" in nodes:
            snap.category_names = np.asarray(nodes["Category"].column("name").to_pylist(), dtype=object)
        for type_, table in rels.items():
            if table.num_rows == 0:
                continue
            spec = RELATIONSHIPS[type_]
            src = _lookup(snap, spec.src, table.column("src"))
            dst = _lookup(snap, spec.dst, table.column("dst"))
            ok = (src >= 0) & (dst >= 0)
            weights = (
                table.column("weight").to_numpy(zero_copy_only=False)
                if "weight" in table.column_names
                else None
            )
            ts = None
            if "ts" in table.column_names:
                ts = table.column("ts").fill_null(-1).to_numpy(zero_copy_only=False)
            if "score" in table.column_names:
                weights = table.column("score").to_numpy(zero_copy_only=False)
            snap.rels[type_] = CSR.from_coo(
                src[ok],
                dst[ok],
                snap.n(spec.src),
                snap.n(spec.dst),
                weights=None if weights is None else np.nan_to_num(weights[ok].astype(np.float32), nan=1.0),
                ts=None if ts is None else ts[ok],
            )
        return snap


def _lookup(snap: Snapshot, label: str, keys: pa.ChunkedArray) -> np.ndarray:
    """Dense ids of `keys` in `label`, -1 where absent; vectorized through pyarrow's index_in."""
    import pyarrow.compute as pc

    value_set = pa.array(snap.ids[label].tolist(), type=pa.string())
    return (
        pc.index_in(keys.cast(pa.string()), value_set=value_set).fill_null(-1).to_numpy(zero_copy_only=False)
    )
