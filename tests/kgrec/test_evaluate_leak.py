"""`kgrec evaluate` end to end: no held-out pair reaches what the GNN scorer reads.

A tiny model is trained on a LocalStore and `kgrec evaluate` runs on it. The scorer the command builds (kept by a
pass-through wrapper around the command's own ``_gnn_scorer``) is then audited against the split: its message
graph (``GNNScorer.graph``, the HeteroData its embeddings were passed over) and the arrays of its pair features
(``GNNScorer.pairs``: the co-purchase lists and interactions that the 2-hop counts and degrees are computed from)
must hold no held-out pair, in either direction, and no interaction of a new product; the pair features of the
held-out pairs must be the ones the train graph gives. The same audit covers the pair features the command's
learned rivals (logistic regression and boosted trees, :mod:`gnn.pair_learners`) score with.

The audit must be able to fail: the same test runs `kgrec evaluate` handed the full snapshot instead of
``split.train`` (the split the command cuts, with its train graph replaced by the full graph) and asserts that
the audit finds the leak there.
"""

from __future__ import annotations

import dataclasses
import io
import re
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import gnn.split
from gnn.data import popularity
from gnn.model_scorer import GNNScorer
from gnn.pair_features import PAIR_FEATURES, PairFeatures
from gnn.split import Split, make_split
from graph.local_store import LocalStore
from kgrec.cli import main
from kgrec.commands import evaluate as evaluate_command
from loaders.synthetic import synthetic_batches
from tests.gnn.gnn_fixture import tiny_config, write_config


