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

from gnn.config import PRESETS
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
            "category popularity, title similarity, item-to-item co-occurrence, common neighbours, Adamic-Adar, "
            "path counts, a random walk) and, when the registry has a run, the GNN, its two parts alone, and its "
            "pair features fitted by logistic regression and boosted trees. Prints hit@10, NDCG@10, MRR, ROC-AUC "
            "and complement direction accuracy."
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
    p.add_argument(
        "--seeds",
        type=_seed_list,
        metavar="S,S,...",
        help=(
            "evaluate over several split seeds (e.g. 0,1,2): one training run per seed (reused from the registry "
            "when one with that split seed and config is there, else trained, not promoted), each evaluated on "
            "its own split; the table, report and JSON give each cell's mean and spread (sample sd)"
        ),
    )
    p.add_argument(
        "--config", type=Path, help="with --seeds: the TOML file of TrainConfig keys to train with"
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="with --seeds: a named variant of the defaults to train with",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument(
        "--out", type=Path, help="also write report.md, bar plots, results.json and split.npz here"
    )
    p.add_argument("--baselines-only", action="store_true", help="skip the GNN even when a run exists")
    p.add_argument(
        "--ablation",
        action="store_true",
        help=(
            "also rank with the GNN's two parts alone and with its pair features fitted by logistic regression "
            "and boosted trees (what GraphSAGE adds; several minutes more on Beauty)"
        ),
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _seed_list(text: str) -> list[int]:
    """``0,1,2`` (or ``0 1 2``) as distinct ints, in order."""
    try:
        seeds = [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are integers separated by commas, not {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"give distinct seeds, e.g. 0,1,2, not {text!r}")
    return seeds


def run(args: argparse.Namespace) -> int:
    if args.seeds is not None:
        if args.version or args.baselines_only:
            print(
                "kgrec evaluate: --seeds trains its own runs; it takes neither --version nor --baselines-only",
                file=sys.stderr,
            )
            return 2
        return _run_seeds(args)
    if args.config is not None or args.preset is not None:
        print(
            "kgrec evaluate: --config and --preset go with --seeds (a run's own config is fixed)",
            file=sys.stderr,
        )
        return 2
    from gnn.evaluate import evaluate
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

    scorers, stepped_aside = _scorers(split, registry, version, args.ablation)
    results = evaluate(split, scorers, progress=not args.no_progress)
    seconds = time.perf_counter() - started
    _emit(
        args, results, stepped_aside, f"split seed {seed}, fingerprint {split.fingerprint()}; {seconds:.1f} s"
    )
    if args.out:
        split.save(args.out / "split.npz")
    return 0


def _scorers(
    split: Any, registry: Registry, version: str | None, ablation: bool = False
) -> tuple[list[Any], list[Any]]:
    """Every baseline and, with a run, the GNN as served and without its push-down; and the notes of what
    stepped aside: a method or feature that needs a signal this catalog lacks (titles, categories, customers)
    steps aside, and the report says so, one line each (gnn/signals.py)."""
    from gnn.baselines import baselines

    scorers, stepped_aside = baselines(split.train)
    if version is not None:
        gnn = _gnn_scorer(registry, version, split.train)
        if gnn is not None:
            if ablation:
                scorers += _learned_rivals(split, gnn, registry.manifest(version).get("config", {}))
            # the model as served, and without its complement push-down of substitutes and near-duplicates; then
            # the ablation: each of its two parts alone (the same trained weights)
            scorers += [gnn, gnn.without_distinct()] if gnn.distinct is not None else [gnn]
            scorers += (
                []
                if not ablation
                else [
                    gnn.only("decoder", "gnn decoders only"),
                    gnn.only("pair", "gnn structural term only"),
                ]
            )
            stepped_aside += gnn.stepped_aside
    for note in stepped_aside:
        log.info("stepped_aside what=%r why=%r", note.what, note.why)
    return scorers, stepped_aside


def _learned_rivals(split: Any, gnn: GNNScorer, config: dict[str, Any]) -> list[Any]:
    """The GNN's pair features fitted by logistic regression and by boosted trees (:mod:`gnn.pair_learners`),
    trained on episodes of the same train graph with the run's episode shares, negatives and seed, and ranking
    complements under the run's push-down (:class:`gnn.model_scorer.DistinctScorer`): the same candidates,
    filter and training graph as the model."""
    from gnn.config import TrainConfig
    from gnn.model_scorer import DistinctScorer
    from gnn.pair_learners import PairLearner

    known = set(TrainConfig.__dataclass_fields__)
    train_config = TrainConfig(**{k: v for k, v in config.items() if k in known})
    rivals: list[Any] = []
    for kind in ("logreg", "trees"):
        started = time.perf_counter()
        learner = PairLearner(split.train, kind, config=train_config)
        log.info("pair_learner kind=%s fit_s=%.1f", kind, time.perf_counter() - started)
        rivals.append(learner if gnn.distinct is None else DistinctScorer(learner, gnn.distinct, gnn.words))
    return rivals


def _emit(
    args: argparse.Namespace,
    results: dict[str, Any],
    notes: list[Any],
    header: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """The results as the options ask: report.md, plots and results.json under --out; JSON (with `extra` first)
    or the tables after `header` on stdout; the notes on stderr beside JSON, so stdout is the JSON alone."""
    from gnn.evaluate import tables, write_report

    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        write_report(results, args.out, notes=notes)
        (args.out / "results.json").write_text(json.dumps(_finite(results), indent=2))
    if args.json:
        print(json.dumps(_finite({**(extra or {}), **results}), indent=2))
        for note in notes:
            print(f"kgrec evaluate: {note}", file=sys.stderr)
    else:
        print(f"{header}\n")
        print(tables(results, notes=notes))
        if args.out:
            print(f"report: {args.out / 'report.md'}")


def _run_seeds(args: argparse.Namespace) -> int:
    """``--seeds``: per seed, a run trained on that seed's split (found or trained), evaluated on it; then one
    table of means and spreads."""
    from gnn.config import TrainConfig
    from gnn.evaluate import aggregate, evaluate
    from gnn.registry import Registry
    from gnn.split import make_split
    from kgrec.commands.train import TrainFailed, train

    registry = Registry(args.registry)
    started = time.perf_counter()
    per_seed: list[dict[str, Any]] = []
    versions: dict[int, str] = {}
    notes: list[Any] = []
    with open_snapshot(args.store) as snap:  # read once: every seed's split is cut from the same graph
        splits = {seed: make_split(snap, seed=seed) for seed in args.seeds}
    for seed, split in splits.items():
        try:
            config = TrainConfig.from_toml(args.config, preset=args.preset, split_seed=seed)
        except (OSError, ValueError) as e:
            print(f"kgrec evaluate: bad config: {e}", file=sys.stderr)
            return 2
        version = _matching_run(registry, config, split.fingerprint())
        if version is None:
            log.info("seed=%d training a run", seed)
            print(f"split seed {seed}: training a run", file=sys.stderr)
            try:
                version = train(args.store, args.registry, config, progress=not args.no_progress).version
            except TrainFailed as e:
                print(f"kgrec evaluate: {e}", file=sys.stderr)
                return e.status
        else:
            print(f"split seed {seed}: run {version} (reused)", file=sys.stderr)
        versions[seed] = version
        scorers, stepped_aside = _scorers(split, registry, version, args.ablation)
        notes += [n for n in stepped_aside if str(n) not in {str(m) for m in notes}]
        per_seed.append(evaluate(split, scorers, progress=not args.no_progress))
    results = aggregate(per_seed)
    seconds = time.perf_counter() - started
    seeds_line = ", ".join(f"{seed}: {v}" for seed, v in versions.items())
    notes.append(f"split seeds and their runs (each cell: mean ± sample sd over them): {seeds_line}")
    _emit(
        args,
        results,
        notes,
        f"{len(versions)} split seeds; mean ± sample sd over them; {seconds:.1f} s",
        extra={"seeds": {str(k): v for k, v in versions.items()}},
    )
    if args.out:
        for seed, one in zip(args.seeds, per_seed, strict=True):
            (args.out / f"results_seed{seed}.json").write_text(json.dumps(_finite(one), indent=2))
    return 0


def _matching_run(registry: Registry, config: Any, split_fingerprint: str) -> str | None:
    """The newest complete run trained on this split with this config (but for how it ran and what training
    tunes: :data:`gnn.config.RUN_ONLY_KEYS`), or None."""
    from gnn.config import RUN_ONLY_KEYS

    want = {k: v for k, v in config.to_dict().items() if k not in RUN_ONLY_KEYS}
    for manifest in reversed(registry.list()):
        if "error" in manifest or manifest.get("split_fingerprint") != split_fingerprint:
            continue
        have = {k: v for k, v in manifest.get("config", {}).items() if k not in RUN_ONLY_KEYS}
        if have == want:
            try:
                registry.verify(manifest["version"])
            except ValueError:
                continue
            return str(manifest["version"])
    return None


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
