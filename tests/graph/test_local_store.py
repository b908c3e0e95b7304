"""The embedded store and the snapshot on small hand-made graphs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from graph.local_store import LocalStore
from graph.schema import GraphBatch
from graph.snapshot import CSR


def _batch() -> GraphBatch:
    return GraphBatch(
        nodes={
            "Product": pa.table(
                {"asin": ["a", "b", "c"], "title": ["Camera", None, "Bag"], "price": [300.0, 20.0, None]}
            ),
            "Customer": pa.table({"id": ["u1", "u2"]}),
        },
        rels={
            "ALSO_BOUGHT": pa.table({"src": ["a", "a", "b", "a"], "dst": ["c", "b", "c", "c"]}),
            "REVIEWED": pa.table({"src": ["u1", "u2", "u1"], "dst": ["a", "a", "c"], "ts": [5, None, 7]}),
        },
    )


def test_write_merges_and_is_idempotent(tmp_path):
    store = LocalStore(tmp_path)
    first = store.write([_batch()])
    assert first.created == {"Product": 3, "Customer": 2, "ALSO_BOUGHT": 3, "REVIEWED": 3}
    assert first.written["ALSO_BOUGHT"] == 4  # the repeated a->c is merged, not stored twice
    before = {p.name: p.read_bytes() for p in tmp_path.rglob("*.parquet")}
    again = store.write([_batch()])
    assert set(again.created.values()) == {0}
    assert {p.name: p.read_bytes() for p in tmp_path.rglob("*.parquet")} == before
    assert store.counts()["ALSO_BOUGHT"] == 3


def test_later_non_null_property_wins(tmp_path):
    store = LocalStore(tmp_path)
    store.write([_batch()])
    store.write([GraphBatch(nodes={"Product": pa.table({"asin": ["b", "a"], "title": ["Lens", None]})})])
    snap = store.snapshot()
    titles = dict(zip(snap.ids["Product"], snap.titles, strict=True))
    assert titles == {"a": "Camera", "b": "Lens", "c": "Bag"}  # a's title is kept: a null never erases


def test_snapshot_keeps_list_order_and_properties(tmp_path):
    store = LocalStore(tmp_path)
    store.write([_batch()])
    snap = store.snapshot()
    idx = snap.index("Product")
    bought = snap.rel("ALSO_BOUGHT")
    assert list(snap.ids["Product"][bought.row(idx["a"])]) == ["c", "b"]  # Amazon's lists are ranked
    reviewed = snap.rel("REVIEWED")
    assert reviewed.n_rows == 2 and reviewed.n_cols == 3
    assert sorted(reviewed.ts.tolist()) == [-1, 5, 7]
    assert np.isnan(snap.prices[idx["c"]])
    assert snap.rel("ALSO_VIEWED").nnz == 0  # absent types read as empty, with the right shape
    assert snap.rel("ALSO_VIEWED").n_rows == 3


def test_rules_round_trip(tmp_path):
    store = LocalStore(tmp_path)
    store.write([_batch()])
    assert store.set_rule("PINNED", "a", "c", "complement")
    assert store.set_rule("BLOCKED", "b", None, "all")
    assert not store.set_rule(
        "PINNED", "a", "nope", "complement"
    )  # unknown product: refused, nothing written
    assert store.set_rule("PINNED", "a", "c", "complement")  # twice is once
    rules = store.rules().to_pylist()
    assert rules == [
        {"kind": "PINNED", "product": "a", "other": "c", "relation": "complement"},
        {"kind": "BLOCKED", "product": "b", "other": None, "relation": "all"},
    ]
    assert store.set_rule("PINNED", "a", "c", "complement", on=False)
    assert [r["kind"] for r in store.rules().to_pylist()] == ["BLOCKED"]
    with pytest.raises(ValueError):
        store.set_rule("LIKED", "a", "c", "complement")


def test_clear_empties_nodes_relationships_and_rules(tmp_path):
    store = LocalStore(tmp_path / "store")
    store.write([_batch()])
    assert store.set_rule("PINNED", "a", "c", "complement")
    store.clear()
    assert set(store.counts().values()) == {0}
    assert store.rules().num_rows == 0
    store.write([_batch()])  # a cleared store takes writes again
    assert store.counts()["ALSO_BOUGHT"] == 3


def test_replace_learned_stamps_the_model(tmp_path):
    store = LocalStore(tmp_path)
    store.write([_batch()])
    table = pa.table({"src": ["a", "a"], "dst": ["b", "c"], "score": [0.9, 0.5], "rank": [1, 2]})
    assert store.replace_learned("COMPLEMENT", table, "v1") == 2
    assert store.replace_learned("COMPLEMENT", table.slice(0, 1), "v2") == 1
    snap = store.snapshot()
    assert snap.rel("COMPLEMENT").nnz == 1
    assert snap.rel("COMPLEMENT").weights.tolist() == pytest.approx([0.9])
    with pytest.raises(ValueError):
        store.replace_learned("ALSO_BOUGHT", table, "v1")


def test_csr_from_coo_and_transpose():
    csr = CSR.from_coo(np.array([2, 0, 2, 1]), np.array([0, 1, 1, 2]), 3, 3)
    assert csr.indptr.tolist() == [0, 1, 2, 4]
    assert csr.row(2).tolist() == [0, 1]
    t = csr.transpose()
    src, dst = t.coo()
    assert sorted(zip(src.tolist(), dst.tolist(), strict=True)) == [(0, 2), (1, 0), (1, 2), (2, 1)]


def test_unknown_columns_are_refused():
    with pytest.raises(ValueError, match="unknown columns"):
        GraphBatch(nodes={"Product": pa.table({"asin": ["a"], "colour": ["red"]})})
