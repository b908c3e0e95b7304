from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pytest

from graph.schema import NODES, GraphBatch
from graph.snapshot import Snapshot
from loaders.amazon import parse_record, read_amazon
from loaders.quarantine import Quarantine
from loaders.summary import LoadError, LoadSummary

FIXTURES = Path(__file__).parent / "fixtures"


def collect(batches: Iterable[GraphBatch]) -> dict[str, pa.Table]:
    parts: dict[str, list[pa.Table]] = defaultdict(list)
    for batch in batches:
        for name, table in (*batch.nodes.items(), *batch.rels.items()):
            parts[name].append(table)
    return {name: pa.concat_tables(tables) for name, tables in parts.items()}


def rows(tables: dict[str, pa.Table], name: str) -> list[dict]:
    return tables[name].to_pylist() if name in tables else []


def pairs(tables: dict[str, pa.Table], name: str) -> list[tuple[str, str]]:
    return [(r["src"], r["dst"]) for r in rows(tables, name)]


def fixture(tmp_path: Path, name: str, gzipped: bool, extra: bytes = b"") -> Path:
    """A copy of a fixture, gzipped or not, under a name that says nothing about it (gzip is told by bytes)."""
    data = (FIXTURES / name).read_bytes() + extra
    path = tmp_path / f"{name}.data"
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def reasons(quarantine: Path, file: Path) -> list[tuple[int, str]]:
    """(line, reason) of what `file` sent to the quarantine file, in order."""
    records = map(json.loads, quarantine.read_text().splitlines())
    return [(r["line"], r["reason"]) for r in records if r["file"] == str(file)]


