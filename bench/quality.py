"""The evaluation of both real catalogs, and of each as an edge list alone, side by side: one command, one report.

For each catalog asked for (default all four):

- ``beauty``, ``cellphones``: ../shared/data's Amazon files loaded as they are (kgrec load --meta --reviews);
- ``beauty-edges``, ``cellphones-edges``: the same catalog's two co-purchase lists alone, written out as an edge
  list (src, dst, relation) from the loaded store and loaded with ``kgrec load --edges``: no customers, no
  categories, no titles;

it runs ``kgrec evaluate --seeds S,S,S --ablation`` (one training run per split seed, reused from the catalog's registry
when there is one with that split and config) with ``--out <work>/<catalog>/eval``, then writes
``<work>/report.md`` and ``<work>/*.png``: every method's NDCG@10 (and ROC-AUC for the edge lists) per relation
and population, the catalogs side by side, each cell the mean ± sample sd over the seeds; the GNN against its
strongest rival in each cell (every method that is not the GNN or one of its ablations), the ablation (the GNN
as served, without its push-down, its decoders alone, its structural term alone, the same pair features in
logistic regression and boosted trees) and the direction accuracy against the in-degree heuristic; and each
run's training time and peak memory. Nothing is asserted: the goals of the evaluation issue are printed beside
the figures.

    python bench/quality.py --work var/quality                  # all four, 3 seeds, the default config
    python bench/quality.py --work var/quality --catalogs beauty --seeds 0 --preset quick
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
SOURCES = {
    "beauty": ("amazon-beauty/meta_Beauty.json.gz", "amazon-beauty/reviews_Beauty_5.json.gz"),
    "cellphones": (
        "amazon-cellphones/meta_Cell_Phones_and_Accessories.json.gz",
        "amazon-cellphones/Cell_Phones_and_Accessories_5.json.gz",
    ),
}
CATALOGS = ("beauty", "cellphones", "beauty-edges", "cellphones-edges")
POPULATIONS = ("warm", "cold", "new")
GOAL_RATIO = 1.10
GOAL_AUC = 0.98
MIN_PAIRS = 100  # the goals apply to cells with at least this many held-out pairs


def is_gnn(method: str) -> bool:
    """The GNN and its ablations, which are not its rivals; the learners on its pair features are."""
    return method.startswith("gnn")


def kgrec(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(Path(sys.executable).with_name("kgrec")), *args]
    print("$ kgrec " + " ".join(args), file=sys.stderr, flush=True)
    return subprocess.run(cmd, cwd=ROOT, check=True, text=True, stdout=subprocess.PIPE)


def prepare(catalog: str, work: Path, data: Path) -> str:
    """The store of `catalog` under `work` (loaded once), as a --store spec."""
    store = work / catalog / "store"
    spec = f"local:{store}"
    if store.exists():
        return spec
    base = catalog.removesuffix("-edges")
    if catalog == base:
        meta, reviews = (data / p for p in SOURCES[base])
        kgrec("load", "--store", spec, "--meta", str(meta), "--reviews", str(reviews))
        return spec
    full = prepare(base, work, data)
    edges = work / catalog / "edges.tsv.gz"
    write_edge_list(full, edges)
    kgrec("load", "--store", spec, "--edges", str(edges))
    return spec


def write_edge_list(spec: str, path: Path) -> int:
    """The co-purchase lists of the store `spec` as ``src, dst, relation`` lines; returns the line count."""
    from kgrec.options import open_snapshot

    with open_snapshot(spec) as snap:
        pass
    ids = snap.ids["Product"]
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = 0
    with gzip.open(path, "wt") as f:
        f.write("src\tdst\trelation\n")
        for type_ in ("ALSO_BOUGHT", "ALSO_VIEWED"):
            src, dst = snap.rel(type_).coo()
            for a, b in zip(ids[src], ids[dst], strict=True):
                f.write(f"{a}\t{b}\t{type_}\n")
            lines += len(src)
    return lines


def evaluate(
    catalog: str, spec: str, work: Path, seeds: str, preset: str | None, reuse: bool
) -> dict[str, Any]:
    out = work / catalog / "eval"
    results = out / "results.json"
    if reuse and results.exists():
        return json.loads(results.read_text())
    registry = work / catalog / "registry"
    extra = ["--preset", preset] if preset else []
    started = time.perf_counter()
    done = kgrec(
        "evaluate",
        "--store",
        spec,
        "--registry",
        str(registry),
        "--seeds",
        seeds,
        "--out",
        str(out),
        "--json",
        "--no-progress",
        "--ablation",
        *extra,
    )
    print(f"{catalog}: evaluated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    payload = json.loads(done.stdout)
    (out / "seeds.json").write_text(json.dumps(payload.get("seeds", {})))
    return json.loads(results.read_text())


def runs_of(catalog: str, work: Path) -> list[dict[str, Any]]:
    """The training runs the catalog's evaluation used: version, split seed, seconds, epochs, peak memory."""
    seeds = json.loads((work / catalog / "eval" / "seeds.json").read_text())
    rows = []
    for seed, version in seeds.items():
        manifest = json.loads((work / catalog / "registry" / "runs" / version / "manifest.json").read_text())
        t = manifest.get("timings", {})
        rows.append(
            {
                "seed": seed,
                "version": version,
                **{k: t.get(k) for k in ("train_s", "epochs", "epoch_train_s_mean", "peak_rss_gib")},
            }
        )
    return rows


