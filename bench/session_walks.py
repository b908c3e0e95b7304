"""Session walks: one joint walk per query (Walker.query) against each seed's own walk kept (ProductVisits).

    python bench/session_walks.py --store local:var/demo-store    # Beauty, loaded with `kgrec load`

For 3,000 customers of Amazon Beauty (in a fixed random order), the last review is held out and up to five
earlier ones seed a query, newest first with weights 0.8^i, as a session's recent events would. Prints hit@10,
hit@50 and hit@200 of the held-out product among each method's walk candidates, and the time per query, both
measured in the same run. The walk graph holds the held-out review too, for both methods alike: the figures
compare the two, they are not a held-out quality claim (kgrec evaluate makes those).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.catalog import SESSION_WALK, WALK_CANDIDATES, Catalog  # noqa: E402
from graph.stores import open_store  # noqa: E402

REVIEWS = ROOT.parent / "shared" / "data" / "amazon-beauty" / "reviews_Beauty_5.json.gz"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--store", default="local:var/demo-store", help="a store holding Beauty (default %(default)s)"
    )
    p.add_argument("--customers", type=int, default=3000, help="customers asked (default %(default)s)")
    args = p.parse_args()

    t = time.perf_counter()
    catalog = Catalog(open_store(args.store).snapshot(), walks=True)
    assert catalog.walker is not None and catalog.visits is not None
    print(f"catalog with kept walks built in {time.perf_counter() - t:.1f} s")
    history: dict[str, list[tuple[int, str]]] = {}
    with gzip.open(REVIEWS, "rt") as f:
        for line in f:
            r = json.loads(line)
            if "unixReviewTime" in r and "asin" in r:
                history.setdefault(r["reviewerID"], []).append((r["unixReviewTime"], r["asin"]))
    customers = list(history)
    np.random.default_rng(0).shuffle(customers)

    methods = {
        "joint walk per query": lambda q, seeds: catalog.walker.query(  # type: ignore[union-attr]
            q, k=WALK_CANDIDATES, params=SESSION_WALK, seed=zlib.crc32(np.asarray(seeds, np.int64).tobytes())
        ),
        "kept walk per seed": lambda q, seeds: catalog.visits.query(q, k=WALK_CANDIDATES),  # type: ignore[union-attr]
    }
    cutoffs = (10, 50, 200)
    hits = {m: np.zeros(len(cutoffs)) for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    n = 0
    for c in customers[: args.customers]:
        seq = [catalog.position[a] for _, a in sorted(history[c]) if a in catalog.position]
        if len(seq) < 3 or seq[-1] in seq[-6:-1]:
            continue
        seeds, target = seq[-6:-1][::-1], seq[-1]
        query = {s: 0.8**i for i, s in enumerate(seeds)}
        n += 1
        for name, method in methods.items():
            t = time.perf_counter()
            found = method(query, seeds).products.tolist()
            seconds[name] += time.perf_counter() - t
            hits[name] += [target in found[:k] for k in cutoffs]
    print(f"{n:,} queries (last review held out, up to 5 earlier ones as seeds)")
    base = "joint walk per query"
    for name in methods:
        rates = ", ".join(f"hit@{k} {h / n:.4f}" for k, h in zip(cutoffs, hits[name], strict=True))
        per = seconds[name] / n * 1e6
        print(
            f"{name:<22} {rates}   {per:6.0f} us/query   ({seconds[base] / seconds[name]:.2f}x the joint walk's speed)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
