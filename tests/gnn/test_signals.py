"""A catalog without titles, categories or customers: what counts it, what steps aside, and the shapes that stay."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gnn.baselines import CategoryPopularity, TitleSimilarity, baselines
from gnn.evaluate import tables
from gnn.features import FeaturePipeline
from gnn.model_scorer import Prepared
from gnn.pair_features import PAIR_FEATURES
from gnn.signals import Signals, StepAside, model_steps_aside
from graph.snapshot import CSR, Snapshot
from loaders.synthetic import synthetic_snapshot


def bare(snap: Snapshot, titles: bool = True, categories: bool = True, customers: bool = True) -> Snapshot:
    """`snap` with its titles, categories (IN_CATEGORY) or customer interactions taken out."""
    drop = set() if categories else {"IN_CATEGORY", "SUBCATEGORY_OF"}
    drop |= set() if customers else {"REVIEWED", "PURCHASED", "VIEWED"}
    return Snapshot(
        ids=snap.ids,
        rels={t: c for t, c in snap.rels.items() if t not in drop},
        titles=snap.titles if titles else np.full(snap.n("Product"), None, dtype=object),
        prices=snap.prices,
    )


def catalog() -> Snapshot:
    return synthetic_snapshot(200, 1500, n_categories=5, n_customers=100, seed=0)


def test_signals_count_what_the_catalog_has_and_say_what_it_lacks() -> None:
    full = Signals.of(catalog())
    assert (full.products, full.titled, full.categorized) == (200, 200, 200) and full.interactions > 500
    assert all(full.lacks(s) is None for s in ("titles", "categories", "interactions"))
    none = Signals.of(bare(catalog(), titles=False, categories=False, customers=False))
    assert none.lacks("titles") == "no product has a title"
    assert none.lacks("categories") == "no product has a category"
    assert none.lacks("interactions") == "no customer interactions (reviews, purchases, views)"
    # titles without a word TF-IDF could match on are no titles either
    snap = catalog()
    snap.titles = np.array(["-", " ", "a"] + [None] * 197, dtype=object)
    assert Signals.of(snap).lacks("titles") == "no product title has a word of two or more letters"


def test_baselines_without_a_signal_step_aside_and_say_why() -> None:
    fitted, aside = baselines(catalog())
    assert [s.name for s in fitted] == [
        "popularity",
        "category popularity",
        "title similarity",
        "co-occurrence",
        "common neighbours",
        "Adamic-Adar",
        "path counts (2, 3 steps)",
        "random walk",
    ]
    assert aside == []
    fitted, aside = baselines(bare(catalog(), titles=False, categories=False, customers=False))
    assert [s.name for s in fitted] == [
        "popularity",
        "common neighbours",
        "Adamic-Adar",
        "path counts (2, 3 steps)",
        "random walk",
    ]
    assert [str(a) for a in aside] == [
        "category popularity stepped aside: no product has a category",
        "title similarity stepped aside: no product has a title",
        "co-occurrence stepped aside: no customer interactions (reviews, purchases, views)",
    ]
    # one line each, above the tables
    text = tables({}, notes=aside)
    assert text.splitlines()[:3] == [f"- {a}" for a in aside]


def test_title_similarity_and_category_popularity_on_what_is_missing() -> None:
    """Fitted anyway, they do not crash and do not invent a signal: no title scores 0, no category is shared."""
    untitled = TitleSimilarity(bare(catalog(), titles=False))
    s = untitled.scores("substitute", np.array([0, 1]))
    assert s.shape == (2, 200) and s.dtype == np.float32 and not s.any()
    snap = catalog()
    in_category = snap.rels["IN_CATEGORY"]
    # products 0..9 lose their categories: an uncategorized query ranks by popularity alone
    keep = np.repeat(np.arange(200), in_category.degree()) >= 10
    src, dst = in_category.coo()
    snap.rels["IN_CATEGORY"] = CSR.from_coo(src[keep], dst[keep], 200, in_category.n_cols)
    scores = CategoryPopularity(snap).scores("complement", np.array([0]))[0]
    assert scores.max() < 1.0  # no product got the same-category bonus


def test_features_keep_their_shapes_without_titles_categories_or_customers(tmp_path: Path) -> None:
    snap = bare(catalog(), titles=False, categories=False, customers=False)
    pipeline = FeaturePipeline.fit(snap, text_dim=8)
    assert pipeline.text_dim == 8 and pipeline.components.shape == (8, 0)
    prepared = Prepared.of(snap, pipeline)
    assert prepared.text.shape == (200, 8) and not prepared.text.any()
    pipeline.save(tmp_path / "features.npz")
    again = FeaturePipeline.load(tmp_path / "features.npz")
    assert again.text_dim == 8 and len(again.vocab) == 0
    pairs = prepared.pair_features()
    a, b = np.arange(0, 20), np.arange(20, 40)
    for relation, features in PAIR_FEATURES.items():
        f = pairs.pairs(relation, a, b)
        assert f.shape == (20, len(features)) and np.isfinite(f).all()
        names = [feature.name for feature in features]
        for constant in ("title_cos", "same_category", "reviewed_cn"):
            assert not f[:, names.index(constant)].any(), (relation, constant)
    assert [a.what for a in model_steps_aside(pipeline, snap)] == [
        "gnn title features",
        "gnn category features",
        "gnn customer features",
    ]
    # a catalog with titles: the SVD fills the rows the vocabulary allows, zero rows pad the rest
    titled = FeaturePipeline.fit(catalog(), text_dim=500)
    assert titled.text_dim == 500 and 0 < int(np.abs(titled.components).sum(axis=1).astype(bool).sum()) < 500
    assert model_steps_aside(titled, catalog()) == []
    assert str(StepAside("x", "why")) == "x stepped aside: why"
