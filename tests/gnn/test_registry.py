"""A trained run as an artifact: written, loaded back to the same scores, promoted, and refused when corrupt."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from gnn.data import encoder_inputs
from gnn.infer import learned_edges, promote, write_run
from gnn.model_scorer import Prepared, load_model, load_scorer
from gnn.registry import SERVING_FILE, ArtifactError, Registry
from gnn.split import make_split
from gnn.train import Trainer
from graph.local_store import LocalStore
from kgrec.cli import main
from loaders.synthetic import planted_truth, synthetic_batches
from tests.gnn.gnn_fixture import tiny_config


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    store = LocalStore(tmp_path_factory.mktemp("store"))
    store.write(synthetic_batches(600, 6000, n_categories=12, n_customers=300, seed=1))
    return store


@pytest.fixture(scope="module")
def trained(store: LocalStore, tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, str, Trainer]:
    snap = store.snapshot()
    trainer = Trainer(make_split(snap, seed=0), tiny_config())
    result = trainer.fit(progress=False)
    registry = Registry(tmp_path_factory.mktemp("registry"))
    return registry, write_run(registry, result, snap), trainer


def test_run_round_trip(store: LocalStore, trained: tuple[Registry, str, Trainer]) -> None:
    registry, version, trainer = trained
    manifest = registry.verify(version)
    for key in (
        "config",
        "data_fingerprint",
        "split_seed",
        "split_fingerprint",
        "metrics",
        "timings",
        "code_version",
    ):
        assert key in manifest, key
    assert {"model.pt", "config.json", "features.npz", "split.npz", SERVING_FILE} <= set(manifest["files"])
    art = registry.load_serving(version)
    assert art.neighbors["complement"].shape == (600, 10)
    # the loaded model scores exactly as the trained one, on the same graph
    split = trainer.split
    loaded = load_scorer(registry, version, split.train)
    q = np.arange(0, 600, 37)
    for rel in ("complement", "substitute"):
        np.testing.assert_allclose(
            loaded.scores(rel, q), trainer.scorer().scores(rel, q), rtol=1e-4, atol=1e-5
        )
    # the artifact's lists are the model's exact top-K over the whole graph, best first, never the product itself:
    # recomputed pair by pair from the trained model (dense message passing, one pair's features at a time), not
    # by the block scorer that wrote them
    snap = store.snapshot()
    prepared = Prepared.of(snap, trainer.pipeline)
    model = trainer.model.eval()
    everyone = np.arange(600)
    with torch.no_grad():
        z = model.encoder(**encoder_inputs(prepared.graph()))
        features = prepared.pair_features()
        for rel in ("complement", "substitute"):
            for a in (5, 123, 599):
                f = torch.from_numpy(features.pairs(rel, np.full(600, a), everyone))
                s = model(rel, z[[a] * 600], z, f).numpy()
                s[a] = -np.inf
                listed = art.neighbors[rel][a]
                np.testing.assert_allclose(art.scores[rel][a], s[listed], rtol=1e-4, atol=1e-4)
                np.testing.assert_allclose(art.scores[rel][a], np.sort(s)[::-1][:10], rtol=1e-4, atol=1e-4)
    assert (art.neighbors["complement"] != np.arange(600)[:, None]).all()
    assert (np.diff(art.scores["substitute"], axis=1) <= 1e-6).all()
    # and what it serves finds the planted structure: substitutes from the product's own category (chance: 1/12)
    category = planted_truth(snap).product_category
    assert (category[art.neighbors["substitute"]] == category[:, None]).mean() > 0.3


def test_promote_writes_learned_edges(store: LocalStore, trained: tuple[Registry, str, Trainer]) -> None:
    registry, version, _ = trained
    written = promote(registry, version, store)
    assert registry.promoted() == version
    assert written == {"COMPLEMENT": 6000, "SUBSTITUTE": 6000}
    snap = store.snapshot()
    assert snap.rel("COMPLEMENT").nnz == 6000
    table = learned_edges(registry.load_serving(version), "complement")
    assert table.column("rank").to_pylist()[:10] == list(range(1, 11))


def test_corrupt_artifact_is_refused(trained: tuple[Registry, str, Trainer], tmp_path: Path) -> None:
    registry, version, _ = trained
    copy = Registry(tmp_path / "reg")
    shutil.copytree(registry.runs / version, copy.runs / version)
    path = copy.runs / version / SERVING_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum"):
        copy.promote(version)
    assert copy.promoted() is None
    with pytest.raises(ArtifactError):
        load_model(copy, version)
    (copy.runs / version / "model.pt").write_bytes(b"not a model")
    with pytest.raises(ArtifactError):
        load_model(copy, version)


def test_models_command(trained: tuple[Registry, str, Trainer], capsys: pytest.CaptureFixture[str]) -> None:
    registry, version, _ = trained
    assert main(["models", "--registry", str(registry.root), "promote", version]) == 0
    assert main(["models", "--registry", str(registry.root), "list"]) == 0
    out = capsys.readouterr().out
    assert f"* {version}" in out and "NDCG@10" in out
    assert main(["models", "--registry", str(registry.root), "show", version]) == 0
    assert '"data_fingerprint"' in capsys.readouterr().out
    assert main(["models", "--registry", str(registry.root), "promote", "no-such-run"]) == 1
    assert "no run" in capsys.readouterr().err


def test_score_command(
    store: LocalStore,
    trained: tuple[Registry, str, Trainer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry, version, _ = trained
    ids = store.snapshot().ids["Product"]
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(f"{ids[0]}\t{ids[1]}\nNOPE\t{ids[2]}\njust-one-column\n{ids[3]}\t{ids[0]}\n")
    argv = ["score", "--store", f"local:{store.root}", "--registry", str(registry.root), "--version", version]
    assert main([*argv, "--relation", "complement", str(pairs)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [[ids[0], ids[1]], [ids[3], ids[0]]]
    assert all(np.isfinite(float(line.split("\t")[2])) for line in lines)
    assert "line 2: unknown product NOPE" in captured.err
    assert "line 3:" in captured.err