def load(meta: Path | None, reviews: Path | None, tmp_path: Path, **kw: int):
    summary = LoadSummary()
    with Quarantine(tmp_path / "q.jsonl") as q:
        tables = collect(read_amazon(meta, reviews, q, summary, **kw))
    return tables, summary, q


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_2014_meta_loads_every_good_row_and_quarantines_the_rest(tmp_path: Path, gzipped: bool) -> None:
    meta = fixture(tmp_path, "meta_2014.txt", gzipped, extra=b"{'asin': 'A6', 'title': 'caf\xe9'}\n")
    tables, summary, q = load(meta, None, tmp_path)

    assert rows(tables, "Product") == [
        {"asin": "A1", "title": "Lens cap", "brand": "Acme", "price": 9.99},
        {"asin": "A2", "title": "Tom's camera", "brand": "Acme", "price": None},
        {"asin": "A3", "title": "Tripod", "brand": None, "price": None},
        {"asin": "A4", "title": None, "brand": None, "price": None},
        {"asin": "A5", "title": None, "brand": None, "price": None},
    ]
    assert rows(tables, "Brand") == [{"name": "Acme"}]
    assert pairs(tables, "MADE_BY") == [("A1", "Acme"), ("A2", "Acme")]
    # directed as listed, in list order; the repeat, the dangling ZZZ and the self loop are gone
    assert pairs(tables, "ALSO_BOUGHT") == [("A1", "A3"), ("A1", "A2"), ("A3", "A1")]
    assert {r["weight"] for r in rows(tables, "ALSO_BOUGHT")} == {1.0}
    assert pairs(tables, "ALSO_VIEWED") == [("A1", "A3")]
    assert pairs(tables, "BOUGHT_TOGETHER") == [("A1", "A2")]

    assert rows(tables, "Category") == [
        {"id": "Electronics", "name": "Electronics"},
        {"id": "Electronics/Camera", "name": "Camera"},
        {"id": "Electronics/Camera/Lenses", "name": "Lenses"},
        {"id": "Electronics/Accessories", "name": "Accessories"},
        {"id": "Beauty", "name": "Beauty"},
        {"id": "Beauty/c12", "name": "c12"},
    ]
    assert pairs(tables, "SUBCATEGORY_OF") == [
        ("Electronics/Camera", "Electronics"),
        ("Electronics/Camera/Lenses", "Electronics/Camera"),
        ("Electronics/Accessories", "Electronics"),
        ("Beauty/c12", "Beauty"),
    ]
    in_a1 = [dst for src, dst in pairs(tables, "IN_CATEGORY") if src == "A1"]
    # every node of every path; the deepest of the first path last
    assert in_a1 == [
        "Electronics/Accessories",
        "Electronics",
        "Electronics/Camera",
        "Electronics/Camera/Lenses",
    ]
    snap = Snapshot.from_tables(
        {k: v for k, v in tables.items() if k in NODES}, {k: v for k, v in tables.items() if k not in NODES}
    )
    deepest = snap.ids["Category"][snap.product_category()]
    assert dict(zip(snap.ids["Product"], deepest, strict=True))["A1"] == "Electronics/Camera/Lenses"

    assert reasons(tmp_path / "q.jsonl", meta) == [
        (1, "dangling"),  # ZZZ
        (1, "self_loop"),  # A1 -> A1
        (2, "bad_price"),  # -5.0, nulled
        (3, "bad_price"),  # 1e300, nulled
        (3, "bad_id"),  # 7
        (3, "missing_id"),  # ''
        (6, "missing_id"),  # no asin
        (7, "missing_id"),  # blank asin
        (8, "bad_id"),  # 42
        (9, "malformed"),
        (10, "malformed"),  # a list
        (11, "bad_title"),
        (11, "bad_brand"),
        (11, "bad_categories"),
        (11, "bad_related"),
        (12, "bad_related"),
        (13, "bad_encoding"),
    ]
    product = summary.nodes["Product"]
    assert (product.read, product.loaded, product.quarantined, product.duplicate, product.nulled) == (
        12,
        5,
        6,
        1,
        4,
    )
    bought = summary.rels["ALSO_BOUGHT"]
    assert (bought.read, bought.loaded, bought.quarantined, bought.duplicate) == (8, 3, 4, 1)
    for counts in (*summary.nodes.values(), *summary.rels.values()):
        assert counts.read == counts.loaded + counts.quarantined + counts.duplicate


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_2018_meta_reads_flat_categories_top_level_lists_and_text_prices(
    tmp_path: Path, gzipped: bool
) -> None:
    meta = fixture(tmp_path, "meta_2018.json", gzipped)
    tables, summary, _ = load(meta, None, tmp_path)
    assert rows(tables, "Product") == [
        {"asin": "B1", "title": "Kettle", "brand": "Brew", "price": 12.99},
        {"asin": "B2", "title": "Mug", "brand": None, "price": 1234.5},  # a range loads as its low end
        {"asin": "B3", "title": "Tea", "brand": None, "price": None},
        {"asin": "B4", "title": None, "brand": None, "price": None},  # empty strings are missing, not bad
        {"asin": "B5", "title": None, "brand": None, "price": None},
        {"asin": "B6", "title": None, "brand": None, "price": None},
    ]
    assert pairs(tables, "ALSO_BOUGHT") == [("B1", "B2"), ("B1", "B3"), ("B2", "B1")]
    assert pairs(tables, "ALSO_VIEWED") == [("B1", "B2"), ("B3", "B1")]
    assert [dst for src, dst in pairs(tables, "IN_CATEGORY") if src == "B1"] == [
        "Home",
        "Home/Kitchen",
        "Home/Kitchen/Kettles",
    ]
    assert reasons(tmp_path / "q.jsonl", meta) == [
        (2, "dangling"),
        (3, "bad_price"),
        (3, "self_loop"),
        (5, "bad_price"),  # Infinity
        (6, "bad_price"),  # 2e6
        (7, "malformed"),
        (8, "missing_id"),  # null
    ]
    assert summary.nodes["Product"].loaded == 6


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_reviews_load_customers_and_reviewed_edges_checked_against_the_meta(
    tmp_path: Path, gzipped: bool
) -> None:
    meta = fixture(tmp_path, "meta_2014.txt", gzipped)
    reviews = fixture(tmp_path, "reviews.json", gzipped, extra=b'{"reviewerID": "U\xff", "asin": "A1"}\n')
    tables, summary, _ = load(meta, reviews, tmp_path)
    assert rows(tables, "REVIEWED") == [
        {"src": "U1", "dst": "A1", "ts": 1400000000, "rating": 5.0},
        {"src": "U1", "dst": "A2", "ts": None, "rating": 4.0},  # no unixReviewTime: ts is null
        {"src": "U2", "dst": "A3", "ts": None, "rating": None},  # 1985 and 7 stars: nulled
        {"src": "U2", "dst": "A2", "ts": None, "rating": None},  # in the future: nulled
        {"src": "U4", "dst": "A5", "ts": 1400000000, "rating": 4.0},  # numeric strings are numbers
        {"src": "U5", "dst": "A4", "ts": None, "rating": None},  # NaN
    ]
    assert rows(tables, "Customer") == [{"id": u} for u in ("U1", "U2", "U4", "U5")]
    assert reasons(tmp_path / "q.jsonl", reviews) == [
        (4, "bad_ts"),
        (4, "bad_rating"),
        (5, "bad_ts"),
        (6, "dangling"),  # GHOST has no product line
        (7, "missing_id"),
        (8, "bad_id"),
        (9, "missing_id"),
        (11, "malformed"),
        (12, "bad_rating"),
        (13, "bad_encoding"),
    ]
    r = summary.rels["REVIEWED"]
    assert (r.read, r.loaded, r.quarantined, r.duplicate, r.nulled) == (13, 6, 6, 1, 3)
    assert summary.nodes["Customer"].loaded == 4


