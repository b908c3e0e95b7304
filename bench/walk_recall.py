"""Do random-walk candidates contain held-out ALSO_BOUGHT partners? Recall@100 on the Beauty set, walks beside
item-to-item co-occurrence, measured in the same run on the same split.

10% of ALSO_BOUGHT edges (seeded) are held out; both methods see only the rest (reviews stay: they are not what
is predicted). For a held-out edge a -> b, it is found when b is among the top-100 candidates of a.
- walks: graph.walks.Walker.batch over the complement walk graph of the training snapshot;
- co-occurrence: customers who reviewed a also reviewed b (R R^T), plus the co-purchase lists within 2 hops
  (A + A A), self excluded, ties by product id.
"raw" keeps a's known (training) partners among its candidates, as the artifact does; "new" drops them first,
so only unseen pairs compete for the 100 slots.

    .venv/bin/python bench/walk_recall.py [--data DIR] [--steps N] [--restart A] [--backend numpy]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from graph.snapshot import CSR, Snapshot  # noqa: E402
from graph.walks import RELATION_WEIGHTS, Walker, WalkGraph, WalkParams  # noqa: E402

K = 100
DATA = Path("/work/shared/data/amazon-beauty")


def load_beauty(data: Path) -> Snapshot:
    from loaders.amazon import read_amazon
    from loaders.quarantine import Quarantine
    from loaders.summary import LoadSummary

    nodes: dict[str, list[pa.Table]] = {}
    rels: dict[str, list[pa.Table]] = {}
    batches = read_amazon(
        data / "meta_Beauty.json.gz", data / "reviews_Beauty_5.json.gz", Quarantine(None), LoadSummary()
    )
    for batch in batches:
        for label, table in batch.nodes.items():
            nodes.setdefault(label, []).append(table)
        for type_, table in batch.rels.items():
            rels.setdefault(type_, []).append(table)
    return Snapshot.from_tables(
        {k: pa.concat_tables(v) for k, v in nodes.items()}, {k: pa.concat_tables(v) for k, v in rels.items()}
    )


def hold_out(snap: Snapshot, share: float, seed: int) -> tuple[Snapshot, np.ndarray, np.ndarray]:
    """(training snapshot, held-out src, held-out dst): `share` of ALSO_BOUGHT edges removed at random."""
    ab = snap.rel("ALSO_BOUGHT")
    src, dst = ab.coo()
    test = np.random.default_rng(seed).random(ab.nnz) < share
    train = dict(snap.rels)
    train["ALSO_BOUGHT"] = CSR.from_coo(src[~test], dst[~test], ab.n_rows, ab.n_cols)
    return Snapshot(ids=snap.ids, rels=train, titles=snap.titles, prices=snap.prices), src[test], dst[test]


def cooccurrence_top_k(
    train: Snapshot, sources: np.ndarray, known: sp.csr_matrix, drop_known: bool
) -> np.ndarray:
    n = train.n("Product")
    rev = train.rel("REVIEWED")
    cust, prod = rev.coo()
    r = sp.csr_matrix((np.ones(len(cust)), (prod, cust)), shape=(n, rev.n_rows))
    a = known.astype(np.float64)
    score = (r @ r.T + a + a @ a).tocsr()
    out = np.full((len(sources), K), -1, np.int64)
    for i, s in enumerate(sources):
        row = score.getrow(s)
        cand, val = row.indices, row.data
        keep = cand != s
        if drop_known:
            keep &= ~np.isin(cand, known.getrow(s).indices)
        cand, val = cand[keep], val[keep]
        order = np.lexsort((cand, -val))[:K]
        out[i, : len(order)] = cand[order]
    return out


def walk_top_k(
    train: Snapshot, sources: np.ndarray, known: sp.csr_matrix, drop_known: bool, args: argparse.Namespace
) -> tuple[np.ndarray, float, int]:
    graph = WalkGraph.from_snapshot(train, "complement", args.weights)
    walker = Walker(graph, args.backend)
    # ask for more than K when known partners will be dropped, so K new ones remain
    extra = int(known.getnnz(axis=1)[sources].max()) if drop_known else 0
    params = WalkParams(
        restart=args.restart, steps=args.steps, walk_length=args.walk_length, degree_norm=args.degree_norm
    )
    started = time.perf_counter()
    result = walker.batch(sources, k=K + extra, params=params, seed=args.seed)
    seconds = time.perf_counter() - started
    out = np.full((len(sources), K), -1, np.int64)
    for i, s in enumerate(sources):
        cand = result.candidates[i][result.candidates[i] >= 0]
        if drop_known:
            cand = cand[~np.isin(cand, known.getrow(s).indices)]
        out[i, : min(K, len(cand))] = cand[:K]
    return out, seconds, result.steps


def recall(top: np.ndarray, sources: np.ndarray, test_src: np.ndarray, test_dst: np.ndarray) -> float:
    row = {int(s): i for i, s in enumerate(sources)}
    hits = sum(int(d in top[row[int(s)]]) for s, d in zip(test_src, test_dst, strict=True))
    return hits / len(test_src)


def main() -> int:
    defaults = WalkParams(steps=10_000)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--share", type=float, default=0.1, help="ALSO_BOUGHT edges held out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default="numpy")
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--restart", type=float, default=defaults.restart)
    p.add_argument("--walk-length", type=int, default=defaults.walk_length)
    p.add_argument("--degree-norm", type=float, default=defaults.degree_norm)
    p.add_argument(
        "--weights",
        type=lambda s: {k: int(v) for k, v in (kv.split("=") for kv in s.split(","))},
        default=RELATION_WEIGHTS["complement"],
        help="type=weight,... (default %(default)s)",
    )
    args = p.parse_args()

    started = time.perf_counter()
    snap = load_beauty(args.data)
    train, test_src, test_dst = hold_out(snap, args.share, args.seed)
    ab = train.rel("ALSO_BOUGHT")
    known = sp.csr_matrix(
        (np.ones(ab.nnz), (ab.coo()[0], ab.indices)), shape=(train.n("Product"), train.n("Product"))
    )
    sources = np.unique(test_src)
    print(
        f"Beauty: {snap.n('Product'):,} products, {snap.n('Customer'):,} customers, "
        f"{snap.rel('ALSO_BOUGHT').nnz:,} ALSO_BOUGHT; held out {len(test_src):,} edges from {len(sources):,} "
        f"products (seed {args.seed}); loaded in {time.perf_counter() - started:.1f} s"
    )
    print(
        f"walks: weights {args.weights}, restart {args.restart}, {args.steps:,} steps per product, "
        f"walk length {args.walk_length}, degree norm {args.degree_norm}, backend {args.backend}"
    )
    for drop_known, label in ((False, "raw"), (True, "new")):
        walk, seconds, steps = walk_top_k(train, sources, known, drop_known, args)
        cooc = cooccurrence_top_k(train, sources, known, drop_known)
        r_walk = recall(walk, sources, test_src, test_dst)
        r_cooc = recall(cooc, sources, test_src, test_dst)
        print(
            f"recall@{K} ({label}): walks {r_walk:.4f}   co-occurrence {r_cooc:.4f}   "
            f"ratio {r_walk / r_cooc:.3f}   ({steps / seconds / 1e6:.1f} M steps/s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
