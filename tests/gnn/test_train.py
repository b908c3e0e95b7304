"""Training end to end on a small catalog: it learns, it resumes, it runs mini-batched, and `kgrec train` works."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import gnn.train
from gnn.evaluate import known_partners, rank_metrics
from gnn.registry import load_checkpoint, save_checkpoint
from gnn.split import Split, make_split
from gnn.train import Trainer
from graph.local_store import LocalStore
from kgrec.cli import main
from loaders.synthetic import synthetic_batches
from tests.gnn.gnn_fixture import small_catalog, tiny_config


@pytest.fixture(scope="module")
def split() -> Split:
    return make_split(small_catalog(), seed=0)


def heldout_auc(trainer: Trainer, rel: str) -> float:
    """The AUC of the trainer's model on the split's warm held-out pairs of `rel` (chance is 0.5)."""
    split = trainer.split
    return rank_metrics(trainer.scorer(), rel, split.heldout[rel]["warm"], known_partners(split, rel))["auc"]


def test_training_learns_the_planted_structure(split: Split) -> None:
    trainer = Trainer(split, tiny_config(epochs=4, steps_per_epoch=8, lr=0.02))
    before = {rel: heldout_auc(trainer, rel) for rel in ("complement", "substitute")}
    result = trainer.fit(progress=False)
    assert len(result.history) >= 2
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    for rel, untrained in before.items():
        trained = heldout_auc(trainer, rel)
        assert trained > 0.65 and trained > untrained + 0.05, (rel, untrained, trained)
    assert result.timings["peak_rss_gib"] > 0


def test_minibatch_training_learns_too(split: Split) -> None:
    """Sampled neighbourhoods instead of the whole graph: the model still beats its untrained self."""
    config = tiny_config(
        epochs=3, steps_per_epoch=8, lr=0.02, batch_size=128, num_neighbors=[5, 3], validate=False
    )
    trainer = Trainer(split, config)
    before = {rel: heldout_auc(trainer, rel) for rel in ("complement", "substitute")}
    result = trainer.fit(progress=False)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    for rel, untrained in before.items():
        trained = heldout_auc(trainer, rel)
        assert trained > untrained + 0.05, (rel, untrained, trained)


def test_full_batch_setup_is_booked_before_the_steps_clock(
    split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message graph and examples go to the device inside ``setup_s``: the trainer's second clock read (the
    start of ``steps_s``) comes after the graph's encoder inputs are built, not at the first step."""
    events: list[str] = []
    built = gnn.train.encoder_inputs

    def inputs(*args: Any, **kwargs: Any) -> Any:
        events.append("inputs")
        return built(*args, **kwargs)

    def clock() -> float:
        events.append("clock")
        return float(len(events))

    trainer = Trainer(split, tiny_config(validate=False))
    monkeypatch.setattr(gnn.train, "encoder_inputs", inputs)
    monkeypatch.setattr(gnn.train, "time", SimpleNamespace(perf_counter=clock))
    row = trainer.train_epoch(max_steps=2)
    assert events == ["clock", "inputs", "clock", "clock"]
    assert row["steps"] == 2


def test_checkpoint_and_resume(split: Split, tmp_path: Path) -> None:
    first = Trainer(split, tiny_config(epochs=1, validate=False))
    first.fit(checkpoint=tmp_path / "last.pt", progress=False)
    state, pipeline = load_checkpoint(tmp_path / "last.pt")
    second = Trainer(split, tiny_config(epochs=2, validate=False), pipeline)
    second.load_state(state)
    assert second.epoch == 1
    result = second.fit(progress=False)
    assert [r["epoch"] for r in result.history] == [1, 2]
    other = Trainer(split, tiny_config(hidden=32, validate=False), pipeline)
    with pytest.raises(ValueError, match="hidden"):
        other.load_state(state)
    # saved and loaded again (state and features), it is the same model: the same epoch, the same scores
    save_checkpoint(tmp_path / "again.pt", second.state(), pipeline)
    state, features = load_checkpoint(tmp_path / "again.pt")
    third = Trainer(split, tiny_config(epochs=2, validate=False), features)
    third.load_state(state)
    assert third.epoch == 2
    q = np.arange(0, 600, 50)
    np.testing.assert_allclose(
        third.scorer().scores("complement", q), second.scorer().scores("complement", q), rtol=1e-5, atol=1e-6
    )


def test_train_command_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = LocalStore(tmp_path / "store")
    store.write(synthetic_batches(600, 6000, n_categories=12, n_customers=300, seed=2))
    config = tmp_path / "tiny.toml"
    # JSON scalars and lists are TOML too
    config.write_text("\n".join(f"{k} = {json.dumps(v)}" for k, v in tiny_config().to_dict().items()))
    argv = [
        "train",
        "--store",
        f"local:{store.root}",
        "--registry",
        str(tmp_path / "reg"),
        "--config",
        str(config),
    ]
    assert main([*argv, "--resume"]) == 2  # nothing to resume yet
    assert "nothing to resume" in capsys.readouterr().err
    assert main([*argv, "--epochs", "1", "--promote", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "(promoted)" in out and "COMPLEMENT edges written" in out
    assert store.snapshot().rel("SUBSTITUTE").nnz == 600 * 10
    assert not (tmp_path / "reg" / "checkpoints" / "last.pt").exists()


def test_the_bundle_push_down_is_chosen_on_validation_pairs() -> None:
    """tune_distinct tries each candidate on the validation pairs and keeps the most within tolerance of the best."""
    from tests.gnn.gnn_fixture import small_catalog, tiny_config

    trainer = Trainer(make_split(small_catalog(), seed=0), tiny_config(epochs=1))
    trainer.fit(progress=False)
    assert set(trainer.distinct_tuning) == {10, 3, 0}
    best = max(trainer.distinct_tuning.values())
    chosen = trainer.config.bundle_exclude_similar
    assert trainer.distinct_tuning[chosen] >= 0.98 * best
    assert all(n <= chosen for n, v in trainer.distinct_tuning.items() if v >= 0.98 * best)


def test_validation_reports_direction_beside_the_in_degree_heuristic() -> None:
    """The final validation has the test's complement direction figure, computed on the validation pairs listed
    one way only by the evaluation's own function, and the in-degree heuristic on the same pairs."""
    from gnn.evaluate import direction_accuracy, known_partners, one_way_pairs
    from tests.gnn.gnn_fixture import small_catalog, tiny_config

    trainer = Trainer(make_split(small_catalog(), seed=0), tiny_config(epochs=1))
    result = trainer.fit(progress=False)
    valid = result.valid["complement"]
    assert set(valid) == {"warm", "cold", "new"}
    every = known_partners(trainer.split, "complement")
    for pop, row in valid.items():
        one_way = one_way_pairs(every, trainer.valid_pairs["complement"][pop])
        assert row["n_direction"] == len(one_way) > 0
        assert row["direction"] == direction_accuracy(
            trainer.scorer(trainer.graph), one_way, trainer.graph.n("Product")
        )
        assert 0.0 <= row["direction_in_degree"] <= 1.0
    assert "direction" not in result.valid["substitute"]["warm"]
