"""Neo4jStore against the real server: the Beauty set loads with the files' counts, re-loads change nothing, a
corrupted copy loads every good row and quarantines every bad one, rules and learned edges round-trip."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from graph.local_store import LocalStore
from graph.neo4j.store import Neo4jStore
from graph.schema import GraphBatch
from loaders.amazon import read_amazon
from loaders.quarantine import Quarantine
from loaders.summary import LoadSummary

META, REVIEWS = (
    "meta_Beauty.json.gz",
    "reviews_Beauty_5.json.gz",
)  # in the `beauty` folder (tests/conftest.py)

# what the files hold (../shared/data/README.md), less the one self-loop the loader quarantines
BEAUTY_COUNTS = {
    "Product": 12_101,
    "Customer": 22_363,
    "Category": 39,  # "Beauty" and its 38 level-2 categories
    "ALSO_BOUGHT": 239_344,
    "ALSO_VIEWED": 155_350,
    "REVIEWED": 198_502,
    "IN_CATEGORY": 2 * 12_101,
    "SUBCATEGORY_OF": 38,
}

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def neo4j(neo4j_to_empty):
    uri, user, password = neo4j_to_empty
    store = Neo4jStore.connect(uri, user, password)
    store.clear()
    yield store
    store.close()


def _load(store, meta: Path, reviews: Path, quarantine_path: Path | None = None):
    summary = LoadSummary()
    with Quarantine(quarantine_path) as q:
        written = store.write(read_amazon(meta, reviews, q, summary))
    return summary, q, written


def _main_counts(counts: dict[str, int]) -> dict[str, int]:
    return {k: counts[k] for k in BEAUTY_COUNTS}


@pytest.mark.slow
def test_beauty_loads_with_the_files_counts_and_reloads_idempotently(neo4j, beauty):
    summary, q, written = _load(neo4j, beauty / META, beauty / REVIEWS)
    assert _main_counts(neo4j.counts()) == BEAUTY_COUNTS
    assert q.counts == {"self_loop": 1}
    assert written.created["ALSO_BOUGHT"] == 239_344
    # the same files again: nothing new, nothing doubled
    _, _, again = _load(neo4j, beauty / META, beauty / REVIEWS)
    assert set(again.created.values()) == {0}
    assert _main_counts(neo4j.counts()) == BEAUTY_COUNTS

    # the snapshot read back from Neo4j is the one the embedded store builds from the same files
    snap = neo4j.snapshot()
    assert snap.counts()["REVIEWED"] == 198_502
    idx = snap.index("Product")
    bought = snap.rel("ALSO_BOUGHT")
    assert sorted(snap.ids["Product"][bought.row(idx["B00004TMFE"])]) == sorted(
        _local_partners(beauty / META, "B00004TMFE", "ALSO_BOUGHT")
    )


def _local_partners(meta: Path, asin: str, type_: str) -> list[str]:
    out = []
    for batch in read_amazon(meta, None, Quarantine(None), LoadSummary()):
        if type_ in batch.rels:
            t = batch.rels[type_].to_pydict()
            out += [d for s, d in zip(t["src"], t["dst"], strict=True) if s == asin]
    return out


def _corrupt_copy(src: Path, dst: Path, injections: dict[int, bytes]) -> None:
    """Copy a gzipped file line by line, inserting raw bad lines before the given line numbers."""
    with gzip.open(src, "rb") as fin, gzip.open(dst, "wb") as fout:
        for i, line in enumerate(fin):
            if i in injections:
                fout.write(injections[i])
            fout.write(line)


@pytest.mark.slow
def test_corrupted_copy_loads_every_good_row_and_quarantines_every_bad_one(neo4j, beauty, tmp_path):
    neo4j.clear()
    meta, reviews = tmp_path / "meta.json.gz", tmp_path / "reviews.json.gz"
    with gzip.open(beauty / META, "rb") as f:
        first_meta_line = f.readline()
    _corrupt_copy(
        beauty / META,
        meta,
        {
            0: b"{'asin': 'BROKEN', 'title': \n",  # malformed
            500: b"{'asin': 'B0BADUTF8', 'title': '\xff\xfe caf\xe9'}\n",  # not UTF-8
            5000: b"{'title': 'a product without an asin'}\n",  # missing id
            7000: b"{'asin': 'ZZINJECTED1', 'title': 'Injected', 'related': {'also_bought': ['NOSUCHASIN']}}\n",
            9000: first_meta_line,  # a duplicate product line
        },
    )
    _corrupt_copy(
        beauty / REVIEWS,
        reviews,
        {
            10: b'{"reviewerID": "U1", "asin": \n',  # malformed
            100_000: json.dumps({"reviewerID": "UINJECTED", "asin": "NOSUCHASIN"}).encode()
            + b"\n",  # dangling
            150_000: json.dumps({"asin": "B00004TMFE"}).encode() + b"\n",  # missing id
        },
    )
    qpath = tmp_path / "quarantine.jsonl"
    summary, q, _ = _load(neo4j, meta, reviews, qpath)

    expected = dict(BEAUTY_COUNTS, Product=12_102)  # the injected product loads; its dangling edge does not
    assert _main_counts(neo4j.counts()) == expected
    assert q.counts == {"malformed": 2, "bad_encoding": 1, "missing_id": 2, "dangling": 2, "self_loop": 1}
    assert summary.nodes["Product"].duplicate == 1
    rows = [json.loads(line) for line in qpath.read_text().splitlines()]
    assert len(rows) == 8
    assert all(r["file"] and r["line"] and r["reason"] for r in rows)
    dangling = {r["file"].rsplit("/", 1)[-1] for r in rows if r["reason"] == "dangling"}
    assert dangling == {"meta.json.gz", "reviews.json.gz"}


def test_rules_and_learned_edges_round_trip(neo4j):
    neo4j.write(
        [
            GraphBatch(
                nodes={"Product": pa.table({"asin": ["RT-A", "RT-B", "RT-C"], "title": ["A", "B", "C"]})},
            )
        ]
    )
    assert neo4j.set_rule("PINNED", "RT-A", "RT-B", "complement")
    assert neo4j.set_rule("BLOCKED", "RT-C", None, "all")
    assert not neo4j.set_rule("PINNED", "RT-A", "NOSUCH", "complement")
    rules = {tuple(r.values()) for r in neo4j.rules().to_pylist()}
    assert {("PINNED", "RT-A", "RT-B", "complement"), ("BLOCKED", "RT-C", None, "all")} <= rules
    assert neo4j.set_rule("PINNED", "RT-A", "RT-B", "complement", on=False)
    assert ("PINNED", "RT-A", "RT-B", "complement") not in {
        tuple(r.values()) for r in neo4j.rules().to_pylist()
    }

    table = pa.table({"src": ["RT-A", "RT-A"], "dst": ["RT-B", "RT-C"], "score": [0.9, 0.4], "rank": [1, 2]})
    assert neo4j.replace_learned("COMPLEMENT", table, "v1") == 2
    assert neo4j.replace_learned("COMPLEMENT", table.slice(0, 1), "v2") == 1
    models = neo4j.driver.execute_query(
        "MATCH (:Product {asin: $a})-[e:COMPLEMENT]->(b) RETURN b.asin AS b, e.model AS m, e.rank AS r",
        a="RT-A",
    ).records
    assert [(r["b"], r["m"], r["r"]) for r in models] == [("RT-B", "v2", 1)]


def test_neo4j_and_local_store_agree_on_a_small_graph(neo4j, tmp_path):
    batch = GraphBatch(
        nodes={"Product": pa.table({"asin": ["SG-1", "SG-2", "SG-3"], "price": [1.0, None, 3.5]})},
        rels={"ALSO_VIEWED": pa.table({"src": ["SG-1", "SG-2"], "dst": ["SG-2", "SG-3"]})},
    )
    neo4j.clear()
    neo4j.write([batch])
    local = LocalStore(tmp_path)
    local.write([batch])
    a, b = neo4j.snapshot(), local.snapshot()
    order = np.argsort(a.ids["Product"])
    assert list(a.ids["Product"][order]) == list(b.ids["Product"])
    assert np.allclose(a.prices[order], b.prices, equal_nan=True)
    assert a.counts()["ALSO_VIEWED"] == b.counts()["ALSO_VIEWED"] == 2
