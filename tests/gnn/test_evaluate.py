"""Metrics of gnn/evaluate.py on cases small enough to compute by hand, the baselines, and `kgrec evaluate`."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from gnn.baselines import (
    AdamicAdar,
    CommonNeighbours,
    CoOccurrence,
    PathCounts,
    RandomWalk,
    TitleSimilarity,
    all_baselines,
)
from gnn.evaluate import (
    ALL_COMPLEMENTS,
    DISTINCT,
    IN_DEGREE,
    OBSERVED,
    aggregate,
    direction_accuracy,
    evaluate,
    in_degree_direction,
    known_partners,
    labelled_pairs,
    one_way_pairs,
    rank_metrics,
    tables,
    write_report,
)
from gnn.split import POPULATIONS, Split, make_split
from graph.local_store import LocalStore
from graph.schema import RELATIONS
from graph.snapshot import CSR, Snapshot
from kgrec.commands import evaluate as evaluate_command
from loaders.synthetic import synthetic_batches, synthetic_snapshot

N = 6
FRACTIONS = {"warm_frac": 0.2, "cold_frac": 0.1, "new_frac": 0.1, "valid_frac": 0.1}
LOG2_3 = math.log2(3)


def catalog() -> Snapshot:
    """300 products in 10 categories with planted complement and substitute structure."""
    return synthetic_snapshot(300, 3000, n_categories=10, seed=0)


def products(rels: dict[str, CSR], titles: list[str] | None = None, customers: int = 0) -> Snapshot:
    return Snapshot(
        ids={
            "Product": np.array([f"p{i}" for i in range(N)], dtype=object),
            "Customer": np.array([f"c{i}" for i in range(customers)], dtype=object),
        },
        rels=rels,
        titles=None if titles is None else np.array(titles, dtype=object),
    )


def tiny_split() -> Split:
    """Query 0 lists 1 (kept), 2 and 3 (held out, warm); 3 lists 0 back, 2 does not; 4 and 5 list 1."""
    full_ab = CSR.from_coo(np.array([0, 0, 0, 3, 4, 5]), np.array([1, 2, 3, 0, 1, 1]), N, N)
    train_ab = CSR.from_coo(np.array([0, 4, 5]), np.array([1, 1, 1]), N, N)
    empty = np.empty((0, 2), dtype=np.int64)
    heldout = {rel: {pop: empty for pop in POPULATIONS} for rel in RELATIONS}
    heldout["complement"]["warm"] = np.array([[0, 2], [0, 3]])
    return Split(
        train=products({"ALSO_BOUGHT": train_ab}),
        heldout=heldout,
        valid={rel: empty for rel in RELATIONS},
        cold=np.empty(0, np.int64),
        new=np.empty(0, np.int64),
        full=products({"ALSO_BOUGHT": full_ab}),
    )


class Fixed:
    """A scorer reading a given [n, n] matrix."""

    def __init__(self, matrix: np.ndarray, name: str = "fixed") -> None:
        self.matrix = np.asarray(matrix, dtype=np.float32)
        self.name = name

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        return self.matrix[queries]


def row0(values: list[float]) -> Fixed:
    m = np.zeros((N, N), dtype=np.float32)
    m[0] = values
    return Fixed(m)


def test_filtered_ranking_by_hand() -> None:
    split = tiny_split()
    known = known_partners(split, "complement")
    # product:        0  1  2  3  4  5
    scorer = row0([9, 8, 5, 7, 6, 1])
    pairs = split.heldout["complement"]["warm"]
    # (0, 2): 0 itself, 1 (train) and 3 (the other held-out partner) are filtered -> 2 ranks 2nd behind 4
    # (0, 3): 0, 1 and 2 filtered -> 3 ranks 1st; unfiltered, they would rank 4th and 3rd
    m = rank_metrics(scorer, "complement", pairs, known, k=10, n_negatives=4000)
    assert m["n"] == 2
    assert m["hit@10"] == pytest.approx(1.0)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / LOG2_3) / 2)
    assert m["mrr"] == pytest.approx((1 + 1 / 2) / 2)
    # AUC: (0, 3) beats both unfiltered negatives (4, 5); (0, 2) beats 5, loses to 4 -> 1/2 in expectation
    assert m["auc"] == pytest.approx((1 + 0.5) / 2, abs=0.03)
    top1 = rank_metrics(scorer, "complement", pairs, known, k=1)
    assert top1["hit@1"] == pytest.approx(0.5)
    assert top1["ndcg@1"] == pytest.approx(0.5)


def test_ties_count_as_a_random_order() -> None:
    split = tiny_split()
    known = known_partners(split, "complement")
    # every unfiltered candidate (the partner, 4, 5) ties: the rank is uniform on 1..3
    m = rank_metrics(row0([0] * N), "complement", split.heldout["complement"]["warm"], known, k=1)
    assert m["hit@1"] == pytest.approx(1 / 3)
    assert m["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert m["auc"] == pytest.approx(0.5)
    m10 = rank_metrics(row0([0] * N), "complement", split.heldout["complement"]["warm"], known, k=10)
    assert m10["ndcg@10"] == pytest.approx((1 + 1 / LOG2_3 + 1 / 2) / 3)


def test_negatives_are_seeded() -> None:
    split = tiny_split()
    known = known_partners(split, "complement")
    scorer = row0([9, 8, 5, 7, 6, 1])
    pairs = split.heldout["complement"]["warm"]
    a = rank_metrics(scorer, "complement", pairs, known, n_negatives=3, seed=1)
    assert a == rank_metrics(scorer, "complement", pairs, known, n_negatives=3, seed=1)


def test_direction_by_hand() -> None:
    split = tiny_split()
    one_way = one_way_pairs(known_partners(split, "complement"), split.heldout["complement"]["warm"])
    np.testing.assert_array_equal(one_way, [[0, 2]])  # 3 lists 0 back, 2 does not
    m = np.zeros((N, N), dtype=np.float32)
    m[0, 2], m[2, 0] = 5, 3
    assert direction_accuracy(Fixed(m), one_way, N) == 1.0
    m[2, 0] = 5
    assert direction_accuracy(Fixed(m), one_way, N) == 0.5
    m[2, 0] = 6
    assert direction_accuracy(Fixed(m), one_way, N) == 0.0
    # train in-degrees: 0 has none, 2 none -> a tie; make 2 the more-listed end and the heuristic is right
    assert in_degree_direction(split, one_way) == 0.5
    split.train.rels["ALSO_BOUGHT"] = CSR.from_coo(np.array([0, 4]), np.array([1, 2]), N, N)
    assert in_degree_direction(split, one_way) == 1.0


def test_random_walk_reaches_two_hops_through_the_serving_walker() -> None:
    lists = CSR.from_coo(np.array([0, 1, 3]), np.array([1, 2, 4]), N, N)
    walk = RandomWalk(products({"ALSO_BOUGHT": lists}))
    assert all(type(w).__name__ == "Walker" for w in walk.walkers.values())  # graph/walks, not a copy
    s = walk.scores("complement", np.array([0, 5]))
    assert s[0, 1] > s[0, 2] > 0  # one step to 1, then on to 2, then back: 1 is visited on every excursion
    assert s[0, 3] == s[0, 4] == s[0, 5] == s[0, 0] == 0.0  # unreachable, and the query itself
    assert not s[1].any()  # a product without lists has no walk: every score ties
    # the walk follows the lists' direction: nothing reaches 0
    assert walk.scores("complement", np.array([1]))[0, 0] == 0.0


def test_structural_heuristics_by_hand() -> None:
    # 0 -> 1, 0 -> 2 bought; 3 -> 1 viewed; 2 -> 4 bought; 4 -> 5 bought (the lists together, as one graph)
    bought = CSR.from_coo(np.array([0, 0, 2, 4]), np.array([1, 2, 4, 5]), N, N)
    viewed = CSR.from_coo(np.array([3]), np.array([1]), N, N)
    snap = products({"ALSO_BOUGHT": bought, "ALSO_VIEWED": viewed})
    cn = CommonNeighbours(snap).scores("complement", np.array([3]))[0]
    assert cn[0] == 1.0 and cn[1] == 0.0 and cn[4] == 0.0  # 0 and 3 share neighbour 1 (undirected)
    aa = AdamicAdar(snap).scores("complement", np.array([3]))[0]
    assert aa[0] == pytest.approx(1 / math.log(2))  # neighbour 1 has degree 2
    paths = PathCounts(snap)
    p = paths.scores("complement", np.array([0]))[0]
    # two steps 0 -> 2 -> 4 (1.0); three steps 0 -> 2 -> 4 -> 5, the only one, breaks the tie of 5 with 3
    assert p[4] == pytest.approx(1.0) and p[5] == pytest.approx(0.5) and p[3] == 0.0
    sub = paths.scores("substitute", np.array([4]))[0]
    assert sub[0] == pytest.approx(1.0)  # 0 -> 2 -> 4 counts for 4 as well: substitutes are symmetric
    assert paths.scores("substitute", np.array([0]))[0][4] == sub[0]


def test_co_occurrence_is_cosine_by_hand() -> None:
    # customer 0 reviewed 0 and 1; customer 1 reviewed 0 and 2; customer 2 reviewed 1
    reviewed = CSR.from_coo(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 2, 1]), 3, N)
    co = CoOccurrence(products({"REVIEWED": reviewed}, customers=3))
    s = co.scores("substitute", np.array([0]))[0]
    # |{c0}| / sqrt(2 * 2) for product 1; |{c1}| / sqrt(2 * 1) for product 2
    assert s[1] == pytest.approx(1 / 2) and s[2] == pytest.approx(1 / math.sqrt(2))
    assert s[3] == 0.0


def test_title_similarity_prefers_shared_words() -> None:
    titles = ["red nail polish", "nail polish remover", "shampoo", "red lipstick", "conditioner", "soap"]
    s = TitleSimilarity(products({}, titles=titles)).scores("substitute", np.array([0]))[0]
    assert s.argsort()[::-1][1] == 1 and s[2] == 0.0


def test_evaluate_layout_determinism_and_report(tmp_path) -> None:
    snap = catalog()
    split = make_split(snap, seed=1, **FRACTIONS)
    scorers = all_baselines(split.train)
    results = evaluate(split, scorers, seed=2)
    assert set(results) == {*RELATIONS, ALL_COMPLEMENTS, DISTINCT}
    for table in (*RELATIONS, ALL_COMPLEMENTS):
        assert set(results[table]) == set(POPULATIONS)
        rel = "complement" if table == ALL_COMPLEMENTS else table
        # the complement table holds pure pairs and filters pure partners (the label rule); complement_all all
        known = known_partners(split, rel, pure=table != ALL_COMPLEMENTS)
        for pop in POPULATIONS:
            pairs = labelled_pairs(split, table, pop)
            assert len(pairs) > 0, (table, pop)
            for scorer in scorers:
                row = results[table][pop][scorer.name]
                # each method ranked this population's pairs, filtered by this table's known partners
                ranked = {m: v for m, v in row.items() if m not in ("direction", "n_direction")}
                assert ranked == rank_metrics(scorer, rel, pairs, known, seed=2), (table, pop, scorer.name)
                assert row["n"] == len(pairs)
    assert set(results[DISTINCT]["warm"]) == {OBSERVED, *(s.name for s in scorers)}
    assert "direction" in results["complement"]["warm"]["random walk"]
    assert "direction" in results["complement"]["cold"][IN_DEGREE]
    # the generator plants substitutes inside their category
    sub = results["substitute"]["warm"]
    assert sub["category popularity"]["ndcg@10"] > sub["popularity"]["ndcg@10"]
    # new products have neither lists nor customers: the walk has nothing to go on
    assert results["complement"]["new"]["random walk"]["auc"] == pytest.approx(0.5)
    assert evaluate(split, scorers, seed=2) == results
    report = write_report(results, tmp_path)
    assert "| random walk |" in report.read_text()
    assert "![complement warm](complement_warm.png)" in report.read_text()
    # the plot draws every method's bars, each in its colour of matplotlib's cycle (a legend swatch alone is less)
    pixels = np.asarray(Image.open(tmp_path / "complement_warm.png").convert("RGB")).reshape(-1, 3)
    for i, scorer in enumerate(scorers):
        colour = np.array(to_rgb(f"C{i}")) * 255
        drawn = (np.abs(pixels - colour) < 2).all(axis=1).sum()
        assert drawn > 500, (scorer.name, drawn)


def test_scorers_return_float32_rows() -> None:
    split = make_split(catalog(), seed=1, **FRACTIONS)
    queries = np.array([0, 5, 9])
    for scorer in all_baselines(split.train):
        for rel in RELATIONS:
            s = scorer.scores(rel, queries)
            assert s.dtype == np.float32 and s.shape == (3, split.train.n("Product")), scorer.name


def test_command_json_without_a_model(tmp_path, capsys) -> None:
    store = LocalStore(tmp_path / "store")
    store.write(synthetic_batches(300, 3000, n_categories=10, seed=0))  # catalog()'s graph, in a real store
    parser = argparse.ArgumentParser()
    evaluate_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        [
            "evaluate",
            "--store",
            f"local:{store.root}",
            "--registry",
            str(tmp_path / "reg"),
            "--json",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert evaluate_command.run(args) == 0
    out = capsys.readouterr()
    results = json.loads(out.out)
    assert "baselines only" in out.err
    # the store's split with the default seed, every baseline on it, as evaluate() ranks them
    split = make_split(catalog(), seed=0)
    want = evaluate(split, all_baselines(split.train))
    assert results["substitute"]["cold"]["title similarity"] == want["substitute"]["cold"]["title similarity"]
    assert results["substitute"]["cold"]["title similarity"]["n"] == len(split.heldout["substitute"]["cold"])
    assert json.loads((tmp_path / "o" / "results.json").read_text()) == results
    assert "| title similarity |" in (tmp_path / "o" / "report.md").read_text()
    saved = Split.load(tmp_path / "o" / "split.npz", catalog())
    assert saved.fingerprint() == split.fingerprint() and saved.seed == 0


def test_aggregate_by_hand() -> None:
    one = {
        "complement": {"warm": {"gnn": {"ndcg@10": 0.2, "n": 10, "auc": float("nan")}, "walk": {"mrr": 0.5}}}
    }
    two = {"complement": {"warm": {"gnn": {"ndcg@10": 0.4, "n": 13, "auc": 0.75}}}}
    out = aggregate([one, two])
    gnn = out["complement"]["warm"]["gnn"]
    assert gnn["ndcg@10"] == pytest.approx(0.3)
    assert gnn["ndcg@10_sd"] == pytest.approx(math.sqrt(0.02))  # sample sd of 0.2, 0.4
    assert gnn["n"] == 12 and "n_sd" not in gnn and gnn["runs"] == 2
    assert gnn["auc"] == 0.75 and math.isnan(gnn["auc_sd"])  # the NaN of a run without pairs is left out
    walk = out["complement"]["warm"]["walk"]  # stepped aside in one run: that run is not counted as zero
    assert walk["mrr"] == 0.5 and walk["runs"] == 1 and math.isnan(walk["mrr_sd"])
    table = tables(out)
    assert "| method | ndcg@10 | mrr | auc | n |" in table
    assert "| gnn | 0.300 ± 0.141 | – | 0.750 | 12 |" in table  # one value: no spread shown
    assert "| walk | – | 0.500 | – | – |" in table
    with pytest.raises(ValueError):
        aggregate([])