def _keys(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """One int64 per unordered pair {a, b}."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    return np.minimum(a, b) * n + np.maximum(a, b)


def heldout_pairs(split: Split) -> np.ndarray:
    """Every held-out (query, partner) pair of every relation and population, int64 ``[m, 2]``."""
    return np.concatenate([pairs for pops in split.heldout.values() for pairs in pops.values()])


def leaks(scorer: GNNScorer, split: Split) -> list[str]:
    """Where held-out pairs, or interactions of new products, reach what `scorer` read; empty when nowhere."""
    n = split.full.n("Product")
    held = heldout_pairs(split)
    held_keys = np.unique(_keys(held[:, 0], held[:, 1], n))
    found = []
    graph = scorer.graph
    for edge_type in graph.edge_types:
        src_type, name, dst_type = edge_type
        src, dst = graph[edge_type].edge_index.cpu().numpy()
        if src_type == dst_type == "product":
            hits = int(np.isin(_keys(src, dst, n), held_keys).sum())
            if hits:
                found.append(f"message graph {name}: {hits} held-out pairs")
        elif {src_type, dst_type} == {"customer", "product"}:
            products = dst if dst_type == "product" else src
            hits = int(np.isin(products, split.new).sum())
            if hits:
                found.append(f"message graph {name}: {hits} interactions of new products")
    if not np.array_equal(graph["product"].x_pop.cpu().numpy(), popularity(split.train)):
        found.append("message graph: product popularity is not the train graph's")

    return found + pair_feature_leaks(scorer.pairs, split)


def pair_feature_leaks(pairs: PairFeatures, split: Split) -> list[str]:
    """Where held-out pairs, or interactions of new products, reach the arrays of `pairs` or their values."""
    n = split.full.n("Product")
    held = heldout_pairs(split)
    held_keys = np.unique(_keys(held[:, 0], held[:, 1], n))
    found = []
    for name in ("b", "bt", "bs", "v", "vt", "vs"):  # the co-purchase lists, as the 2-hop counts read them
        m = getattr(pairs, name)
        hits = int(np.isin(_keys(m.rows(), m.indices, n), held_keys).sum())
        if hits:
            found.append(f"pair features' list {name}: {hits} held-out pairs")
    hits = int(np.isin(pairs.r.indices, split.new).sum())
    if hits:
        found.append(f"pair features' interactions: {hits} of new products")
    # the values themselves: the 2-hop count a -> x -> b along ALSO_BOUGHT of every held-out complement pair,
    # counted here with scipy over the train graph alone
    src, dst = split.train.rel("ALSO_BOUGHT").coo()
    bought = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    a, b = split.heldout["complement"]["warm"].T
    a = np.concatenate([a, split.heldout["complement"]["cold"][:, 0]])
    b = np.concatenate([b, split.heldout["complement"]["cold"][:, 1]])
    column = [f.name for f in PAIR_FEATURES["complement"]].index("bought_a_x_b")
    want = np.log1p(np.asarray((bought @ bought)[a, b]).ravel())
    got = pairs.pairs("complement", a, b)[:, column]
    if not np.allclose(got, want):
        found.append(
            f"pair features: 2-hop counts of {int((~np.isclose(got, want)).sum())} held-out pairs differ"
        )
    for relation in PAIR_FEATURES:  # and every feature of every held-out pair, as the train graph gives them
        rel_pairs = np.concatenate(list(split.heldout[relation].values()))
        train = PairFeatures(split.train, pairs.tfidf, pairs.category)
        same = np.isclose(
            pairs.pairs(relation, rel_pairs[:, 0], rel_pairs[:, 1]),
            train.pairs(relation, rel_pairs[:, 0], rel_pairs[:, 1]),
        ).all(axis=1)
        if not same.all():
            found.append(
                f"pair features: {int((~same).sum())} held-out {relation} pairs differ from the train's"
            )
    return found


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """(store spec, registry) of a LocalStore with a tiny model trained on it and promoted."""
    root = tmp_path_factory.mktemp("leak")
    store = LocalStore(root / "store")
    store.write(synthetic_batches(600, 6000, n_categories=12, n_customers=300, seed=2))
    store.close()
    spec, registry = f"local:{root / 'store'}", root / "registry"
    config = write_config(root / "tiny.toml", tiny_config())
    out = io.StringIO()
    with redirect_stdout(out):
        argv = ["train", "--store", spec, "--registry", str(registry), "--config", str(config)]
        assert main([*argv, "--promote", "--no-progress"]) == 0, out.getvalue()
    return spec, registry


@pytest.mark.parametrize("handed", ["split.train", "split.full"])
def test_no_heldout_pair_reaches_the_scorer_of_kgrec_evaluate(
    trained: tuple[str, Path], handed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, registry = trained
    built: list[GNNScorer] = []
    splits: list[Split] = []
    gnn_scorer = evaluate_command._gnn_scorer

    def keep(*args: Any) -> GNNScorer | None:  # the command's own scorer, kept for the audit
        scorer = gnn_scorer(*args)
        assert scorer is not None
        built.append(scorer)
        return scorer

    cut = gnn.split.make_split

    def split_of(*args: Any, **kwargs: Any) -> Split:  # the command's own split, kept for the audit
        split = cut(*args, **kwargs)
        if handed == "split.full":  # the bug the audit exists for: evaluation handed the whole graph
            split = dataclasses.replace(split, train=split.full)
        splits.append(split)
        return split

    rivals: list[Any] = []
    learned_rivals = evaluate_command._learned_rivals

    def keep_rivals(
        *args: Any,
    ) -> list[Any]:  # the pair-feature learners the command fits, kept for the audit
        out = learned_rivals(*args)
        rivals.extend(getattr(r, "base", r) for r in out)
        return out

    monkeypatch.setattr(evaluate_command, "_gnn_scorer", keep)
    monkeypatch.setattr(evaluate_command, "_learned_rivals", keep_rivals)
    monkeypatch.setattr(gnn.split, "make_split", split_of)
    out = io.StringIO()
    with redirect_stdout(out):
        assert (
            main(["evaluate", "--store", spec, "--registry", str(registry), "--no-progress", "--ablation"])
            == 0
        )
    # the model was ranked on every table (complement, substitute, complement_all, distinct) and population,
    # beside the two learners on its pair features
    assert out.getvalue().count("| gnn |") == 12
    assert out.getvalue().count("| boosted trees (pair features) |") == 12
    (scorer,), (split,) = built, splits
    assert split.train is not split.full or handed == "split.full"
    # the audit reads the held-out pairs of the split the model trained on (the same arrays as the command's)
    honest = make_split(split.full, seed=split.seed)
    assert honest.fingerprint() == split.fingerprint()
    assert len(heldout_pairs(honest)) > 500
    found = leaks(scorer, honest)
    assert [type(r).__name__ for r in rivals] == ["PairLearner", "PairLearner"]
    rival_found = [f for r in rivals for f in pair_feature_leaks(r.pairs, honest)]
    if handed == "split.train":
        assert found == []
        assert rival_found == []
    else:  # the audit sees the leak, in the message graph and in the pair features alike
        text = "\n".join(found)
        assert re.search(r"message graph also_bought: \d+ held-out pairs", text), text
        assert re.search(r"message graph also_viewed: \d+ held-out pairs", text), text
        assert re.search(r"interactions of new products", text), text
        assert re.search(r"pair features' list b: \d+ held-out pairs", text), text
        assert re.search(r"pair features: 2-hop counts of \d+ held-out pairs differ", text), text
        assert any(re.search(r"pair features' list b: \d+ held-out pairs", f) for f in rival_found), (
            rival_found
        )
