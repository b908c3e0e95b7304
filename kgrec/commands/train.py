"""`kgrec train`: fit the GraphSAGE complement/substitute model on a store's graph and register the run."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gnn.config import PRESETS, TrainConfig
from graph.stores import open_store
from kgrec.options import add_registry, add_store


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train the GNN (complements and substitutes) and register the run",
        description=(
            "Cut the held-out split of the store's graph, train the GraphSAGE link model on its train graph with "
            "early stopping on validation, and write a versioned run to the registry: weights, config, feature "
            "pipeline, split, metrics, curves and the serving artifact (top-K complements and substitutes of every "
            "product). A checkpoint after each epoch lets --resume continue a run that was cut off. --promote "
            "makes the run the served one and writes its learned edges into the store."
        ),
    )
    add_store(p)
    add_registry(p)
    p.add_argument("--config", type=Path, help="a TOML file of TrainConfig keys (top level or under [train])")
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="a named variant of the defaults (quick: the demo's, under 2 minutes on Beauty); flags still win",
    )
    p.add_argument("--epochs", type=int, help="at most this many epochs (overrides the config)")
    p.add_argument("--seed", type=int, help="training seed (overrides the config)")
    p.add_argument("--split-seed", type=int, help="seed of the held-out split (overrides the config)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or auto (overrides the config)")
    p.add_argument("--resume", action="store_true", help="continue from the registry's last checkpoint")
    p.add_argument("--promote", action="store_true", help="promote the run and write its learned edges")
    p.add_argument("--json", action="store_true", help="print the manifest at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def run(args: argparse.Namespace) -> int:

    try:
        config = TrainConfig.from_toml(
            args.config,
            preset=args.preset,
            epochs=args.epochs,
            seed=args.seed,
            split_seed=args.split_seed,
            device=args.device,
        )
    except (OSError, ValueError) as e:
        print(f"kgrec train: bad config: {e}", file=sys.stderr)
        return 2
    try:
        trained = train(
            args.store,
            args.registry,
            config,
            resume=args.resume,
            promote=args.promote,
            progress=not args.no_progress,
        )
    except TrainFailed as e:
        print(f"kgrec train: {e}", file=sys.stderr)
        return e.status
    manifest = trained.manifest
    if args.json:
        print(json.dumps(manifest, indent=2))
        return 0
    print(f"run {trained.version}{' (promoted)' if args.promote else ''} in {args.registry}")
    print(f"  {describe(trained)}")
    for note in manifest.get("stepped_aside", []):
        print(f"  {note}")
    for rel, pops in manifest["metrics"]["valid"].items():
        cells = ", ".join(f"{pop} {m['ndcg@10']:.3f}" for pop, m in pops.items())
        print(f"  valid NDCG@10 {rel}: {cells}")
        if any("direction" in m for m in pops.values()):
            cells = ", ".join(
                f"{pop} {m['direction']:.3f} (in-degree {m['direction_in_degree']:.3f})"
                for pop, m in pops.items()
            )
            print(f"  valid direction {rel}: {cells}")
    for type_, n in trained.written.items():
        print(f"  {n} {type_} edges written to {args.store}")
    return 0


class TrainFailed(Exception):
    """A run that could not start, or was written but not promoted; the message says why."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status  # the command's exit status: 2 for a usage error, 1 otherwise


@dataclass(frozen=True)
class Trained:
    """A registered run: its version and manifest, the learned edges its promotion wrote, the wall time."""

    version: str
    manifest: dict[str, Any]
    written: dict[str, int]
    seconds: float


def train(
    store_spec: str,
    registry_root: Path,
    config: TrainConfig,
    *,
    resume: bool = False,
    promote: bool = False,
    progress: bool = True,
) -> Trained:
    """Train on the graph of `store_spec` and register the run (promoted, with its learned edges written into
    the store, when `promote`): the whole of ``kgrec train``, also what ``kgrec demo`` runs when it has no model.

    Raises :class:`TrainFailed` when there is nothing to train on or to resume, or the promotion is refused."""
    import torch

    from gnn.infer import promote as promote_run
    from gnn.infer import write_run
    from gnn.registry import ArtifactError, Registry, load_checkpoint
    from gnn.split import make_split
    from gnn.train import Trainer

    torch.set_num_threads(config.threads)
    registry = Registry(registry_root)
    checkpoint = registry.root / "checkpoints" / "last.pt"
    if resume and not checkpoint.exists():
        raise TrainFailed(f"nothing to resume: no checkpoint at {checkpoint}", status=2)

    started = time.perf_counter()
    store = open_store(store_spec)
    try:
        snap = store.snapshot()
        if snap.n("Product") < 2:
            raise TrainFailed(f"the store {store_spec} has {snap.n('Product')} products: load some first")
        split = make_split(snap, seed=config.split_seed)
        state, pipeline = load_checkpoint(checkpoint) if resume else (None, None)
        trainer = Trainer(split, config, pipeline)
        if state is not None:
            try:
                trainer.load_state(state)
            except ValueError as e:
                raise TrainFailed(str(e)) from e
            print(f"resuming after epoch {trainer.epoch}", file=sys.stderr)
        result = trainer.fit(checkpoint=checkpoint, progress=progress)
        version = write_run(registry, result, snap, progress=progress)
        checkpoint.unlink(missing_ok=True)  # the run is written: nothing left to resume
        written: dict[str, int] = {}
        if promote:
            try:
                written = promote_run(registry, version, store, snap)  # the snapshot it trained on
            except ArtifactError as e:
                raise TrainFailed(f"run {version} written but not promoted: {e}") from e
    finally:
        store.close()
    return Trained(version, registry.manifest(version), written, time.perf_counter() - started)


def describe(trained: Trained) -> str:
    """Epochs, time per epoch and in all, peak memory: one line."""
    t = trained.manifest["timings"]
    return (
        f"{t['epochs']} epochs, best {trained.manifest['metrics']['best_epoch']}; {t['epoch_s_mean']:.1f} s per "
        f"epoch ({t['epoch_train_s_mean']:.1f} s training), serving artifact {t['serving_s']:.1f} s, "
        f"peak memory {t['peak_rss_gib']:.2f} GiB, total {trained.seconds:.0f} s"
    )
