"""The serving index in-process: artifacts in any row order, the observed fallback, sessions' bounds."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.catalog import Catalog, Filter
from api.index import diversify, model_index, observed_index
from api.rules import RuleSet
from api.sessions import Seeds, SessionStore, recommend
from gnn.registry import ArtifactError
from tests.api import fixture_graph as fg


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return Catalog(fg.write_store(tmp_path_factory.mktemp("store")).snapshot())


def names(catalog: Catalog, positions: np.ndarray) -> list[str]:
    return [str(catalog.ids[p]) for p in positions]


def test_artifact_rows_in_another_order_map_onto_the_catalog(catalog: Catalog) -> None:
    art = fg.artifact()
    perm = np.random.default_rng(0).permutation(len(art.product_ids))
    inverse = np.argsort(perm)
    art.product_ids = art.product_ids[perm]
    for rel in ("complement", "substitute"):
        idx = art.neighbors[rel][perm]
        art.neighbors[rel] = np.where(idx >= 0, inverse[np.maximum(idx, 0)], -1).astype(np.int32)
        art.scores[rel] = art.scores[rel][perm]
    art.embeddings = art.embeddings[perm]
    index = model_index("shuffled", art, catalog)
    c00 = catalog.position["C00"]
    assert (
        names(catalog, index.related(catalog, "complement", c00, 5).positions)
        == fg.model_lists()["complement"]["C00"]
    )
    assert np.allclose(np.linalg.norm(index.embeddings, axis=1), 1.0)


def test_smoke_test_passes_a_good_index_and_refuses_one_that_cannot_answer(catalog: Catalog) -> None:
    index = model_index("good", fg.artifact(), catalog)
    index.smoke_test(catalog)  # raising is how it refuses
    index.embeddings[:] = np.inf  # what validation refuses up front: the smoke test catches it on its own too
    with pytest.raises(ArtifactError, match="embedding similarity is not finite"):
        index.smoke_test(catalog)


def test_artifact_with_unknown_products_is_refused(catalog: Catalog) -> None:
    art = fg.artifact()
    art.product_ids = art.product_ids.copy()
    art.product_ids[3] = "ZZZ"
    with pytest.raises(ArtifactError, match="1 of 40 product ids are not in the catalog"):
        model_index("bad", art, catalog)


def test_observed_index_ranks_in_list_order(catalog: Catalog) -> None:
    index = observed_index(catalog.snapshot, dim=8)
    c00 = catalog.position["C00"]
    ranked = index.related(catalog, "complement", c00, 10)
    assert names(catalog, ranked.positions) == fg.also_bought()["C00"]
    assert ranked.scores.tolist() == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    # same-category products share neighbourhoods, so their projections are closer than across categories
    e = index.embeddings
    same = e[catalog.position["C00"]] @ e[catalog.position["C01"]]
    other = e[catalog.position["C00"]] @ e[catalog.position["B05"]]
    assert same > other
    assert np.array_equal(e, observed_index(catalog.snapshot, dim=8).embeddings)  # deterministic


def test_pins_blocks_and_filters(catalog: Catalog) -> None:
    index = observed_index(catalog.snapshot, dim=8)
    c00, pos = catalog.position["C00"], catalog.position
    blocked = np.zeros(catalog.n, dtype=bool)
    blocked[pos["L01"]] = True
    ranked = index.related(
        catalog,
        "complement",
        c00,
        10,
        pins=(pos["B09"],),
        blocked=blocked,
        blocked_pairs=np.asarray([pos["M00"]]),
        keep=Filter(exclude=np.asarray([pos["L02"]])),
    )
    assert names(catalog, ranked.positions) == ["B09", "L00", "B00"]
    assert ranked.pinned.tolist() == [True, False, False]


def test_session_recommendations_exclude_seeds_and_fill_with_popular(catalog: Catalog) -> None:
    index = observed_index(catalog.snapshot, dim=8)
    seeds = Seeds.of_history(np.asarray([catalog.position["B03"]]))
    none_blocked = RuleSet.empty(catalog.n).blocked["session"]
    ranked = recommend(catalog, index, seeds, 5, none_blocked, None)
    got = names(catalog, ranked.positions)
    assert got[0] == "C03" and "B03" not in got and len(got) == 5
    assert ranked.seed.tolist()[0] == 0 and ranked.seed.tolist()[-1] == -1  # the tail is popular fill-in


def test_session_store_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    store = SessionStore(max_sessions=2, ttl_s=60)
    for s in ("a", "b", "c"):
        store.track(s, 1, "VIEW", None)
    assert len(store) == 2 and store.get("a") is None  # least recently used went first
    store.track("b", 2, "CART", "U1")
    store.track("b", 2, "PURCHASE", None)
    b = store.get("b")
    assert b is not None and b.cart == set() and b.purchased == {2} and b.customer == "U1"
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + 61)
    assert store.get("b") is None  # expired


def test_seeds_keep_the_strongest_event_of_a_repeated_product() -> None:
    store = SessionStore(10, 60)
    for pos, kind in ((1, "VIEW"), (2, "VIEW"), (1, "CART")):
        s = store.track("s", pos, kind, None)
    seeds = Seeds.of_session(s, recent=10)
    assert seeds.positions.tolist() == [1, 2]
    assert seeds.verbs == ("added to your cart", "viewed")


@settings(max_examples=200, deadline=None)
@given(
    groups=st.lists(st.integers(-1, 6), max_size=40),
    n_fixed=st.integers(0, 5),
    k=st.one_of(st.none(), st.integers(1, 45)),
)
def test_diversify_takes_each_groups_best_first_then_the_rest_by_rank(groups, n_fixed, k):
    """The order bundle(diverse: true) uses: fixed (pinned) entries stay, then the first of each group in rank
    order, then everything else in rank order; with k, the first k of exactly that order."""
    n_fixed = min(n_fixed, len(groups))
    seen: set[int] = set()
    firsts, rest = [], []
    for i in range(n_fixed, len(groups)):
        (rest if groups[i] in seen else firsts).append(i)
        seen.add(groups[i])
    want = list(range(n_fixed)) + firsts + rest
    got = diversify(np.asarray(groups, dtype=np.int64), n_fixed, k).tolist()
    assert got == (want if k is None else want[:k])
