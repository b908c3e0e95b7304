"""`kgrec score`: the model's score of given product pairs, one per line (a<TAB>b<TAB>score)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from graph.schema import RELATIONS
from graph.stores import default_store, open_store


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "score",
        help="score product pairs with a trained model",
        description=(
            "Read pairs 'a<TAB>b' (ASINs; '-' for stdin) and print 'a<TAB>b<TAB>score' with the model's score of "
            "b as a complement (directional: a -> b) or substitute of a, over the store's current graph. A line "
            "naming an unknown product, or malformed, is reported on stderr with its number and skipped."
        ),
    )
    p.add_argument(
        "--store", default=default_store(), help="local:DIR, neo4j or a neo4j:// URI (default %(default)s)"
    )
    p.add_argument(
        "--registry", type=Path, default=Path("var/registry"), help="model registry (default %(default)s)"
    )
    p.add_argument("--version", help="run to use (default: the promoted one)")
    p.add_argument("--relation", choices=RELATIONS, required=True)
    p.add_argument("pairs", help="a TSV file of pairs, or - for stdin")
    return p


def run(args: argparse.Namespace) -> int:
    import torch

    from gnn.model_scorer import load_scorer
    from gnn.registry import ArtifactError, Registry

    torch.set_num_threads(1)
    try:
        lines = (
            sys.stdin.read().splitlines() if args.pairs == "-" else Path(args.pairs).read_text().splitlines()
        )
    except OSError as e:
        print(f"kgrec score: {e}", file=sys.stderr)
        return 2
    store = open_store(args.store)
    try:
        snap = store.snapshot()
    finally:
        store.close()
    index = snap.index("Product")
    pairs: list[tuple[int, str, str, int, int]] = []  # line number, a, b, ids
    bad = 0
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip("\n").split("\t")
        if len(fields) < 2:
            print(f"line {number}: expected 'a<TAB>b', got {line!r}", file=sys.stderr)
            bad += 1
            continue
        a, b = fields[0].strip(), fields[1].strip()
        unknown = [p for p in (a, b) if p not in index]
        if unknown:
            print(f"line {number}: unknown product {', '.join(unknown)}", file=sys.stderr)
            bad += 1
            continue
        pairs.append((number, a, b, index[a], index[b]))
    try:
        scorer = load_scorer(Registry(args.registry), args.version, snap)
    except ArtifactError as e:
        print(f"kgrec score: {e}", file=sys.stderr)
        return 1
    queries = np.unique([p[3] for p in pairs]).astype(np.int64)
    row = np.searchsorted(queries, [p[3] for p in pairs])
    result = np.empty(len(pairs), np.float32)
    for lo in range(0, len(queries), 256):
        block = queries[lo : lo + 256]
        scores = scorer.scores(args.relation, block)
        mine = np.flatnonzero((row >= lo) & (row < lo + len(block)))
        result[mine] = scores[row[mine] - lo, [pairs[i][4] for i in mine]]
    for (_, a, b, _, _), score in zip(pairs, result, strict=True):
        sys.stdout.write(f"{a}\t{b}\t{score:.6f}\n")
    return 1 if bad and not pairs else 0
