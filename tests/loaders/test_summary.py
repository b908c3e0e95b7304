from __future__ import annotations

import json

import pytest

from loaders.summary import BatchBuilder, LoadSummary


def test_counts_per_label_and_type_and_serializes() -> None:
    s = LoadSummary()
    s.node("Product").read += 3
    s.node("Product").loaded += 2
    s.node("Product").duplicate += 1
    s.rel("ALSO_BOUGHT").quarantined += 4
    s.unattributed = 1
    d = s.to_dict()
    assert d["nodes"]["Product"] == {"read": 3, "loaded": 2, "quarantined": 0, "duplicate": 1, "nulled": 0}
    assert d["rels"]["ALSO_BOUGHT"]["quarantined"] == 4
    assert json.loads(s.to_json()) == d
    table = str(s)
    assert "Product" in table and "ALSO_BOUGHT" in table and "unattributed" in table


def test_unknown_names_are_errors() -> None:
    with pytest.raises(KeyError):
        LoadSummary().node("Shop")
    with pytest.raises(KeyError):
        LoadSummary().rel("LIKES")


def test_batch_builder_flushes_full_batches_and_counts_loaded() -> None:
    s = LoadSummary()
    out = BatchBuilder(s, batch_size=3)
    out.node("Product", ("P1", "t", None, 1.5))
    out.node("Customer", ("U1",))
    assert not out.full and s.node("Customer").loaded == 0  # loaded once it leaves in a batch
    out.rel("REVIEWED", ("U1", "P1", None, 4.0))
    assert out.full
    (batch,) = out.drain()
    assert len(batch) == 3
    assert batch.nodes["Product"].to_pylist() == [{"asin": "P1", "title": "t", "brand": None, "price": 1.5}]
    assert batch.rels["REVIEWED"].to_pylist() == [{"src": "U1", "dst": "P1", "ts": None, "rating": 4.0}]
    assert list(out.drain()) == []
    assert s.node("Product").loaded == 1 and s.rel("REVIEWED").loaded == 1


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        BatchBuilder(LoadSummary(), 0)
