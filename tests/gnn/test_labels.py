"""The label rule (gnn/labels.py): a pair bought together and viewed instead is a substitute, not a complement,
in training, in the evaluation's ground truth and in the known partners both filter with."""

from __future__ import annotations

import numpy as np
import pytest

from gnn.evaluate import ALL_COMPLEMENTS, evaluate, known_partners, labelled_pairs
from gnn.labels import complement_labels, pure_mask
from gnn.objective import episode
from gnn.split import POPULATIONS, Split
from graph.schema import RELATIONS
from graph.snapshot import CSR, Snapshot

N = 8


def snapshot() -> Snapshot:
    """0 -> 1 bought (pure); 0 -> 2 bought and 0 -> 2 viewed; 0 -> 3 bought and 3 -> 0 viewed (reversed);
    4 -> 5 viewed only; 6 -> 7 bought (pure)."""
    bought = CSR.from_coo(np.array([0, 0, 0, 6]), np.array([1, 2, 3, 7]), N, N)
    viewed = CSR.from_coo(np.array([0, 3, 4]), np.array([2, 0, 5]), N, N)
    return Snapshot(
        ids={"Product": np.array([f"p{i}" for i in range(N)], dtype=object)},
        rels={"ALSO_BOUGHT": bought, "ALSO_VIEWED": viewed},
    )


def test_a_pair_in_both_lists_is_a_substitute_not_a_complement() -> None:
    snap = snapshot()
    src, dst = complement_labels(snap)
    # 0 -> 2 (same direction) and 0 -> 3 (viewed the other way) are out; the pure ones stay
    assert sorted(zip(src.tolist(), dst.tolist(), strict=True)) == [(0, 1), (6, 7)]
    assert pure_mask(snap, np.array([0, 0, 0, 2, 3]), np.array([1, 2, 3, 0, 0])).tolist() == [
        True,
        False,
        False,
        False,
        False,
    ]


def held_out_split() -> Split:
    """Every co-purchase pair of query 0 held out (warm), the rest kept."""
    snap = snapshot()
    empty = np.empty((0, 2), np.int64)
    heldout = {rel: {pop: empty for pop in POPULATIONS} for rel in RELATIONS}
    heldout["complement"]["warm"] = np.array([[0, 1], [0, 2], [0, 3]])
    heldout["substitute"]["warm"] = np.array([[0, 2]])
    train = Snapshot(
        ids=snap.ids,
        rels={
            "ALSO_BOUGHT": CSR.from_coo(np.array([6]), np.array([7]), N, N),
            "ALSO_VIEWED": CSR.from_coo(np.array([4]), np.array([5]), N, N),
        },
    )
    return Split(
        train=train,
        heldout=heldout,
        valid={rel: empty for rel in RELATIONS},
        cold=np.empty(0, np.int64),
        new=np.empty(0, np.int64),
        full=snap,
    )


class Fixed:
    name = "fixed"

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = matrix.astype(np.float32)

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        return self.matrix[queries]


def test_the_evaluation_scores_pure_pairs_and_ranks_substitutes_as_wrong_answers() -> None:
    split = held_out_split()
    assert labelled_pairs(split, "complement", "warm").tolist() == [[0, 1]]
    assert labelled_pairs(split, ALL_COMPLEMENTS, "warm").tolist() == [[0, 1], [0, 2], [0, 3]]
    assert labelled_pairs(split, "substitute", "warm").tolist() == [[0, 2]]
    # the pure filter lets 2 and 3 compete with 1; the all-pairs one filters them as true partners
    assert known_partners(split, "complement", pure=True)[0].indices.tolist() == [0, 1]
    assert sorted(known_partners(split, "complement")[0].indices.tolist()) == [0, 1, 2, 3]
    # a scorer that puts the substitutes 2 and 3 above the pure partner 1
    m = np.zeros((N, N))
    m[0, [2, 3, 1]] = [3.0, 2.0, 1.0]
    results = evaluate(split, [Fixed(m)])
    pure = results["complement"]["warm"]["fixed"]
    every = results[ALL_COMPLEMENTS]["warm"]["fixed"]
    assert pure["n"] == 1 and pure["mrr"] == pytest.approx(
        1 / 3
    )  # rank 3: both substitutes above it count against it
    assert every["n"] == 3 and every["mrr"] == pytest.approx(
        1.0
    )  # each held-out pair ranks first among the unfiltered


def test_training_supervises_pure_pairs_and_lets_substitutes_be_negatives() -> None:
    snap = snapshot()
    ep = episode(snap, np.random.default_rng(0), warm=0.0, cold=1.0, new=0.0, max_positives=100)
    a, b = ep.supervision["complement"]
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    assert pairs <= {(0, 1), (6, 7)} and pairs  # never (0, 2) or (0, 3)
    known = ep.known["complement"]
    assert known.lookup(np.array([0, 0, 0]), np.array([1, 2, 3])).tolist() == [1, 0, 0]
    sa, sb = ep.supervision["substitute"]
    assert (0, 2) in set(zip(sa.tolist(), sb.tolist(), strict=True)) or (3, 0) in set(
        zip(sa.tolist(), sb.tolist(), strict=True)
    )
