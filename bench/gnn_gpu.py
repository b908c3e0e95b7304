"""GNN training on a GPU against the CPU, in one run: seconds per step on each and the speed-up.

    python bench/gnn_gpu.py                 # 200k products / 2M edges, full-batch and mini-batch
    python bench/gnn_gpu.py --small         # 5k / 50k: checks the script end to end on any machine

Prepared for the GPU machine (torch, torch-geometric, numpy and pyarrow only: no scipy, scikit-learn, matplotlib
or tqdm is imported on this path). Both devices train the same model from the same seed on the same synthetic
catalog (loaders/synthetic.py): `--steps` optimisation steps after `--warmup` untimed ones, full-batch (the
whole graph per step, as Beauty trains) and mini-batch (PyG's LinkLoader with our neighbour sampler). An
epoch's setup is reported apart from its steps, as the trainer books it (``setup_s`` of ``Trainer.train_epoch``):
the episode and pair features (numpy on the CPU for both devices), then for full-batch the message graph and the
examples copied to the device, for mini-batch the samplers. A step is one optimisation step, after that. Without
CUDA it prints the CPU figures and says so. Figures only; asserts nothing.
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


def time_steps(split, config: TrainConfig, steps: int, warmup: int) -> dict[str, float]:
    """Seconds per optimisation step (after `warmup` steps, in an epoch of their own) and the setup of the timed
    epoch (episode, features, the graph on config.device), on config.device."""
    trainer = Trainer(split, config)
    trainer.train_epoch(max_steps=warmup)  # first touches: CUDA context, kernels, allocator
    row = trainer.train_epoch(max_steps=steps)
    return {"step_s": row["steps_s"] / max(row["steps"], 1), "setup_s": row["setup_s"], "steps": row["steps"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--products", type=int, default=200_000)
    ap.add_argument("--edges", type=int, default=2_000_000)
    ap.add_argument("--small", action="store_true", help="5k products / 50k edges, a few steps")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    args = ap.parse_args()
    if args.small:
        args.products, args.edges, args.steps, args.warmup = 5_000, 50_000, 3, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}")
    print(f"CUDA: {torch.cuda.get_device_name(0) if cuda else 'none (CPU figures only)'}")

    t = time.perf_counter()
    snap = synthetic_snapshot(args.products, args.edges, n_categories=max(10, args.products // 1000), seed=0)
    split = make_split(snap, seed=0)
    print(
        f"catalog {args.products:,} products / {args.edges:,} edges, split: {time.perf_counter() - t:.1f} s"
    )

    modes = {
        "full-batch": {"steps_per_epoch": args.steps + args.warmup, "encoder_every": 1},
        "mini-batch": {"batch_size": 1024, "num_neighbors": [10, 5], "negatives": 16},
    }
    devices = ["cpu", "cuda"] if cuda else ["cpu"]
    print("\ns/step: one optimisation step; setup s: the epoch's episode, features and graph on the device")
    print(f"{'mode':<11} {'device':<6} {'s/step':>8} {'setup s':>8}")
    for mode, extra in modes.items():
        result = {}
        for device in devices:
            config = TrainConfig(device=device, validate=False, threads=torch.get_num_threads(), **extra)
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            result[device] = time_steps(split, config, args.steps, args.warmup)
            r = result[device]
            print(f"{mode:<11} {device:<6} {r['step_s']:8.3f} {r['setup_s']:8.2f}", flush=True)
        if cuda:
            speedup = result["cpu"]["step_s"] / result["cuda"]["step_s"]
            peak = torch.cuda.max_memory_allocated() / 2**30
            print(
                f"{mode:<11} speed-up of a step, GPU over CPU: {speedup:.1f}x (peak GPU memory {peak:.2f} GiB)"
            )
    print(f"\npeak RSS {peak_rss_gib():.2f} GiB")


if __name__ == "__main__":
    main()
