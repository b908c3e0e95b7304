"""`kgrec evaluate --seeds`: one training run per split seed, each scored on its own split, and a table of means
and spreads that are those runs' own figures averaged (checked against `kgrec evaluate --version` of each run)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gnn.registry import Registry
from graph.local_store import LocalStore
from kgrec.cli import main
from loaders.synthetic import synthetic_batches
from tests.gnn.gnn_fixture import tiny_config, write_config


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """(store spec, registry, tiny config) of a small synthetic LocalStore, nothing trained yet."""
    root = tmp_path_factory.mktemp("seeds")
    store = LocalStore(root / "store")
    store.write(synthetic_batches(600, 6000, n_categories=12, n_customers=300, seed=2))
    store.close()
    return f"local:{root / 'store'}", root / "registry", write_config(root / "tiny.toml", tiny_config())


def test_seeds_train_one_run_each_and_report_their_mean_and_spread(catalog: tuple[str, Path, Path]) -> None:
    spec, registry, config = catalog
    base = ["evaluate", "--store", spec, "--registry", str(registry), "--no-progress", "--json"]
    status, out, err = _run([*base, "--seeds", "0,1", "--config", str(config)])
    assert status == 0, err
    results = json.loads(out)
    versions = results.pop("seeds")
    assert sorted(versions) == ["0", "1"]
    runs = Registry(registry)
    assert {runs.manifest(v)["split_seed"] for v in versions.values()} == {0, 1}
    assert runs.promoted() is None  # evaluation's runs are not served

    # each cell is the mean, and its _sd the sample sd, of the runs' own evaluations
    singles: list[dict[str, Any]] = []
    for seed in ("0", "1"):
        status, out, err = _run([*base, "--version", versions[seed]])
        assert status == 0, err
        singles.append(json.loads(out))
    checked = 0
    for table in ("complement", "substitute"):
        for pop in ("warm", "cold", "new"):
            for method in ("gnn", "popularity", "random walk"):
                values = [s[table][pop][method]["ndcg@10"] for s in singles]
                cell = results[table][pop][method]
                assert cell["runs"] == 2
                assert cell["ndcg@10"] == pytest.approx(np.mean(values))
                assert cell["ndcg@10_sd"] == pytest.approx(np.std(values, ddof=1))
                checked += 1
    assert checked == 18
    # two seeds, two splits: the held-out pairs differ, so the spread of some cell is not zero
    assert any(results["complement"][pop]["gnn"]["ndcg@10_sd"] > 0 for pop in ("warm", "cold", "new"))

    # run again: the runs are found in the registry, not trained twice
    before = len(runs.list())
    status, out, err = _run([*base, "--seeds", "0,1", "--config", str(config)])
    assert status == 0, err
    assert len(runs.list()) == before
    assert "reused" in err
    again = json.loads(out)
    assert again.pop("seeds") == versions
    assert again["complement"]["warm"]["gnn"] == results["complement"]["warm"]["gnn"]


def test_seeds_table_shows_mean_and_spread(catalog: tuple[str, Path, Path], tmp_path: Path) -> None:
    spec, registry, config = catalog
    argv = ["evaluate", "--store", spec, "--registry", str(registry), "--no-progress"]
    status, out, err = _run([*argv, "--seeds", "0,1", "--config", str(config), "--out", str(tmp_path)])
    assert status == 0, err
    assert "2 split seeds; mean ± sample sd over them" in out
    assert " ± " in out.split("## complement / warm")[1].split("##")[0]
    report = (tmp_path / "report.md").read_text()
    assert "split seeds and their runs" in report and " ± " in report
    assert {p.name for p in tmp_path.glob("results_seed*.json")} == {
        "results_seed0.json",
        "results_seed1.json",
    }
    assert (tmp_path / "complement_warm.png").stat().st_size > 0


@pytest.mark.parametrize("seeds", ["0,x", "1,1", ","])
def test_a_malformed_seed_list_is_a_usage_error(
    catalog: tuple[str, Path, Path], seeds: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, registry, _ = catalog
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--store", spec, "--registry", str(registry), "--seeds", seeds])
    assert exit_.value.code == 2
    assert "seeds" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra",
    [
        ["--seeds", "0,1", "--version", "20260101-000000-0000"],
        ["--seeds", "0,1", "--baselines-only"],
        ["--config", "tiny.toml"],
        ["--preset", "quick"],
    ],
)
def test_options_that_do_not_go_together_are_refused(
    catalog: tuple[str, Path, Path], extra: list[str]
) -> None:
    spec, registry, _ = catalog
    status, out, err = _run(["evaluate", "--store", spec, "--registry", str(registry), *extra])
    assert (status, out) == (2, "")
    assert "--seeds" in err or "go with --seeds" in err
