"""The held-out protocol of gnn/split.py on a small random catalog: nothing held out leaks into the train graph."""

from __future__ import annotations

import numpy as np
import pytest

from gnn.split import POPULATIONS, Split, make_split
from graph.schema import CO_PURCHASE_TYPES, RELATIONS
from graph.snapshot import CSR, Snapshot

N_PRODUCTS, N_CUSTOMERS, N_CATEGORIES = 200, 120, 5
FRACTIONS = {"warm_frac": 0.2, "cold_frac": 0.1, "new_frac": 0.1, "valid_frac": 0.1}


def catalog(seed: int = 7) -> Snapshot:
    """Products listing 2-7 others in ALSO_BOUGHT; ALSO_VIEWED shares half of them (pairs in both lists)."""
    rng = np.random.default_rng(seed)
    n = N_PRODUCTS
    src = np.repeat(np.arange(n), rng.integers(2, 8, n))
    dst = (src + rng.integers(1, n, len(src))) % n  # never a self-loop
    pairs = np.unique(np.stack([src, dst], 1), axis=0)
    shared = pairs[rng.random(len(pairs)) < 0.5]
    extra_src = rng.integers(0, n, 150)
    extra = np.stack([extra_src, (extra_src + rng.integers(1, n, 150)) % n], 1)
    viewed = np.unique(np.concatenate([shared, extra]), axis=0)
    customers = rng.integers(0, N_CUSTOMERS, 900)
    reviewed = np.unique(np.stack([customers, rng.integers(0, n, 900)], 1), axis=0)
    return Snapshot(
        ids={
            "Product": np.array([f"p{i}" for i in range(n)], dtype=object),
            "Customer": np.array([f"c{i}" for i in range(N_CUSTOMERS)], dtype=object),
            "Category": np.array([f"k{i}" for i in range(N_CATEGORIES)], dtype=object),
            "Brand": np.empty(0, dtype=object),
        },
        rels={
            "ALSO_BOUGHT": CSR.from_coo(pairs[:, 0], pairs[:, 1], n, n),
            "ALSO_VIEWED": CSR.from_coo(viewed[:, 0], viewed[:, 1], n, n),
            "REVIEWED": CSR.from_coo(reviewed[:, 0], reviewed[:, 1], N_CUSTOMERS, n),
            "IN_CATEGORY": CSR.from_coo(np.arange(n), np.arange(n) % N_CATEGORIES, n, N_CATEGORIES),
            "COMPLEMENT": CSR.from_coo(pairs[:, 0], pairs[:, 1], n, n),
        },
        titles=np.array([f"product {i}" for i in range(n)], dtype=object),
    )


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    return catalog()


@pytest.fixture(scope="module")
def split(snap: Snapshot) -> Split:
    return make_split(snap, seed=3, **FRACTIONS)


def _keys(csr: CSR, n: int) -> set[int]:
    src, dst = csr.coo()
    return set((np.minimum(src, dst) * n + np.maximum(src, dst)).tolist())


def _all_heldout(split: Split) -> np.ndarray:
    arrays = [a for pops in split.heldout.values() for a in pops.values()] + list(split.valid.values())
    return np.concatenate(arrays)


def test_no_held_out_pair_in_train_in_either_direction(snap: Snapshot, split: Split) -> None:
    held = _all_heldout(split)
    assert len(held) > 0
    for type_ in CO_PURCHASE_TYPES:
        train = _keys(split.train.rel(type_), N_PRODUCTS)
        for a, b in held.tolist():
            assert min(a, b) * N_PRODUCTS + max(a, b) not in train, (type_, a, b)


def test_held_out_pairs_are_real_list_entries(snap: Snapshot, split: Split) -> None:
    for rel, type_ in (("complement", "ALSO_BOUGHT"), ("substitute", "ALSO_VIEWED")):
        src, dst = snap.rel(type_).coo()
        listed = set(zip(src.tolist(), dst.tolist(), strict=True))
        for pairs in [*split.heldout[rel].values(), split.valid[rel]]:
            assert pairs.dtype == np.int64 and pairs.shape[1] == 2
            assert set(map(tuple, pairs.tolist())) <= listed


def test_same_node_id_space_and_learned_edges_dropped(snap: Snapshot, split: Split) -> None:
    for label in snap.ids:
        assert split.train.n(label) == snap.n(label)
    assert "COMPLEMENT" not in split.train.rels
    assert split.train.rel("IN_CATEGORY").nnz == snap.rel("IN_CATEGORY").nnz