def cell(row: dict[str, Any] | None, metric: str) -> str:
    if not row or row.get(metric) is None or (isinstance(row[metric], float) and math.isnan(row[metric])):
        return "–"
    sd = row.get(f"{metric}_sd")
    return f"{row[metric]:.4f}" + ("" if sd is None or math.isnan(sd) else f" ± {sd:.4f}")


def best_rival(methods: dict[str, dict[str, Any]], metric: str) -> tuple[str, float] | None:
    rivals = [
        (m, r[metric])
        for m, r in methods.items()
        if not is_gnn(m) and r.get(metric) is not None and not math.isnan(r[metric])
    ]
    return max(rivals, key=lambda x: x[1]) if rivals else None


def report(results: dict[str, dict[str, Any]], work: Path) -> str:
    lines = ["# kgrec evaluation: both catalogs, and each as an edge list alone", ""]
    lines += [
        "Each cell: mean ± sample sd over the split seeds (one training run each); filtered ranking over",
        "every product (gnn/evaluate.py). Rivals: every method but the GNN and its ablations.",
        "",
    ]
    for group, metric in (
        (("beauty", "cellphones"), "ndcg@10"),
        (("beauty-edges", "cellphones-edges"), "auc"),
    ):
        shown = [c for c in group if c in results]
        if not shown:
            continue
        for table in ("complement", "substitute"):
            lines += [f"## {table}: {metric}" + (" (edge lists alone)" if "edges" in group[0] else ""), ""]
            cols = [(c, p) for c in shown for p in POPULATIONS]
            lines.append("| method | " + " | ".join(f"{c} {p}" for c, p in cols) + " |")
            lines.append("|---" * (len(cols) + 1) + "|")
            methods: list[str] = []
            for c, p in cols:
                methods += [m for m in results[c][table][p] if m not in methods and m != "in-degree"]
            for m in methods:
                lines.append(
                    f"| {m} | "
                    + " | ".join(cell(results[c][table][p].get(m), metric) for c, p in cols)
                    + " |"
                )
            ratio = []
            for c, p in cols:
                methods_ = results[c][table][p]
                best = best_rival(methods_, metric)
                gnn = methods_.get("gnn", {})
                n = gnn.get("n", 0)
                if best is None or gnn.get(metric) is None:
                    ratio.append("–")
                    continue
                r = gnn[metric] / best[1] if best[1] else float("inf")
                goal = GOAL_AUC if metric == "auc" else None
                mark = ""
                if n >= MIN_PAIRS:
                    ok = r >= GOAL_RATIO if goal is None else (gnn[metric] >= goal and r > 1.0)
                    mark = " ✓" if ok else " ✗"
                ratio.append(f"{r:.2f}x {best[0]} (n={n}){mark}")
            lines.append("| **gnn / best rival** | " + " | ".join(ratio) + " |")
            lines.append("")
        if metric == "ndcg@10":
            lines += ["## complement direction accuracy (pairs listed one way only)", ""]
            cols = [(c, p) for c in shown for p in POPULATIONS]
            lines.append("| method | " + " | ".join(f"{c} {p}" for c, p in cols) + " |")
            lines.append("|---" * (len(cols) + 1) + "|")
            for m in ("gnn", "boosted trees (pair features)", "in-degree"):
                lines.append(
                    f"| {m} | "
                    + " | ".join(cell(results[c]["complement"][p].get(m), "direction") for c, p in cols)
                    + " |"
                )
            lines.append("")
    lines += [
        "## training runs",
        "",
        "| catalog | seed | run | train s | epochs | s / epoch | peak GiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in results:
        for r in runs_of(c, work):
            lines.append(
                f"| {c} | {r['seed']} | {r['version']} | {r['train_s']:.0f} | {r['epochs']} | "
                f"{r['epoch_train_s_mean']:.1f} | {r['peak_rss_gib']:.2f} |"
            )
    lines += [
        "",
        "Plots: ndcg_<table>.png (both catalogs, error bars: sd over seeds); each catalog's own report:",
        "<catalog>/eval/report.md.",
        "",
    ]
    return "\n".join(lines)


def plots(results: dict[str, dict[str, Any]], work: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    written = []
    for group, metric in (
        (("beauty", "cellphones"), "ndcg@10"),
        (("beauty-edges", "cellphones-edges"), "auc"),
    ):
        shown = [c for c in group if c in results]
        for table in ("complement", "substitute"):
            if not shown:
                continue
            cols = [(c, p) for c in shown for p in POPULATIONS]
            names = [
                "gnn",
                "boosted trees (pair features)",
                "logistic regression (pair features)",
                "gnn decoders only",
                "gnn structural term only",
                "best other rival",
            ]
            fig, ax = plt.subplots(figsize=(12, 3.6))
            width = 0.8 / len(names)
            for i, name in enumerate(names):
                vals, errs = [], []
                for c, p in cols:
                    methods = results[c][table][p]
                    if name == "best other rival":
                        others = {
                            m: r for m, r in methods.items() if not is_gnn(m) and "pair features" not in m
                        }
                        best = best_rival(others, metric)
                        row = others.get(best[0]) if best else None
                    else:
                        row = methods.get(name)
                    vals.append(np.nan if not row or row.get(metric) is None else row[metric])
                    errs.append(
                        0.0
                        if not row or row.get(f"{metric}_sd") is None
                        else np.nan_to_num(row[f"{metric}_sd"])
                    )
                ax.bar(np.arange(len(cols)) + i * width, vals, width, yerr=errs, label=name)
            ax.set_xticks(np.arange(len(cols)) + 0.4 - width / 2, [f"{c}\n{p}" for c, p in cols], fontsize=8)
            ax.set_ylabel(metric)
            ax.set_title(f"{table}: {metric}, mean ± sd over split seeds")
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
            fig.tight_layout()
            path = work / f"{metric.replace('@', '')}_{table}{'_edges' if 'edges' in group[0] else ''}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=ROOT / "var" / "quality", help="stores, registries, reports")
    p.add_argument("--data", type=Path, default=DATA, help="the folder of the Amazon catalogs")
    p.add_argument(
        "--catalogs", default=",".join(CATALOGS), help="comma-separated, of " + ", ".join(CATALOGS)
    )
    p.add_argument("--seeds", default="0,1,2", help="split seeds (default %(default)s)")
    p.add_argument("--preset", help="train with this preset (e.g. quick) instead of the defaults")
    p.add_argument("--reuse", action="store_true", help="report from the results already under --work")
    args = p.parse_args(argv)
    results = {}
    for catalog in args.catalogs.split(","):
        if catalog not in CATALOGS:
            p.error(f"unknown catalog {catalog!r}")
        spec = prepare(catalog, args.work, args.data)
        results[catalog] = evaluate(catalog, spec, args.work, args.seeds, args.preset, args.reuse)
    text = report(results, args.work)
    (args.work / "report.md").write_text(text)
    plots(results, args.work)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
