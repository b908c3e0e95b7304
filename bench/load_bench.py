"""Load throughput: relationships per second into the local store and into Neo4j, on the Amazon Beauty set.

    .venv/bin/python bench/load_bench.py [--data DIR] [--skip-neo4j]

The files are parsed once into batches first, so each store is timed on writing alone. Baselines in the same run:
parsing alone (the ceiling any store can reach from these files) and, for Neo4j, one MERGE per transaction on a
sample (what a naive loader does). Neo4j runs against the project's server (`kgrec neo4j start`) or NEO4J_URI, in
an emptied database. Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph.local_store import LocalStore  # noqa: E402
from graph.schema import GraphBatch  # noqa: E402
from loaders.amazon import read_amazon  # noqa: E402
from loaders.quarantine import Quarantine  # noqa: E402
from loaders.summary import LoadSummary  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon-beauty"


def n_rels(batches: list[GraphBatch]) -> int:
    return sum(t.num_rows for b in batches for t in b.rels.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--skip-neo4j", action="store_true")
    ap.add_argument(
        "--naive-sample", type=int, default=2000, help="relationships written one per transaction"
    )
    args = ap.parse_args()

    t = time.perf_counter()
    batches = list(
        read_amazon(
            args.data / "meta_Beauty.json.gz",
            args.data / "reviews_Beauty_5.json.gz",
            Quarantine(None),
            LoadSummary(),
        )
    )
    parse_s = time.perf_counter() - t
    rels = n_rels(batches)
    parse_rate = rels / parse_s
    print(f"relationships in the Beauty set: {rels:,}")
    print(f"parse only (baseline)    : {parse_s:7.2f} s  {parse_rate:12,.0f} rel/s")

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        LocalStore(Path(d)).write(batches)
        local_s = time.perf_counter() - t
    local_rate = rels / local_s
    print(
        f"local store (Parquet)    : {local_s:7.2f} s  {local_rate:12,.0f} rel/s  ({local_rate / parse_rate:.2f}x parsing)"
    )

    if args.skip_neo4j:
        return
    from graph.neo4j.store import Neo4jStore

    store = Neo4jStore.connect()
    try:
        store.clear()
        t = time.perf_counter()
        store.write(batches)
        neo_s = time.perf_counter() - t
        neo_rate = rels / neo_s
        print(
            f"Neo4j, batched UNWIND    : {neo_s:7.2f} s  {neo_rate:12,.0f} rel/s  ({neo_rate / parse_rate:.2f}x parsing)"
        )

        # naive baseline: the same MERGE statement, one relationship per transaction, on a sample
        t = time.perf_counter()
        done = 0
        for batch in batches:
            for type_, table in batch.rels.items():
                for row in range(min(table.num_rows, args.naive_sample - done)):
                    store.write([GraphBatch(rels={type_: table.slice(row, 1)})])
                    done += 1
                if done >= args.naive_sample:
                    break
            if done >= args.naive_sample:
                break
        naive_rate = done / (time.perf_counter() - t)
        print(
            f"Neo4j, one per transaction: {done:,} rels   {naive_rate:12,.0f} rel/s  (batched is {neo_rate / naive_rate:.0f}x)"
        )
        print("goal: >= 50,000 rel/s into Neo4j on this 2-core machine")
    finally:
        store.close()


if __name__ == "__main__":
    main()
