"""Load throughput: relationships per second into the local store and into Neo4j, on the Amazon Beauty set.

    .venv/bin/python bench/load_bench.py [--data DIR] [--skip-neo4j]

The files are parsed once into batches first, so each store is timed on writing alone. Baselines in the same run:
parsing alone (the ceiling any store can reach from these files) and, for Neo4j, one relationship per transaction
on a sample (what a naive loader does). The sample is held back from the batched load and written after it, so
each of its rows is a relationship that does not exist yet between nodes that do: both paths are timed on
creating relationships (the line prints how many were created), not on finding ones already there. Neo4j runs
against the project's server (`kgrec neo4j start`) or NEO4J_URI, in an emptied database. Prints figures and
ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph.local_store import LocalStore  # noqa: E402
from graph.schema import GraphBatch  # noqa: E402
from loaders.amazon import read_amazon  # noqa: E402
from loaders.quarantine import Quarantine  # noqa: E402
from loaders.summary import LoadSummary  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon-beauty"


def n_rels(batches: list[GraphBatch]) -> int:
    return sum(t.num_rows for b in batches for t in b.rels.values())


def hold_back(batches: list[GraphBatch], n: int) -> tuple[list[GraphBatch], list[GraphBatch]]:
    """(the batches without a sample of `n` relationships, the sample one relationship a batch).

    The sample is spread over the load (every so many rows, so it mixes the types as the load does) and takes only
    relationships whose (type, source, target) occurs once in the whole load, so writing it after the rest creates
    each of them; its end nodes stay in the rest.
    """
    seen: dict[tuple[str, object, object], int] = {}
    for b in batches:
        for type_, table in b.rels.items():
            for key in zip(table.column("src").to_pylist(), table.column("dst").to_pylist(), strict=True):
                seen[(type_, *key)] = seen.get((type_, *key), 0) + 1
    rest: list[GraphBatch] = []
    sample: list[GraphBatch] = []
    stride, at = max(1, len(seen) // max(n, 1)), 0
    for b in batches:
        rels: dict[str, pa.Table] = {}
        for type_, table in b.rels.items():
            if len(sample) >= n:
                rels[type_] = table
                continue
            src, dst = table.column("src").to_pylist(), table.column("dst").to_pylist()
            keep = []
            for row, key in enumerate(zip(src, dst, strict=True)):
                at += 1
                if len(sample) < n and at % stride == 0 and seen[(type_, *key)] == 1:
                    sample.append(GraphBatch(rels={type_: table.slice(row, 1)}))
                else:
                    keep.append(row)
            rels[type_] = table.take(pa.array(keep, pa.int64()))
        rest.append(GraphBatch(nodes=b.nodes, rels=rels))
    return rest, sample


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

    rest, sample = hold_back(batches, args.naive_sample)
    store = Neo4jStore.connect()
    try:
        store.clear()
        t = time.perf_counter()
        counts = store.write(rest)
        neo_s = time.perf_counter() - t
        neo_rels = n_rels(rest)
        neo_rate = neo_rels / neo_s
        created = sum(counts.created.get(type_, 0) for type_ in {t for b in rest for t in b.rels})
        print(
            f"Neo4j, batched UNWIND    : {neo_s:7.2f} s  {neo_rate:12,.0f} rel/s  ({neo_rate / parse_rate:.2f}x parsing; "
            f"{created:,} of {neo_rels:,} created, {len(sample):,} held back)"
        )

        # naive baseline: one relationship per transaction, each new (held back from the batched load)
        t = time.perf_counter()
        created = 0
        for one in sample:
            created += sum(store.write([one]).created.values())
        naive_rate = len(sample) / (time.perf_counter() - t)
        print(
            f"Neo4j, one per transaction: {len(sample):,} rels   {naive_rate:12,.0f} rel/s  "
            f"({created:,} created; batched is {neo_rate / naive_rate:.0f}x)"
        )
        print("goal: >= 50,000 rel/s into Neo4j on this 2-core machine")
    finally:
        store.close()


if __name__ == "__main__":
    main()
