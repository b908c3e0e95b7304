"""Do random-walk candidates contain held-out ALSO_BOUGHT partners? Recall@100 on the Beauty set, walks beside
item-to-item co-occurrence, each tuned on validation pairs, measured in the same run on the same split.

The pairs are held out the way training and evaluation hold them out (:func:`gnn.split.make_split`, seeded):
warm products lose one complement partner each, cold products all their co-purchase pairs (their reviews stay),
and a further set of warm-like products loses one partner each for validation; the held-out pairs are gone from
both lists, in both directions. Both methods see only the split's train graph. For a held-out pair a -> b, it is
found when b is among the top-100 candidates of a. At most ``--queries`` query products of each set are scored
(all their pairs; seeded), as the trainer samples its validation queries.

- walks: graph.walks.Walker.batch over the complement walk graph of the train graph; tuned: restart, degree
  norm, and the co-purchase lists' weight in the walk graph (``--restarts``, ``--degree-norms``,
  ``--list-weights``);
- co-occurrence: customers who reviewed a also reviewed b (R R^T), plus the co-purchase lists within 2 hops
  (A + A A), self excluded, ties by product id; tuned: the weights of R R^T and of A A (``--review-weights``,
  ``--hop2-weights``).

Each method's parameters are chosen by its recall on the validation pairs alone; the test pairs are scored once,
with the chosen ones: tuned against tuned. "raw" keeps a's known (training) partners among its candidates, as the
artifact does; "new" drops them first, so only unseen pairs compete for the 100 slots (each is tuned on its own).
New products (no interactions at all) are not scored: neither method can reach them. Figures only.

    .venv/bin/python bench/walk_recall.py [--data DIR] [--steps N] [--backend numpy]
    .venv/bin/python bench/walk_recall.py --synthetic 20000   # a synthetic catalog: a quick check of the script
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from gnn.split import make_split  # noqa: E402
from graph.snapshot import Snapshot  # noqa: E402
from graph.walks import RELATION_WEIGHTS, Walker, WalkGraph, WalkParams  # noqa: E402

K = 100
DATA = Path("/work/shared/data/amazon-beauty")
LISTS = ("ALSO_BOUGHT", "BOUGHT_TOGETHER")  # the co-purchase lists of the complement walk graph
VARIANTS = {"raw": False, "new": True}  # name -> drop a's known partners first


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


def some_queries(pairs: np.ndarray, queries: int, seed: int) -> np.ndarray:
    """All pairs of at most `queries` distinct query products, drawn with `seed`."""
    chosen = np.unique(pairs[:, 0])
    if len(chosen) > queries:
        chosen = np.random.default_rng(seed).choice(chosen, queries, replace=False)
    return pairs[np.isin(pairs[:, 0], chosen)]


class CoOccurrence:
    """``w_r R R^T + A + w_2 A A`` for some query products: the three terms are computed once, weighed per call."""

    def __init__(self, train: Snapshot, known: sp.csr_matrix) -> None:
        n = train.n("Product")
        cust, prod = train.rel("REVIEWED").coo()
        self.r = sp.csr_matrix((np.ones(len(cust)), (prod, cust)), shape=(n, train.rel("REVIEWED").n_rows))
        self.a = known.astype(np.float64)
        self._terms: dict[bytes, tuple[sp.csr_matrix, ...]] = {}

    def ranked(self, params: dict[str, float], sources: np.ndarray, width: int) -> np.ndarray:
        key = sources.tobytes()
        if key not in self._terms:
            self._terms = {key: (self.r[sources] @ self.r.T, self.a[sources], self.a[sources] @ self.a)}
        rr, a, aa = self._terms[key]
        score = (params["reviews"] * rr + a + params["hop2"] * aa).tocsr()
        out = np.full((len(sources), width), -1, np.int64)
        for i, s in enumerate(sources):
            lo, hi = score.indptr[i], score.indptr[i + 1]
            cand, val = score.indices[lo:hi], score.data[lo:hi]
            keep = (cand != s) & (val > 0)
            cand, val = cand[keep], val[keep]
            order = np.lexsort((cand, -val))[:width]
            out[i, : len(order)] = cand[order]
        return out


class Walks:
    """Walker.batch candidates; one walk graph per list weight, built on first use."""

    def __init__(self, train: Snapshot, args: argparse.Namespace) -> None:
        self.train, self.args = train, args
        self._walkers: dict[int, Walker] = {}
        self.steps, self.seconds = 0, 0.0

    def ranked(self, params: dict[str, float], sources: np.ndarray, width: int) -> np.ndarray:
        weight = int(params["list_weight"])
        if weight not in self._walkers:
            weights = {**RELATION_WEIGHTS["complement"], **dict.fromkeys(LISTS, weight)}
            graph = WalkGraph.from_snapshot(self.train, "complement", weights)
            self._walkers[weight] = Walker(graph, self.args.backend)
        walk = WalkParams(
            restart=params["restart"],
            steps=self.args.steps,
            walk_length=self.args.walk_length,
            degree_norm=params["degree_norm"],
        )
        started = time.perf_counter()
        result = self._walkers[weight].batch(sources, k=width, params=walk, seed=self.args.seed)
        self.seconds += time.perf_counter() - started
        self.steps += result.steps
        out = np.full((len(sources), width), -1, np.int64)
        for i in range(len(sources)):
            cand = result.candidates[i][result.candidates[i] >= 0][:width]
            out[i, : len(cand)] = cand
        return out


Ranker = Callable[[dict[str, float], np.ndarray, int], np.ndarray]


def top_k(ranked: np.ndarray, sources: np.ndarray, known: sp.csr_matrix, drop_known: bool) -> np.ndarray:
    """The first K of each row of `ranked` (-1: none), after dropping the source's known partners if asked."""
    out = np.full((len(sources), K), -1, np.int64)
    for i, s in enumerate(sources):
        cand = ranked[i][ranked[i] >= 0]
        if drop_known:
            cand = cand[~np.isin(cand, known.indices[known.indptr[s] : known.indptr[s + 1]])]
        out[i, : min(K, len(cand))] = cand[:K]
    return out


