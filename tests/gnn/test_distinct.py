"""What a bundle is not (gnn/model_scorer.py Distinct): a trained model's complements never include the anchor's
near-duplicate titles or its own top similar products, on a fixture built to have them as co-purchases."""

from __future__ import annotations

import numpy as np

from gnn.infer import purpose_groups, serving_artifact
from gnn.model_scorer import Distinct
from gnn.split import make_split
from gnn.text import titles_of, word_tfidf
from gnn.train import Trainer
from graph.snapshot import CSR, Snapshot
from tests.gnn.gnn_fixture import small_catalog, tiny_config

ANCHOR = 0
TWINS = [1, 2, 3, 4, 5]  # near-duplicate titles of the anchor, all co-bought with it and with each other
TWIN_TITLES = [
    "seche vite dry fast top nail coat",
    "seche vite dry fast top nail coat two pack",
    "seche vite dry fast top coat 0.5 oz",
    "seche vite dry fast top nail coat kit",
    "seche vite top nail coat dry fast refill",
    "seche vite dry fast nail top coat travel size",
]


def near_duplicate_catalog() -> Snapshot:
    """The small synthetic catalog, with the anchor and five near-identical titles bought together every way
    (pure complements: none of them co-viewed), so that a model without the rule ranks them first."""
    snap = small_catalog()
    n = snap.n("Product")
    titles = np.array(snap.titles, dtype=object)
    for i, title in zip([ANCHOR, *TWINS], TWIN_TITLES, strict=True):
        titles[i] = title
    group = [ANCHOR, *TWINS]
    src, dst = snap.rel("ALSO_BOUGHT").coo()
    extra = np.array([(a, b) for a in group for b in group if a != b], np.int64)
    bought = CSR.from_coo(np.concatenate([src, extra[:, 0]]), np.concatenate([dst, extra[:, 1]]), n, n)
    vs, vd = snap.rel("ALSO_VIEWED").coo()
    keep = ~(np.isin(vs, group) & np.isin(vd, group))
    viewed = CSR.from_coo(vs[keep], vd[keep], n, n)
    rels = {**snap.rels, "ALSO_BOUGHT": bought, "ALSO_VIEWED": viewed}
    return Snapshot(ids=snap.ids, rels=rels, titles=titles, prices=snap.prices)


def test_bundles_leave_out_near_duplicates_and_the_products_own_similar_list() -> None:
    snap = near_duplicate_catalog()
    trainer = Trainer(make_split(snap, seed=0), tiny_config(epochs=3, validate=False))
    trainer.fit(progress=False)
    scorer = trainer.scorer(snap)
    assert scorer.distinct == Distinct()
    q = np.array([ANCHOR, *TWINS])

    def top10(s: np.ndarray) -> np.ndarray:
        s = s.copy()
        s[np.arange(len(q)), q] = -np.inf
        return np.argsort(-s, axis=1, kind="stable")[:, :10]

    words = word_tfidf(titles_of(snap))
    cos = words.row_paths(words.transpose(), q)
    assert (cos[0, TWINS] > 0.5).all()  # the fixture does what it says: the twins are near-duplicates

    def check(s) -> None:
        top = top10(s.scores("complement", q))
        similar = top10(s.scores("substitute", q))
        for i in range(len(q)):
            assert (cos[i, top[i]] <= 0.5).all(), (q[i], top[i])  # no near-duplicate of the anchor
            assert not np.isin(top[i], similar[i]).any(), (q[i], top[i], similar[i])  # nor its similar list

    check(scorer)
    # a model that loves near-duplicates (its raw complement scores put the twins first): still none in a bundle
    model_scores = scorer.raw_scores

    def loves_twins(relation: str, queries: np.ndarray) -> np.ndarray:
        s = model_scores(relation, queries)
        if relation == "complement":
            s[:, [ANCHOR, *TWINS]] += 100.0
        return s

    scorer.raw_scores = loves_twins  # type: ignore[method-assign]
    raw_top = top10(scorer.without_distinct().scores("complement", q))
    assert np.isin(raw_top[0], TWINS).all() if len(raw_top[0]) < 5 else np.isin(TWINS, raw_top[0]).all()
    check(scorer)
    scorer.raw_scores = model_scores  # type: ignore[method-assign]
    # the served artifact holds the same lists, and groups for bundle(diverse)
    art = serving_artifact(scorer, snap, k=10)
    assert art.groups is not None and art.groups.shape == (snap.n("Product"),)
    assert not np.isin(art.neighbors["complement"][ANCHOR], TWINS).any()


def test_purpose_groups_cluster_what_is_alike() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    x = np.repeat(centres, 50, axis=0) + 0.05 * rng.normal(size=(200, 16))
    groups = purpose_groups(x.astype(np.float32), n_groups=4)
    # each planted cluster is one group, and the four are four
    for c in range(4):
        assert len(set(groups[c * 50 : (c + 1) * 50].tolist())) == 1
    assert len(set(groups.tolist())) == 4
