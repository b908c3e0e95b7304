"""`kgrec evaluate`: rank the held-out pairs with every baseline and the promoted GNN, on the split it trained on."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgrec.options import add_registry, add_store, open_snapshot

if TYPE_CHECKING:
    from gnn.model_scorer import GNNScorer
    from gnn.registry import Registry
    from graph.snapshot import Snapshot

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "evaluate",
        help="evaluate the GNN and the baselines on held-out complement and substitute pairs",
        description=(
            "Split the store's graph into train and held-out pairs (warm, cold and new products; see gnn/split.py) "
            "with the seed the model trained with, then rank every held-out pair with each baseline (popularity, "
            "category popularity, title similarity, item-to-item co-occurrence, random walk) and, when the "
            "registry has a run, the GNN. Prints hit@10, NDCG@10, MRR, ROC-AUC and complement direction accuracy."
        ),
    )
    add_store(p)
    add_registry(p)
    p.add_argument("--version", help="the run to evaluate (default: the promoted one)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="split seed when no model is evaluated (a model's run fixes its own); default %(default)s",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument(
        "--out", type=Path, help="also write report.md, bar plots, results.json and split.npz here"
    )
    p.add_argument("--baselines-only", action="store_true", help="skip the GNN even when a run exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    from gnn.baselines import baselines
    from gnn.evaluate import evaluate, tables, write_report
    from gnn.registry import ArtifactError, Registry
    from gnn.split import make_split

    registry = Registry(args.registry)
    version = None if args.baselines_only else (args.version or registry.promoted())
    manifest: dict[str, Any] = {}
    if version is not None:
        try:
            manifest = registry.verify(version)
        except ArtifactError as e:
            print(f"kgrec evaluate: {e}", file=sys.stderr)
            return 1
    elif not args.baselines_only:
        print(
            f"kgrec evaluate: no promoted run in {args.registry}; evaluating the baselines only",
            file=sys.stderr,
        )

    started = time.perf_counter()
    with open_snapshot(args.store) as snap:
        seed = int(manifest.get("split_seed", args.seed))
        split = make_split(snap, seed=seed)
    expected = manifest.get("split_fingerprint")
    if expected is not None and expected != split.fingerprint():
        print(
            f"kgrec evaluate: run {version} trained on split {expected}, but this store gives {split.fingerprint()} "
            "with its seed: the graph changed since training, so its held-out pairs are not the model's",
            file=sys.stderr,
        )
        return 1

    # a method or feature that needs a signal this catalog lacks (titles, categories, customers) steps aside,
    # and the report says so, one line each (gnn/signals.py)
    scorers, stepped_aside = baselines(split.train)
    if version is not None:
        gnn = _gnn_scorer(registry, version, split.train)
        if gnn is not None:
            # the model as served, and without its complement push-down of substitutes and near-duplicates
            scorers += [gnn, gnn.without_distinct()] if gnn.distinct is not None else [gnn]
            stepped_aside += gnn.stepped_aside
    for note in stepped_aside:
        log.info("stepped_aside what=%r why=%r", note.what, note.why)
    results = evaluate(split, scorers, progress=not args.no_progress)
    seconds = time.perf_counter() - started

    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        write_report(results, args.out, notes=stepped_aside)
        (args.out / "results.json").write_text(json.dumps(_finite(results), indent=2))
        split.save(args.out / "split.npz")
    if args.json:
        print(json.dumps(_finite(results), indent=2))
        for note in stepped_aside:  # stdout is the JSON alone
            print(f"kgrec evaluate: {note}", file=sys.stderr)
    else:
        print(f"split seed {seed}, fingerprint {split.fingerprint()}; {seconds:.1f} s\n")
        print(tables(results, notes=stepped_aside))
        if args.out:
            print(f"report: {args.out / 'report.md'}")
    return 0


def _gnn_scorer(registry: Registry, version: str, train: Snapshot) -> GNNScorer | None:
    """The model's scorer, or None with a message when the GNN package does not provide one yet.

    It gets the *train* snapshot: held-out pairs must not reach the model's message passing at evaluation either.
    """
    try:
        from gnn.model_scorer import load_scorer
    except ModuleNotFoundError as e:
        if e.name != "gnn.model_scorer":
            raise
        print(
            "kgrec evaluate: gnn.model_scorer is not available; evaluating the baselines only",
            file=sys.stderr,
        )
        return None
    return load_scorer(registry, version, train)


def _finite(value: Any) -> Any:
    """NaN (a population with no pairs) as null: JSON has no NaN."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