def recall(top: np.ndarray, sources: np.ndarray, pairs: np.ndarray) -> float:
    row = {int(s): i for i, s in enumerate(sources)}
    hits = sum(int(b in top[row[int(a)]]) for a, b in pairs)
    return hits / max(len(pairs), 1)


def recalls(
    rank: Ranker, params: dict[str, float], pairs: np.ndarray, known: sp.csr_matrix
) -> dict[str, float]:
    """Recall@K of each variant (raw, new) of `rank` with `params` over `pairs`."""
    sources = np.unique(pairs[:, 0])
    # more than K when known partners will be dropped, so that K new ones remain
    width = K + int(known.getnnz(axis=1)[sources].max(initial=0))
    ranked = rank(params, sources, width)
    return {v: recall(top_k(ranked, sources, known, drop), sources, pairs) for v, drop in VARIANTS.items()}


def tune(
    name: str, rank: Ranker, grid: list[dict[str, float]], valid: np.ndarray, known: sp.csr_matrix
) -> dict[str, dict[str, float]]:
    """The parameters of `grid` with the best validation recall, per variant; prints each point's recall."""
    scored = []
    for params in grid:
        r = recalls(rank, params, valid, known)
        scored.append((params, r))
        print(f"  valid {name:<13} {fmt(params):<44} raw {r['raw']:.4f}  new {r['new']:.4f}", flush=True)
    return {v: max(scored, key=lambda pr: pr[1][v])[0] for v in VARIANTS}


