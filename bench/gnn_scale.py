"""Mini-batch GNN training at scale: the synthetic 1M-product / 10M-edge catalog, time per epoch and peak memory.

    .venv/bin/python bench/gnn_scale.py [--products 1000000] [--edges 10000000] [--steps 30]

Builds the catalog (loaders/synthetic.py), cuts the held-out split, fits the feature pipeline, then runs one
training epoch through PyG's LinkLoader and our HeteroNeighborSampler: the epoch's setup (episode split, message
graph, pair features, sampler) is timed whole, its optimisation steps for `--steps` batches, and the full epoch is
*extrapolated* from those (printed as such). Memory is the process's peak RSS (the target is under 16 GiB).
Figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from gnn.config import TrainConfig  # noqa: E402
from gnn.split import make_split  # noqa: E402
from gnn.train import Trainer, peak_rss_gib  # noqa: E402
from loaders.synthetic import synthetic_snapshot  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--products", type=int, default=1_000_000)
    ap.add_argument("--edges", type=int, default=10_000_000)
    ap.add_argument("--categories", type=int, default=1000)
    ap.add_argument(
        "--steps", type=int, default=30, help="batches timed (the epoch is extrapolated from them)"
    )
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--fanout", type=int, nargs="+", default=[4, 2], help="neighbours per edge type and hop")
    ap.add_argument("--negatives", type=int, default=4, help="hard negatives per positive (each a seed node)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    def mark(what: str, since: float) -> float:
        now = time.perf_counter()
        print(f"{what:<34} {now - since:8.1f} s   peak RSS {peak_rss_gib():5.2f} GiB", flush=True)
        return now

    t = time.perf_counter()
    snap = synthetic_snapshot(args.products, args.edges, n_categories=args.categories, seed=0)
    t = mark(f"synthetic catalog {args.products:,} / {args.edges:,}", t)
    split = make_split(snap, seed=0)
    t = mark("held-out split", t)
    config = TrainConfig(
        batch_size=args.batch_size,
        num_neighbors=args.fanout,
        negatives=args.negatives,
        max_positives=1_000_000,  # every supervision pair of the episode: a real epoch
        validate=False,  # scoring the whole catalog per validation query is the small-catalog path
        threads=args.threads,
    )
    trainer = Trainer(split, config)
    t = mark("feature pipeline, model", t)
    row = trainer.train_epoch(max_steps=args.steps)
    t = mark("one epoch: setup + timed steps", t)

    per_step = row["steps_s"] / max(row["steps"], 1)
    epoch = row["setup_s"] + per_step * row["epoch_steps"]
    print()
    print(f"epoch setup (episode, message graph, pair features, sampler): {row['setup_s']:.1f} s")
    print(
        f"mini-batch step (batch {args.batch_size}, fanout {args.fanout}, {args.negatives} negatives): "
        f"{per_step * 1000:.0f} ms"
    )
    print(f"steps per epoch: {row['epoch_steps']:,} (timed {row['steps']})")
    print(
        f"time per epoch: {epoch / 60:.1f} min EXTRAPOLATED from {row['steps']} of {row['epoch_steps']:,} steps "
        f"(setup + steps x {per_step:.3f} s)"
    )
    print(f"loss over the timed steps: {row['loss']:.3f}")
    print(f"peak RSS: {peak_rss_gib():.2f} GiB (target < 16)")


if __name__ == "__main__":
    main()
