"""`kgrec train`: fit the GraphSAGE complement/substitute model on a store's graph and register the run."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

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
    import torch

    from gnn.config import TrainConfig
    from gnn.infer import promote, write_run
    from gnn.registry import ArtifactError, Registry, load_checkpoint
    from gnn.split import make_split
    from gnn.train import Trainer

    try:
        config = TrainConfig.from_toml(
            args.config, epochs=args.epochs, seed=args.seed, split_seed=args.split_seed, device=args.device
        )
    except (OSError, ValueError) as e:
        print(f"kgrec train: bad config: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(config.threads)
    registry = Registry(args.registry)
    checkpoint = registry.root / "checkpoints" / "last.pt"
    if args.resume and not checkpoint.exists():
        print(f"kgrec train: nothing to resume: no checkpoint at {checkpoint}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    store = open_store(args.store)
    try:
        snap = store.snapshot()
        if snap.n("Product") < 2:
            print(
                f"kgrec train: the store {args.store} has {snap.n('Product')} products: load some first",
                file=sys.stderr,
            )
            return 1
        split = make_split(snap, seed=config.split_seed)
        state, pipeline = load_checkpoint(checkpoint) if args.resume else (None, None)
        trainer = Trainer(split, config, pipeline)
        if state is not None:
            try:
                trainer.load_state(state)
            except ValueError as e:
                print(f"kgrec train: {e}", file=sys.stderr)
                return 1
            print(f"resuming after epoch {trainer.epoch}", file=sys.stderr)
        result = trainer.fit(checkpoint=checkpoint, progress=not args.no_progress)
        version = write_run(registry, result, snap, progress=not args.no_progress)
        checkpoint.unlink(missing_ok=True)  # the run is written: nothing left to resume
        written: dict[str, int] = {}
        if args.promote:
            try:
                written = promote(registry, version, store, snap)  # the snapshot it trained on
            except ArtifactError as e:
                print(f"kgrec train: run {version} written but not promoted: {e}", file=sys.stderr)
                return 1
    finally:
        store.close()

    manifest = registry.manifest(version)
    if args.json:
        print(json.dumps(manifest, indent=2))
        return 0
    t = manifest["timings"]
    print(f"run {version}{' (promoted)' if args.promote else ''} in {registry.root}")
    print(
        f"  {t['epochs']} epochs, best {manifest['metrics']['best_epoch']}; {t['epoch_s_mean']:.1f} s per epoch "
        f"({t['epoch_train_s_mean']:.1f} s training), serving artifact {t['serving_s']:.1f} s, "
        f"peak memory {t['peak_rss_gib']:.2f} GiB, total {time.perf_counter() - started:.0f} s"
    )
    for rel, pops in manifest["metrics"]["valid"].items():
        cells = ", ".join(f"{pop} {m['ndcg@10']:.3f}" for pop, m in pops.items())
        print(f"  valid NDCG@10 {rel}: {cells}")
    for type_, n in written.items():
        print(f"  {n} {type_} edges written to {args.store}")
    return 0
