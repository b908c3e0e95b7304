from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pytest

from graph.schema import NODES
from graph.snapshot import Snapshot
from loaders.synthetic import planted_truth, synthetic_batches, synthetic_snapshot

ARGS = {"n_products": 2000, "n_edges": 10_000, "n_categories": 20, "n_customers": 300, "seed": 7}


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    return synthetic_snapshot(**ARGS)


def test_sizes_ids_and_no_loops_or_repeats(snap: Snapshot) -> None:
    counts = snap.counts()
    reviewed = counts.pop("REVIEWED")
    assert counts == {
        "Product": 2000,
        "Category": 21,  # 20 leaves and one department
        "Brand": 0,
        "Customer": 300,
        "IN_CATEGORY": 4000,
        "SUBCATEGORY_OF": 20,
        "ALSO_BOUGHT": 6000,
        "ALSO_VIEWED": 4000,
    }
    # 5 + Poisson(3) reviews per customer, repeats dropped: every customer has some, about 8 on average
    assert 300 * 5 * 0.9 <= reviewed <= 300 * 8 * 1.1
    assert (np.diff(snap.rel("REVIEWED").indptr) >= 1).all()
    assert list(snap.ids["Product"][:2]) == ["P0000000", "P0000001"]
    assert snap.ids["Category"][0] == "C0000" and snap.ids["Category"][-1] == "D000"
    assert snap.ids["Customer"][299] == "U0000299"
    for type_ in ("ALSO_BOUGHT", "ALSO_VIEWED", "REVIEWED"):
        src, dst = snap.rel(type_).coo()
        assert len(set(zip(src.tolist(), dst.tolist(), strict=True))) == len(src)
        if type_ != "REVIEWED":
            assert not (src == dst).any()
    assert snap.titles is not None and all(isinstance(t, str) and len(t.split()) == 4 for t in snap.titles)
    assert snap.prices is not None and (snap.prices > 0).all()


def test_same_seed_same_graph_other_seed_other_graph(snap: Snapshot) -> None:
    again = synthetic_snapshot(**ARGS)
    other = synthetic_snapshot(**{**ARGS, "seed": 8})
    for type_, csr in snap.rels.items():
        assert np.array_equal(csr.indptr, again.rels[type_].indptr)
        assert np.array_equal(csr.indices, again.rels[type_].indices)
    assert list(snap.titles) == list(again.titles)
    assert not np.array_equal(snap.rel("ALSO_BOUGHT").indices, other.rel("ALSO_BOUGHT").indices)


def test_planted_complements_substitutes_and_popularity(snap: Snapshot) -> None:
    truth = planted_truth(snap)
    category = truth.product_category
    assert set(category.tolist()) == set(range(20))
    assert np.array_equal(truth.complement_of, (np.arange(20) + 1) % 20)
    src, dst = snap.rel("ALSO_BOUGHT").coo()
    assert (category[dst] == truth.complement_of[category[src]]).mean() >= 0.8
    assert (category[src] == truth.complement_of[category[dst]]).mean() <= 0.1  # directional
    src, dst = snap.rel("ALSO_VIEWED").coo()
    assert (category[src] == category[dst]).mean() >= 0.8
    pairs = set(zip(src.tolist(), dst.tolist(), strict=True))
    assert sum((d, s) in pairs for s, d in pairs) / len(pairs) >= 0.5  # symmetric-ish
    in_degree = np.sort(np.bincount(snap.rel("ALSO_BOUGHT").indices, minlength=2000))[::-1]
    assert in_degree[:200].sum() / in_degree.sum() >= 0.25  # the top 10% draw far more than 10%


def test_customers_review_a_few_categories_in_time_order(snap: Snapshot) -> None:
    category = planted_truth(snap).product_category
    reviewed = snap.rel("REVIEWED")
    in_top_two = 0
    for u in range(snap.n("Customer")):
        counts = Counter(category[reviewed.row(u)].tolist())
        in_top_two += sum(c for _, c in counts.most_common(2))
        ts = reviewed.ts[reviewed.indptr[u] : reviewed.indptr[u + 1]]
        assert (np.diff(ts) >= 0).all()
    assert in_top_two / reviewed.nnz >= 0.8


def test_titles_tell_the_category(snap: Snapshot) -> None:
    """A word -> majority category lookup, learned on half the products, names the category of the other half."""
    category = planted_truth(snap).product_category
    words = [t.split() for t in snap.titles]
    votes: dict[str, Counter] = defaultdict(Counter)
    for w, c in zip(words[::2], category[::2], strict=True):
        for word in w:
            votes[word][c] += 1
    right = 0
    for w, c in zip(words[1::2], category[1::2], strict=True):
        tally = sum((votes[word] for word in w), Counter())
        right += tally.most_common(1)[0][0] == c
    assert right / len(words[1::2]) >= 0.8


def test_batches_are_the_same_graph(snap: Snapshot) -> None:
    parts: dict[str, list[pa.Table]] = defaultdict(list)
    for batch in synthetic_batches(**ARGS, batch_size=1500):
        assert len(batch) <= 1500
        for name, table in (*batch.nodes.items(), *batch.rels.items()):
            parts[name].append(table)
    tables = {name: pa.concat_tables(ts) for name, ts in parts.items()}
    ratings = tables["REVIEWED"].column("rating").to_numpy()
    assert set(np.unique(ratings).tolist()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert tables["Category"].column("name").null_count == 0
    rebuilt = Snapshot.from_tables(
        {k: v for k, v in tables.items() if k in NODES}, {k: v for k, v in tables.items() if k not in NODES}
    )
    for label in NODES:
        assert list(rebuilt.ids[label]) == list(snap.ids[label])
    assert list(rebuilt.titles) == list(snap.titles)
    assert np.array_equal(rebuilt.prices, snap.prices)
    for type_, csr in snap.rels.items():
        other = rebuilt.rels[type_]
        assert np.array_equal(csr.indptr, other.indptr) and np.array_equal(csr.indices, other.indices), type_
        for a, b in ((csr.weights, other.weights), (csr.ts, other.ts)):
            assert (a is None and b is None) or np.array_equal(a, b), type_


def test_edge_cases_and_errors() -> None:
    empty = synthetic_snapshot(50, 0, n_categories=5, n_customers=0)
    assert empty.counts()["ALSO_BOUGHT"] == 0 and empty.counts()["REVIEWED"] == 0
    with pytest.raises(ValueError, match="n_products >= n_categories"):
        synthetic_snapshot(10, 10, n_categories=20)
    with pytest.raises(ValueError, match="do not fit"):
        synthetic_snapshot(10, 1000, n_categories=2)
