"""`kgrec candidates`: Pixie random-walk candidates for every product, written as an .npz artifact."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from graph.stores import default_store, open_store
from graph.walks import BACKENDS, RELATION_WEIGHTS, Walker, WalkGraph, WalkParams, save_candidates

DEFAULT_STEPS = 10_000  # per product: enough for a stable top 100 on the Beauty set (bench/walk_recall.py)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "candidates",
        help="random-walk candidates for every product (the GNN ranks them)",
        description=(
            "Walk the product graph from every product (Pixie-style walks with restart) and write the top-K "
            "visited products of each as an .npz artifact: product_ids, queries, candidates [n, K] int32 "
            "(-1 padded), counts [n, K] float32, meta."
        ),
    )
    p.add_argument("--store", default=default_store(), help="local:DIR or neo4j or a neo4j:// URI")
    p.add_argument("--relation", choices=sorted(RELATION_WEIGHTS), default="complement")
    p.add_argument("--k", type=int, default=100, help="candidates per product (default %(default)s)")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="walk backend (default %(default)s)")
    p.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    p.add_argument(
        "--steps", type=int, default=DEFAULT_STEPS, help="walk steps per product (default %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    if args.k < 1 or args.steps < 1:
        print("kgrec candidates: --k and --steps must be >= 1", file=sys.stderr)
        return 2
    started = time.perf_counter()
    store = open_store(args.store)
    try:
        snapshot = store.snapshot()
    finally:
        store.close()
    graph = WalkGraph.from_snapshot(snapshot, args.relation)
    walker = Walker(graph, args.backend)
    print(f"backend {walker.backend} ({walker.reason}); {graph.n_nodes:,} nodes, {graph.nnz:,} stored edges")
    params = WalkParams(steps=args.steps)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=graph.n_products, unit="product", desc="walks")
    walk_started = time.perf_counter()
    try:
        result = walker.batch(k=args.k, params=params, seed=args.seed, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "relation": args.relation,
        "backend": walker.backend,
        "k": args.k,
        "seed": args.seed,
        "weights": dict(graph.weights),
        "params": params.__dict__,
    }
    walk_seconds = time.perf_counter() - walk_started
    save_candidates(args.out, result, snapshot.ids["Product"], meta)
    found = int((result.candidates >= 0).sum())
    print(
        f"{graph.n_products:,} products, {found:,} candidates, {result.steps:,} steps in {walk_seconds:.1f} s "
        f"({time.perf_counter() - started:.1f} s in all) -> {args.out}"
    )
    print(json.dumps({"steps_per_second": round(result.steps / walk_seconds) if walk_seconds else None}))
    return 0