def fmt(params: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in params.items())


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def main() -> int:
    defaults = WalkParams(steps=10_000)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--synthetic", type=int, help="a synthetic catalog of N products instead of Beauty")
    p.add_argument("--seed", type=int, default=0, help="the split's seed (and the walks')")
    p.add_argument(
        "--queries", type=int, default=2000, help="query products scored per set (default %(default)s)"
    )
    p.add_argument("--backend", default="numpy")
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--walk-length", type=int, default=defaults.walk_length)
    p.add_argument("--restarts", type=floats, default=[0.3, 0.5, 0.7], help="walks: restart values tried")
    p.add_argument("--degree-norms", type=floats, default=[0.0, 0.2, 0.5], help="walks: degree norms tried")
    p.add_argument(
        "--list-weights",
        type=floats,
        default=[float(RELATION_WEIGHTS["complement"]["ALSO_BOUGHT"])],
        help="walks: weights of the co-purchase lists in the walk graph tried (reviews weigh 1)",
    )
    p.add_argument(
        "--review-weights", type=floats, default=[0.1, 1.0, 10.0], help="co-occurrence: R R^T weights"
    )
    p.add_argument("--hop2-weights", type=floats, default=[0.0, 0.1, 1.0], help="co-occurrence: A A weights")
    args = p.parse_args()

    started = time.perf_counter()
    if args.synthetic:
        from loaders.synthetic import synthetic_snapshot

        snap = synthetic_snapshot(
            args.synthetic, 10 * args.synthetic, n_categories=max(10, args.synthetic // 100)
        )
        name = f"synthetic {args.synthetic:,}"
    else:
        snap = load_beauty(args.data)
        name = "Beauty"
    split = make_split(snap, seed=args.seed)
    train = split.train
    ab = train.rel("ALSO_BOUGHT")
    n = train.n("Product")
    known = sp.csr_matrix((np.ones(ab.nnz), (ab.coo()[0], ab.indices)), shape=(n, n))
    held = split.heldout["complement"]
    valid = some_queries(split.valid["complement"], args.queries, args.seed)
    test = {pop: some_queries(held[pop], args.queries, args.seed) for pop in ("warm", "cold")}
    print(
        f"{name}: {snap.n('Product'):,} products, {snap.n('Customer'):,} customers, "
        f"{snap.rel('ALSO_BOUGHT').nnz:,} ALSO_BOUGHT; gnn.split.make_split (seed {args.seed}): "
        + ", ".join(f"{pop} {len(pairs):,} pairs" for pop, pairs in [("valid", valid), *test.items()])
        + f" (at most {args.queries:,} query products each); loaded and split in {time.perf_counter() - started:.1f} s"
    )
    print(f"walks: {args.steps:,} steps per product, walk length {args.walk_length}, backend {args.backend}")

    walks, cooc = Walks(train, args), CoOccurrence(train, known)
    methods: dict[str, tuple[Ranker, list[dict[str, float]]]] = {
        "walks": (
            walks.ranked,
            [
                {"restart": r, "degree_norm": d, "list_weight": w}
                for r, d, w in itertools.product(args.restarts, args.degree_norms, args.list_weights)
            ],
        ),
        "co-occurrence": (
            cooc.ranked,
            [{"reviews": r, "hop2": h} for r, h in itertools.product(args.review_weights, args.hop2_weights)],
        ),
    }
    print(f"tuning on the {len(valid):,} validation pairs (recall@{K}):")
    chosen = {m: tune(m, rank, grid, valid, known) for m, (rank, grid) in methods.items()}
    for m, per_variant in chosen.items():
        print(f"chosen for {m}: " + "; ".join(f"{v}: {fmt(params)}" for v, params in per_variant.items()))

    walks.steps, walks.seconds = 0, 0.0  # the speed of the test runs alone
    for pop, pairs in test.items():
        got: dict[str, dict[str, float]] = {}
        for m, per_variant in chosen.items():
            runs: dict[str, dict[str, float]] = {}  # a parameter set chosen for both variants is walked once
            for params in per_variant.values():
                if fmt(params) not in runs:
                    runs[fmt(params)] = recalls(methods[m][0], params, pairs, known)
            got[m] = {v: runs[fmt(params)][v] for v, params in per_variant.items()}
        for v in VARIANTS:
            w, c = got["walks"][v], got["co-occurrence"][v]
            print(
                f"recall@{K} {pop} ({v}), tuned vs tuned: walks {w:.4f}   co-occurrence {c:.4f}   "
                f"ratio {w / c if c else float('nan'):.3f}   ({len(pairs):,} test pairs)"
            )
    print(f"walks on the test queries: {walks.steps / max(walks.seconds, 1e-9) / 1e6:.1f} M steps/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