def test_reviews_alone_create_the_products_they_name(tmp_path: Path) -> None:
    tables, summary, q = load(None, FIXTURES / "reviews.json", tmp_path)
    assert [r["asin"] for r in rows(tables, "Product")] == ["A1", "A2", "A3", "GHOST", "A5", "A4"]
    assert all(r["title"] is None for r in rows(tables, "Product"))
    assert len(rows(tables, "REVIEWED")) == 7 and "dangling" not in q.counts


def test_small_batches_carry_the_same_rows(tmp_path: Path) -> None:
    meta, reviews = FIXTURES / "meta_2014.txt", FIXTURES / "reviews.json"
    whole, _, _ = load(meta, reviews, tmp_path)
    summary = LoadSummary()
    batches = list(read_amazon(meta, reviews, Quarantine(None), summary, batch_size=2))
    # flushed after the line that fills a batch: a line's rows are never split across batches
    assert len(batches) > 5 and all(len(b) >= 2 for b in batches[:-1])
    assert {k: v.to_pylist() for k, v in collect(batches).items()} == {
        k: v.to_pylist() for k, v in whole.items()
    }


def test_nothing_usable_is_a_load_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("not a record\n{'title': 'no asin'}\n")
    with pytest.raises(LoadError, match="no usable product"):
        list(read_amazon(junk, None, Quarantine(None), LoadSummary()))
    with pytest.raises(LoadError, match="no usable review"):
        list(read_amazon(FIXTURES / "meta_2014.txt", junk, Quarantine(None), LoadSummary()))
    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(LoadError):
        list(read_amazon(None, empty, Quarantine(None), LoadSummary()))
    with pytest.raises(LoadError, match="no such file"):
        list(read_amazon(tmp_path / "missing.json", None, Quarantine(None), LoadSummary()))
    with pytest.raises(LoadError, match="nothing to read"):
        list(read_amazon(None, None, Quarantine(None), LoadSummary()))


def test_parse_record_reads_json_and_python_literals_and_never_evaluates() -> None:
    assert parse_record('{"a": null, "b": true}') == {"a": None, "b": True}
    assert parse_record("{'a': None, 'b': \"it's\"}") == {"a": None, "b": "it's"}
    assert parse_record('{"a": None}') == {"a": None}  # looks like JSON, is a literal
    assert parse_record("{'a': __import__('os').getcwd()}") is None
    assert parse_record("{'a': ") is None


def test_html_entities_in_titles_are_decoded(tmp_path: Path) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(
        "{'asin': 'E1', 'title': 'Chevron &amp; Teardrop &quot;Tips&quot;', 'brand': 'L&#39;Or'}\n"
    )
    batches = list(read_amazon(meta, None, Quarantine(None), LoadSummary()))
    product = batches[0].nodes["Product"].to_pylist()[0]
    assert (product["title"], product["brand"]) == ('Chevron & Teardrop "Tips"', "L'Or")
