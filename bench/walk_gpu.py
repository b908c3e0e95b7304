"""Walks on the GPU: steps/s of the torch-CUDA backend on the synthetic catalog, and the ratio to numpy on the
same machine (goal: >= 2 billion steps/s on an H100). A prepared script for the device machine.

It runs from the repository root without the package installed (torch, numpy and pyarrow are all it needs):

    python bench/walk_gpu.py                       # 1M products, 10M co-purchase edges, on CUDA
    python bench/walk_gpu.py --small --device cpu  # a quick check where there is no GPU

Reported, with the device and versions: the lockstep walk kernel (walkers from consecutive products, as batch mode
forms them; visits recorded on the device, not counted), then Walker.batch end to end over a slice of products
(its counting and top-k run partly on the host). The baseline is numpy on all the machine's CPU cores, measured
in the same run: its kernel on one block of walkers per core, stepped on that many threads at once (as
Walker.batch spreads its chunks), and Walker.batch end to end on as many threads. Both ratios are against all
cores; the one-core kernel figure is printed beside them for reference. Figures only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from graph.walks import Walker, WalkGraph, WalkParams  # noqa: E402
from loaders.synthetic import synthetic_snapshot  # noqa: E402


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def kernel_rate(
    walker: Walker, params: WalkParams, walkers: int, repeats: int, device: str, threads: int = 1
) -> float:
    """Steps/s of `threads` lockstep blocks of `walkers` walkers each, advanced `params.walk_length` steps,
    `repeats` times, each block on a thread of its own (numpy releases the GIL in its loops)."""
    kernel = walker._kernel
    per = -(-params.steps // params.walk_length)
    products = np.flatnonzero(walker.graph.out_degree()[: walker.graph.n_products] > 0)
    first, width = len(products) // 3, -(-walkers // per)
    states = []
    for t in range(threads):  # block t starts from its own run of consecutive products (wrapping round)
        at = (first + t * width + np.arange(width)) % len(products)
        starts = np.repeat(products[at], per)[:walkers]  # width * per >= walkers: exactly `walkers`
        states.append(kernel.start(starts, np.random.SeedSequence(t)))

    def run(state: dict, times: int) -> None:
        for _ in range(times):
            kernel.advance(state, params.walk_length, params.restart)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, states, [1] * threads))  # warm up: allocations, kernels
        sync(device)
        started = time.perf_counter()
        list(pool.map(run, states, [repeats] * threads))
        sync(device)
        seconds = time.perf_counter() - started
    return threads * walkers * params.walk_length * repeats / seconds


def batch_rate(walker: Walker, params: WalkParams, n_products: int, device: str) -> float:
    products = np.arange(walker.graph.n_products // 2, walker.graph.n_products // 2 + n_products)
    walker.batch(products[:1000], k=100, params=params, seed=1)  # warm up
    sync(device)
    started = time.perf_counter()
    result = walker.batch(products, k=100, params=params, seed=0)
    sync(device)
    return result.steps / (time.perf_counter() - started)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--products", type=int, default=1_000_000)
    p.add_argument("--edges", type=int, default=10_000_000)
    p.add_argument("--small", action="store_true", help="20,000 products, 200,000 edges, small blocks")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--walkers", type=int, default=4_194_304, help="walkers stepped in lockstep on the device")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--batch-products", type=int, default=20_000, help="products walked end to end")
    args = p.parse_args()
    if args.small:
        args.products, args.edges, args.walkers, args.batch_products = 20_000, 200_000, 262_144, 1_000
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run with --device cpu for a check of the script", file=sys.stderr)
        return 2

    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"device {name}; torch {torch.__version__}, numpy {np.__version__}; {os.cpu_count()} CPU cores")
    started = time.perf_counter()
    snap = synthetic_snapshot(args.products, args.edges, n_categories=min(1000, args.products // 10))
    graph = WalkGraph.from_snapshot(snap, "complement")
    del snap
    print(
        f"synthetic: {args.products:,} products, {args.edges:,} co-purchase edges -> {graph.n_nodes:,} nodes, "
        f"{graph.nnz:,} stored edges; built in {time.perf_counter() - started:.1f} s"
    )
    params = WalkParams(steps=10_000)

    walker = Walker(graph, "torch", device=args.device)
    if args.device == "cpu":
        args.walkers = (
            walker._kernel.lockstep
        )  # more would wake torch's intra-op threads (see graph/walks/torch_kernel.py)
    gpu = kernel_rate(walker, params, args.walkers, args.repeats, args.device)
    print(
        f"torch-{args.device} walk kernel: {gpu / 1e9:.3f} G steps/s ({args.walkers:,} walkers in lockstep)"
    )
    gpu_batch = batch_rate(walker, params, args.batch_products, args.device)
    print(
        f"torch-{args.device} batch end to end: {gpu_batch / 1e6:.1f} M steps/s ({args.batch_products:,} products)"
    )
    del walker
    if args.device == "cuda":
        torch.cuda.empty_cache()

    cpu_walker = Walker(graph, "numpy")  # batch threads: all cores
    cores, block = cpu_walker.threads, cpu_walker._kernel.lockstep
    repeats = max(1, args.repeats // 2)
    one = kernel_rate(cpu_walker, params, block, repeats, "cpu")
    cpu = kernel_rate(cpu_walker, params, block, repeats, "cpu", threads=cores)
    print(
        f"numpy walk kernel, all {cores} cores ({cores} threads, a block of {block:,} walkers each): "
        f"{cpu / 1e6:.1f} M steps/s; one core: {one / 1e6:.1f} M steps/s ({cpu / one:.1f}x)"
    )
    cpu_batch = batch_rate(cpu_walker, params, max(200, args.batch_products // 20), "cpu")
    print(f"numpy batch end to end, all {cores} cores ({cores} threads): {cpu_batch / 1e6:.1f} M steps/s")
    print(
        f"ratio torch-{args.device}/numpy on all {cores} cores: walk kernel {gpu / cpu:.1f}x; "
        f"batch end to end {gpu_batch / cpu_batch:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
