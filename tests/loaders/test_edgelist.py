from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pytest

from graph.schema import GraphBatch
from loaders.edgelist import read_edgelist, relation_type
from loaders.quarantine import Quarantine
from loaders.summary import LoadError, LoadSummary

FIXTURES = Path(__file__).parent / "fixtures"


def collect(batches: Iterable[GraphBatch]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for batch in batches:
        for name, table in (*batch.nodes.items(), *batch.rels.items()):
            out[name] += table.to_pylist()
    return dict(out)


def edges(rows: dict[str, list[dict]]) -> list[tuple[str, str, str, float]]:
    return [(t, r["src"], r["dst"], r["weight"]) for t, rs in rows.items() if t.isupper() for r in rs]


def test_tsv_with_a_header_loads_good_rows_and_quarantines_the_rest(tmp_path: Path) -> None:
    summary = LoadSummary()
    with Quarantine(tmp_path / "q.jsonl") as q:
        rows = collect(read_edgelist(FIXTURES / "edges.tsv", q, summary))
    assert edges(rows) == [
        ("ALSO_BOUGHT", "P1", "P2", 2.5),
        ("ALSO_BOUGHT", "P1", "P3", 1.0),  # complement
        ("ALSO_BOUGHT", "P6", "P7", 1.0),  # no relation: the default
        ("ALSO_VIEWED", "P2", "P1", 0.5),  # Substitute, any case
        ("BOUGHT_TOGETHER", "P3", "P4", 1.0),
    ]
    assert [r["asin"] for r in rows["Product"]] == ["P1", "P2", "P3", "P4", "P6", "P7"]
    assert all(r["title"] is None for r in rows["Product"])
    quarantined = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in quarantined] == [
        (7, "self_loop"),
        (8, "missing_field"),
        (9, "unknown_relation"),
        (10, "bad_weight"),
        (11, "bad_weight"),
        (12, "bad_weight"),
        (13, "malformed"),  # a fifth column
    ]
    assert quarantined[0]["raw"] == "P4\tP4\talso_view"
    bought = summary.rels["ALSO_BOUGHT"]
    assert (bought.read, bought.loaded, bought.quarantined, bought.duplicate) == (8, 3, 4, 1)
    assert summary.unattributed == 2  # the unknown relation and the malformed line


def test_csv_without_a_header_gzipped_under_any_name(tmp_path: Path) -> None:
    path = tmp_path / "edges.bin"
    path.write_bytes(gzip.compress((FIXTURES / "edges.csv").read_bytes()))
    rows = collect(read_edgelist(path, Quarantine(None), LoadSummary(), default_relation="also_view"))
    assert edges(rows) == [
        ("ALSO_VIEWED", "P1", "P2", 1.0),
        ("ALSO_VIEWED", "P2", "P3", 1.0),
        ("ALSO_BOUGHT", "P3", "P1", 0.25),
    ]


def test_a_header_sets_the_column_order(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("weight,type,to,from\n3,also_viewed,P2,P1\n")
    assert edges(collect(read_edgelist(path, Quarantine(None), LoadSummary()))) == [
        ("ALSO_VIEWED", "P1", "P2", 3.0)
    ]


def test_relation_names() -> None:
    assert relation_type("Also_Bought") == "ALSO_BOUGHT"
    assert relation_type(" substitute ") == "ALSO_VIEWED"
    assert relation_type("COMPLEMENT") == "ALSO_BOUGHT"
    assert relation_type("REVIEWED") is None


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="default_relation"):
        list(read_edgelist(FIXTURES / "edges.csv", Quarantine(None), LoadSummary(), default_relation="likes"))
    with pytest.raises(LoadError, match="no such file"):
        list(read_edgelist(tmp_path / "none.tsv", Quarantine(None), LoadSummary()))
    bad = tmp_path / "bad.tsv"
    bad.write_text("P1\tP1\nP2\tP3\tfriend_of\n")
    with pytest.raises(LoadError, match="no usable edge"):
        list(read_edgelist(bad, Quarantine(None), LoadSummary()))


def test_batches_split_at_batch_size(tmp_path: Path) -> None:
    path = tmp_path / "e.tsv"
    path.write_text("".join(f"P{i}\tP{i + 1}\n" for i in range(10)))
    batches = list(read_edgelist(path, Quarantine(None), LoadSummary(), batch_size=4))
    assert len(batches) > 1
    assert sum(b.rels["ALSO_BOUGHT"].num_rows for b in batches if "ALSO_BOUGHT" in b.rels) == 10
