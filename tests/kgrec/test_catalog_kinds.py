"""Every stage on a catalog that lacks a signal: no titles, no reviews, no categories, or a bare edge list.

Each kind is a real store (tests/gnn/gnn_fixture.py :func:`write_catalog`: the planted synthetic catalog with the
signal taken out, the edge list loaded by ``kgrec load --edges``), on which a tiny model is trained with
``kgrec train`` and promoted with ``kgrec models promote``; then ``kgrec evaluate`` (with the model and without),
``kgrec score``, ``kgrec candidates`` and ``kgrec serve`` run on it. What needs the missing signal steps aside
and says so in one line; nothing prints a stack trace. The real Cell Phones catalog (no titles) runs the same way
in the ``slow`` test at the end (the ``cellphones`` fixture of tests/conftest.py).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from gnn.registry import Registry
from gnn.split import make_split
from graph.walks import load_candidates
from kgrec.cli import main
from kgrec.commands import demo
from kgrec.options import open_snapshot
from loaders.synthetic import synthetic_snapshot
from tests.api.server import Server, free_port, stop_server, wait_ready
from tests.gnn.gnn_fixture import KINDS, LACKS, tiny_config, write_catalog, write_config

ROOT = Path(__file__).resolve().parents[2]

# what steps aside when a signal is missing: the baseline, and the model's features (gnn/signals.py)
BASELINE_ASIDE = {
    "titles": "title similarity stepped aside: no product has a title",
    "categories": "category popularity stepped aside: no product has a category",
    "interactions": "co-occurrence stepped aside: no customer interactions",
}
MODEL_ASIDE = {
    "titles": "gnn title features stepped aside: no product has a title",
    "categories": "gnn category features stepped aside: no product has a category",
    "interactions": "gnn customer features stepped aside: no customer interactions",
}
BASELINE_OF = {
    "titles": "title similarity",
    "categories": "category popularity",
    "interactions": "co-occurrence",
}


@dataclass(frozen=True)
class Catalog:
    """One kind of catalog in a store, with a tiny model trained on it and promoted."""

    kind: str
    root: Path
    store: str
    registry: Path
    version: str
    train_out: str


def run(*argv: str) -> tuple[int, str]:
    """`kgrec ARGV` in this process (stdout captured; stderr goes to pytest's capture)."""
    out = io.StringIO()
    with redirect_stdout(out):
        status = main(list(argv))
    return status, out.getvalue()


@pytest.fixture(scope="module", params=KINDS)
def catalog(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    kind = request.param
    root = tmp_path_factory.mktemp(kind.replace(" ", "-"))
    store = write_catalog(kind, root)
    config = write_config(root / "tiny.toml", tiny_config(epochs=4, steps_per_epoch=8, lr=0.02))
    registry = root / "registry"
    status, out = run(
        "train", "--store", store, "--registry", str(registry), "--config", str(config), "--no-progress"
    )
    assert status == 0, out
    version = re.search(r"^run (\S+) in ", out, flags=re.M)
    assert version is not None, out
    status, promoted = run("models", "promote", version[1], "--registry", str(registry), "--store", store)
    assert status == 0 and f"promoted {version[1]}" in promoted, promoted
    return Catalog(kind, root, store, registry, version[1], out)


def test_train_says_which_features_stepped_aside(catalog: Catalog) -> None:
    lacks = LACKS[catalog.kind]
    for signal, line in MODEL_ASIDE.items():
        assert (line in catalog.train_out) == (signal in lacks), (catalog.kind, signal, catalog.train_out)
    manifest = Registry(catalog.registry).manifest(catalog.version)
    assert len(manifest["stepped_aside"]) == len(lacks)
    # one model class with the configured shapes on every catalog: the text block is there, zero or not
    config = json.loads((catalog.registry / "runs" / catalog.version / "config.json").read_text())
    with np.load(catalog.registry / "runs" / catalog.version / "features.npz") as features:
        assert features["components"].shape[0] == config["text_dim"] == 8
        assert (features["components"].size == 0) == ("titles" in lacks)


def test_quick_preset_trains_with_the_default_shapes(catalog: Catalog) -> None:
    """`--preset quick` (the demo's; the default widths: a 64-wide text block, zero without titles), one epoch."""
    registry = catalog.root / "quick"
    argv = [
        "train",
        "--store",
        catalog.store,
        "--registry",
        str(registry),
        "--preset",
        "quick",
        "--epochs",
        "1",
    ]
    status, out = run(*argv, "--no-progress")
    assert status == 0, out
    for signal in LACKS[catalog.kind]:
        assert MODEL_ASIDE[signal] in out
    (version,) = [m["version"] for m in Registry(registry).list()]
    with np.load(registry / "runs" / version / "features.npz") as features:
        assert features["components"].shape[0] == 64


def test_evaluate_ranks_with_the_model_and_says_what_stepped_aside(
    catalog: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = catalog.root / "eval"
    argv = ["evaluate", "--store", catalog.store, "--registry", str(catalog.registry), "--no-progress"]
    status, table = run(*argv, "--out", str(out_dir))
    assert status == 0
    assert "Traceback" not in capsys.readouterr().err
    lacks = LACKS[catalog.kind]
    report = (out_dir / "report.md").read_text()
    for signal in BASELINE_ASIDE:
        for line in (BASELINE_ASIDE[signal], MODEL_ASIDE[signal]):
            assert (line in table) == (signal in lacks), (catalog.kind, line)
            assert (line in report) == (signal in lacks), (catalog.kind, line)
        # a baseline that stepped aside is no row of the table
        assert (f"| {BASELINE_OF[signal]} |" in table) == (signal not in lacks)
    # complement, substitute, complement_all and distinct, for three populations each
    assert table.count("| gnn |") == 12 and table.count("| popularity |") == 12

    results = json.loads((out_dir / "results.json").read_text())
    for relation, pops in results.items():
        for pop, methods in pops.items():
            for method, row in methods.items():
                for metric, value in row.items():
                    if metric == "near_dup@10" and "titles" in lacks:  # near-duplicate titles need titles
                        assert value is None and row["n_titled"] == 0
                        continue
                    assert isinstance(value, int | float) and math.isfinite(value), (
                        relation,
                        pop,
                        method,
                        metric,
                    )
    # the planted structure survives the missing signal: the model beats popularity on warm pairs, and chance
    for relation in ("complement", "substitute"):
        gnn, popularity = results[relation]["warm"]["gnn"], results[relation]["warm"]["popularity"]
        assert gnn["ndcg@10"] > popularity["ndcg@10"], (catalog.kind, relation, gnn, popularity)
        assert gnn["auc"] > 0.65, (catalog.kind, relation, gnn)
    assert (
        results["substitute"]["warm"]["gnn"]["auc"] > results["substitute"]["warm"]["popularity"]["auc"] + 0.1
    )

    # without a model: the baselines, with the same lines for those that stepped aside
    status, baselines = run(*argv, "--baselines-only")
    assert status == 0 and "| gnn |" not in baselines
    for signal in lacks:
        assert BASELINE_ASIDE[signal] in baselines and MODEL_ASIDE[signal] not in baselines
    # with --json, stdout is the JSON alone and the lines go to stderr
    capsys.readouterr()
    status, printed = run(*argv, "--baselines-only", "--json")
    assert status == 0 and set(json.loads(printed)) == {
        "complement",
        "substitute",
        "complement_all",
        "distinct",
    }
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if "stepped aside" in line]) == len(lacks), err
    assert all(f"kgrec evaluate: {BASELINE_ASIDE[s]}" in err for s in lacks), err


def test_score_prints_a_finite_score_per_pair(catalog: Catalog) -> None:
    with open_snapshot(catalog.store) as snap:
        split = make_split(snap, seed=0)
    ids = snap.ids["Product"]
    pairs = split.heldout["complement"]["warm"][:20]
    tsv = catalog.root / "pairs.tsv"
    tsv.write_text("".join(f"{ids[a]}\t{ids[b]}\n" for a, b in pairs))
    for relation in ("complement", "substitute"):
        status, out = run(
            "score",
            "--store",
            catalog.store,
            "--registry",
            str(catalog.registry),
            "--relation",
            relation,
            str(tsv),
        )
        assert status == 0
        rows = [line.split("\t") for line in out.splitlines()]
        assert [(a, b) for a, b, _ in rows] == [(ids[a], ids[b]) for a, b in pairs]
        scores = np.array([float(s) for _, _, s in rows])
        assert np.isfinite(scores).all() and len(np.unique(scores)) > 1, scores


def test_candidates_walk_whatever_graph_there_is(catalog: Catalog) -> None:
    out = catalog.root / "candidates.npz"
    for relation in ("complement", "substitute"):
        argv = ["candidates", "--store", catalog.store, "--relation", relation, "--out", str(out)]
        status, text = run(*argv, "--k", "10", "--steps", "300", "--backend", "numpy", "--no-progress")
        assert status == 0, text
        result, product_ids, meta = load_candidates(out)
        assert (
            len(product_ids) == 600 and result.candidates.shape == (600, 10) and meta["relation"] == relation
        )
        # almost every product lists or is listed beside another, so its walk finds something
        assert (result.candidates[:, 0] >= 0).mean() > 0.9, (result.candidates[:, 0] >= 0).mean()


@pytest.fixture
def server(catalog: Catalog) -> Iterator[Server]:
    """`kgrec serve` (a real process) over the catalog's store and registry, no API keys: anonymous reads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGREC_")}
    port = free_port()
    log = catalog.root / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "kgrec",
        "serve",
        "--store",
        catalog.store,
        "--registry",
        str(catalog.registry),
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*cmd, "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    s = Server(f"http://127.0.0.1:{port}", catalog.root / "store", Registry(catalog.registry), process, log)
    try:
        wait_ready(s)
        yield s
    finally:
        assert stop_server(s) == 0, log.read_text()


QUERY = """query Q($id: ID!) {
  product(id: $id) { id title }
  bundle(productId: $id, k: 5) { score reason product { id title } }
  similar(productId: $id, k: 5) { score reason product { id title } }
}"""


def test_serve_answers_bundle_and_similar_from_the_model(catalog: Catalog, server: Server) -> None:
    ready = httpx.get(server.url + "/readyz", timeout=5).json()
    assert ready["model"]["version"] == catalog.version
    data = server.data(QUERY, {"id": "P0000007"})
    assert data["product"]["id"] == "P0000007"
    assert (data["product"]["title"] is None) == ("titles" in LACKS[catalog.kind])
    for field in ("bundle", "similar"):
        answers = data[field]
        assert len(answers) == 5, (field, answers)
        assert all(a["reason"] and math.isfinite(a["score"]) for a in answers), answers
        assert "P0000007" not in [a["product"]["id"] for a in answers]
    assert "Traceback" not in server.log.read_text()


def test_demo_finds_2018_file_names_and_shows_products_without_titles(tmp_path: Path) -> None:
    """`kgrec demo --data` on the 2018 layout (Cell Phones: ``<Category>_5.json.gz`` reviews, no titles)."""
    for name in ("meta_Cell_Phones.json.gz", "Cell_Phones_5.json.gz"):
        (tmp_path / name).write_bytes(b"")
    assert demo._files(tmp_path) == (
        tmp_path / "meta_Cell_Phones.json.gz",
        tmp_path / "Cell_Phones_5.json.gz",
    )
    snap = synthetic_snapshot(100, 600, n_categories=4, n_customers=50, seed=0)
    snap.titles = np.full(100, None, dtype=object)
    most = demo._most_reviewed(snap, np.ones(100, dtype=bool))
    assert most == snap.ids["Product"][np.bincount(snap.rel("REVIEWED").indices, minlength=100).argmax()]
    assert demo._title(snap, most) == "(no title)" and demo._quoted_title(snap, most) == ""


def kgrec(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kgrec", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


@pytest.mark.slow
def test_cell_phones_loads_trains_and_evaluates_without_titles(tmp_path: Path, cellphones: Path) -> None:
    """The real catalog without titles, through the `kgrec` command: load, one quick-preset epoch, evaluate."""
    store, registry = f"local:{tmp_path / 'store'}", str(tmp_path / "registry")
    load = kgrec(
        "load",
        "--store",
        store,
        "--meta",
        str(cellphones / "meta_Cell_Phones_and_Accessories.json.gz"),
        "--reviews",
        str(cellphones / "Cell_Phones_and_Accessories_5.json.gz"),
        "--quarantine",
        str(tmp_path / "quarantine.jsonl"),
        "--no-progress",
        timeout=300,
    )
    assert load.returncode == 0, load.stderr[-2000:]
    train = kgrec(
        "train", "--store", store, "--registry", registry, "--preset", "quick", "--epochs", "1", "--promote",
        "--no-progress", timeout=900,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-2000:]
    assert "gnn title features stepped aside: no product has a title" in train.stdout
    evaluate = kgrec("evaluate", "--store", store, "--registry", registry, "--no-progress", timeout=900)
    assert evaluate.returncode == 0, evaluate.stderr[-2000:]
    for stream in (load.stderr, train.stderr, evaluate.stderr):
        assert "Traceback" not in stream
    out = evaluate.stdout
    assert "title similarity stepped aside: no product has a title" in out
    assert "| title similarity |" not in out
    for relation in ("complement", "substitute"):
        for pop in ("warm", "cold", "new"):
            assert f"## {relation} / {pop}" in out
    rows = re.findall(r"^\| (gnn|popularity|random walk) \| ([0-9.]+) \| ([0-9.]+) \|", out, flags=re.M)
    # three methods in complement, substitute and complement_all, each for three populations (the distinct
    # table's rows have no near-duplicate figure without titles, so they do not match)
    assert len(rows) == 27, out
    # the model ranks held-out complements of warm products far above popularity (measured: NDCG@10 0.31 vs 0.02)
    warm = out.split("## complement / warm")[1].split("##")[0]
    ndcg = {
        m: float(n)
        for m, _, n in re.findall(r"^\| (gnn|popularity) \| ([0-9.]+) \| ([0-9.]+) \|", warm, flags=re.M)
    }
    assert ndcg["gnn"] > 5 * ndcg["popularity"], warm
