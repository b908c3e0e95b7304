"""How fast do the walks run on the CPU? Steps per second of batch walks (numpy and torch) and the latency of a
single 100,000-step query, on the synthetic catalog (loaders/synthetic.py), with ratios measured in this run.

A step is one edge traversal. Reported:
- walk kernel: walkers stepping in lockstep, chunks of consecutive products as batch mode forms them, on the
  batch threads (the visits are recorded, not counted);
- batch end to end: Walker.batch over a slice of products (walk, count, top-k), the artifact's work;
- a naive per-walker Python loop over the same CSR, timed briefly, as the baseline of the ratios;
- single queries: Walker.query from random products, 100,000 steps without early stopping (the full walk),
  then with the default early stopping; p50 and p99 over --queries queries.
Figures only, no assertions: the machine is shared, and ratios taken in one run are what compare.

    .venv/bin/python bench/walk_speed.py [--products 1000000 --edges 10000000] [--small]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from graph.walks import Walker, WalkGraph, WalkParams  # noqa: E402
from loaders.synthetic import synthetic_snapshot  # noqa: E402


def kernel_rate(walker: Walker, params: WalkParams, n_chunks: int) -> tuple[float, float]:
    """(steps per second, steps per CPU second) of the lockstep walk alone, chunks as Walker.batch forms them, on
    its threads. On a shared machine the second says what one free core does."""
    kernel = walker._kernel
    per = -(-params.steps // params.walk_length)
    size = max(1, kernel.lockstep // per)
    products = np.flatnonzero(walker.graph.out_degree()[: walker.graph.n_products] > 0)
    first = len(products) // 3  # a slice from the middle: no special first products

    def run(i: int) -> int:
        qs = products[first + i * size : first + (i + 1) * size]
        state = kernel.start(np.repeat(qs, per), np.random.SeedSequence(0, spawn_key=(i,)))
        kernel.advance(state, params.walk_length, params.restart)
        return len(qs) * per * params.walk_length

    run(n_chunks)  # warm up
    started, cpu_started = time.perf_counter(), time.process_time()
    if walker.on_cpu and walker.threads > 1:
        with ThreadPoolExecutor(walker.threads) as pool:
            steps = sum(pool.map(run, range(n_chunks)))
    else:
        steps = sum(run(i) for i in range(n_chunks))
    return steps / (time.perf_counter() - started), steps / (time.process_time() - cpu_started)


def batch_rate(walker: Walker, params: WalkParams, n_products: int) -> tuple[float, float]:
    """(steps per second, steps per CPU second) of Walker.batch end to end."""
    products = np.arange(walker.graph.n_products // 2, walker.graph.n_products // 2 + n_products)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = walker.batch(products, k=100, params=params, seed=0)
    return result.steps / (time.perf_counter() - started), result.steps / (time.process_time() - cpu_started)


def naive_rate(graph: WalkGraph, restart: float, seconds: float) -> float:
    """One walker at a time in plain Python over the same CSR: the baseline the vectorized walks replace."""
    indptr, indices = graph.indptr, graph.indices
    products = np.flatnonzero(graph.out_degree()[: graph.n_products] > 0)
    rnd = random.Random(0)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        start = cur = int(products[rnd.randrange(len(products))])
        for _ in range(1000):
            lo, hi = int(indptr[cur]), int(indptr[cur + 1])
            if hi == lo or rnd.random() < restart:
                cur = start
                lo, hi = int(indptr[cur]), int(indptr[cur + 1])
            cur = int(indices[lo + int(rnd.random() * (hi - lo))])
        steps += 1000
    return steps / (time.perf_counter() - started)


def latencies(walker: Walker, params: WalkParams, n: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(wall ms, CPU ms, mean steps) per query; on a shared machine the CPU time is the latency of a free core."""
    rng = np.random.default_rng(1)
    products = np.flatnonzero(walker.graph.out_degree()[: walker.graph.n_products] > 0)
    queries = rng.choice(products, n + 10)
    for q in queries[:10]:  # warm up
        walker.query(int(q), params=params, seed=0)
    wall, cpu, steps = [], [], 0
    for i, q in enumerate(queries[10:]):
        started, cpu_started = time.perf_counter(), time.process_time()
        steps += walker.query(int(q), k=100, params=params, seed=i).steps
        cpu.append(time.process_time() - cpu_started)
        wall.append(time.perf_counter() - started)
    return np.array(wall) * 1e3, np.array(cpu) * 1e3, steps / n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--products", type=int, default=1_000_000)
    p.add_argument("--edges", type=int, default=10_000_000)
    p.add_argument("--small", action="store_true", help="20,000 products and 200,000 edges: a quick check")
    p.add_argument("--queries", type=int, default=300)
    p.add_argument(
        "--batch-products", type=int, default=20_000, help="products walked end to end (200M steps: seconds)"
    )
    p.add_argument("--backends", default="numpy,torch")
    args = p.parse_args()
    if args.small:
        args.products, args.edges, args.queries, args.batch_products = 20_000, 200_000, 200, 500

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    started = time.perf_counter()
    snap = synthetic_snapshot(args.products, args.edges, n_categories=min(1000, args.products // 10))
    graph = WalkGraph.from_snapshot(snap, "complement")
    del snap
    print(
        f"synthetic: {args.products:,} products, {args.edges:,} co-purchase edges -> complement walk graph of "
        f"{graph.n_nodes:,} nodes, {graph.nnz:,} stored edges; built in {time.perf_counter() - started:.1f} s"
    )
    batch = WalkParams(steps=10_000)
    print(
        f"batch: {batch.steps:,} steps per product, walk length {batch.walk_length}, restart {batch.restart}"
    )
    naive = naive_rate(graph, batch.restart, 2.0)
    print(f"naive per-walker Python loop: {naive / 1e6:.2f} M steps/s")
    rates: dict[str, tuple[float, float]] = {}
    for backend in args.backends.split(","):
        walker = Walker(graph, backend, device="cpu" if backend == "torch" else None)
        kernel, kernel_cpu = kernel_rate(walker, batch, n_chunks=8 * walker.threads)
        end_to_end, end_to_end_cpu = batch_rate(walker, batch, args.batch_products)
        rates[backend] = (kernel, end_to_end)
        print(
            f"{backend:14s} ({walker.threads} threads): walk kernel {kernel / 1e6:5.1f} M steps/s "
            f"({kernel / naive:,.0f}x naive; {kernel_cpu / 1e6:.1f} M per CPU second), batch end to end "
            f"{end_to_end / 1e6:5.1f} M steps/s ({end_to_end / naive:,.0f}x naive; "
            f"{end_to_end_cpu / 1e6:.1f} M per CPU second)"
        )
        if backend == "numpy":
            for label, params in (
                ("100,000 steps, no early stop", WalkParams(steps=100_000, n_v=0)),
                ("100,000 steps, early stopping", WalkParams(steps=100_000)),
            ):
                wall, cpu, steps = latencies(walker, params, args.queries)
                print(
                    f"single query ({label}, {steps:,.0f} steps on average): wall p50 "
                    f"{np.percentile(wall, 50):.2f} ms, p99 {np.percentile(wall, 99):.2f} ms; CPU p50 "
                    f"{np.percentile(cpu, 50):.2f} ms, p99 {np.percentile(cpu, 99):.2f} ms; {len(wall)} queries"
                )
        del walker
    if "numpy" in rates and "torch" in rates:
        (nk, nb), (tk, tb) = rates["numpy"], rates["torch"]
        print(f"ratio torch/numpy: walk kernel {tk / nk:.2f}, batch end to end {tb / nb:.2f}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