def test_populations_are_disjoint_and_sized(split: Split) -> None:
    warm = {rel: set(split.heldout[rel]["warm"][:, 0].tolist()) for rel in RELATIONS}
    valid = {rel: set(split.valid[rel][:, 0].tolist()) for rel in RELATIONS}
    cold, new = set(split.cold.tolist()), set(split.new.tolist())
    assert len(cold) == len(new) == 20
    assert not cold & new
    for rel in RELATIONS:
        assert warm[rel] and valid[rel]
        assert not warm[rel] & (cold | new | valid[rel])
        assert not valid[rel] & (cold | new)


def test_cold_and_new_lose_every_copurchase_pair(snap: Snapshot, split: Split) -> None:
    gone = np.concatenate([split.cold, split.new])
    for type_ in CO_PURCHASE_TYPES:
        src, dst = split.train.rel(type_).coo()
        assert not np.isin(src, gone).any() and not np.isin(dst, gone).any()
    # every list entry of a cold or new query is one of its held-out pairs
    for rel, type_ in (("complement", "ALSO_BOUGHT"), ("substitute", "ALSO_VIEWED")):
        for pop, products in (("cold", split.cold), ("new", split.new)):
            full = snap.rel(type_)
            expected = sum(len(full.row(p)) for p in products)
            assert len(split.heldout[rel][pop]) == expected
            assert np.isin(split.heldout[rel][pop][:, 0], products).all()


def test_new_products_have_title_and_category_but_no_reviews(snap: Snapshot, split: Split) -> None:
    reviewed_train = split.train.rel("REVIEWED").indices
    assert not np.isin(reviewed_train, split.new).any()
    assert np.isin(snap.rel("REVIEWED").indices, split.new).any()  # the test means something
    category = split.train.product_category()
    assert (category[split.new] >= 0).all()
    assert all(split.train.titles[p] for p in split.new)


def test_cold_products_keep_their_reviews(snap: Snapshot, split: Split) -> None:
    full = np.bincount(snap.rel("REVIEWED").indices, minlength=N_PRODUCTS)
    train = np.bincount(split.train.rel("REVIEWED").indices, minlength=N_PRODUCTS)
    assert (train[split.cold] == full[split.cold]).all()
    assert full[split.cold].sum() > 0


def test_warm_products_keep_partners(split: Split) -> None:
    for rel, type_ in (("complement", "ALSO_BOUGHT"), ("substitute", "ALSO_VIEWED")):
        degree = split.train.rel(type_).degree()
        queries = np.unique(split.heldout[rel]["warm"][:, 0])
        # one partner per relation is held out of lists of two or more; a warm product loses its last one only
        # when a pair in both lists, or its reverse drawn by another product, takes it as well
        assert (degree[queries] > 0).mean() >= 0.9


def test_pairs_in_both_lists_count_in_both_relations(snap: Snapshot, split: Split) -> None:
    viewed = snap.rel("ALSO_VIEWED")
    src, dst = viewed.coo()
    viewed_pairs = set(zip(src.tolist(), dst.tolist(), strict=True))
    sub_warm = set(map(tuple, split.heldout["substitute"]["warm"].tolist()))
    both = [p for p in map(tuple, split.heldout["complement"]["warm"].tolist()) if p in viewed_pairs]
    assert both, "the fixture must hold out some pairs listed in both lists"
    assert set(both) <= sub_warm


def test_determinism_by_seed(snap: Snapshot, split: Split) -> None:
    again = make_split(snap, seed=3, **FRACTIONS)
    assert again.fingerprint() == split.fingerprint()
    for name, arr in split.arrays().items():
        np.testing.assert_array_equal(again.arrays()[name], arr)
    assert make_split(snap, seed=4, **FRACTIONS).fingerprint() != split.fingerprint()


def test_save_load_round_trip(tmp_path, snap: Snapshot, split: Split) -> None:
    path = tmp_path / "split.npz"
    split.save(path)
    loaded = Split.load(path, snap)
    assert loaded.fingerprint() == split.fingerprint()
    assert loaded.seed == 3
    for rel in RELATIONS:
        for pop in POPULATIONS:
            np.testing.assert_array_equal(loaded.heldout[rel][pop], split.heldout[rel][pop])
    for type_, csr in split.train.rels.items():
        np.testing.assert_array_equal(loaded.train.rel(type_).indices, csr.indices)
        np.testing.assert_array_equal(loaded.train.rel(type_).indptr, csr.indptr)


def test_load_refuses_another_catalog(tmp_path, split: Split) -> None:
    path = tmp_path / "split.npz"
    split.save(path)
    other = catalog()
    other.ids["Product"] = np.array([f"q{i}" for i in range(N_PRODUCTS)], dtype=object)
    with pytest.raises(ValueError, match="another catalog"):
        Split.load(path, other)
