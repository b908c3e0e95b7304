"""`kgrec load`: read Amazon files or an edge list, quarantine bad rows, merge the rest into a store."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from graph.schema import GraphBatch
from graph.stores import open_store
from kgrec.options import add_store


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "load",
        help="load Amazon metadata/reviews or an edge list into a store",
        description=(
            "Load Amazon product metadata and reviews (2014 or 2018 layout, gzipped or plain) or a TSV/CSV edge "
            "list (src, dst, relation[, weight]) into a graph store. Malformed rows go to a quarantine file with "
            "file, line and reason; every good row loads. Loading the same files twice changes nothing."
        ),
    )
    add_store(p)
    p.add_argument("--meta", type=Path, help="Amazon product metadata (meta_*.json[.gz])")
    p.add_argument("--reviews", type=Path, help="Amazon reviews (reviews_*.json[.gz])")
    p.add_argument("--edges", type=Path, help="an edge list: src, dst, relation[, weight]")
    p.add_argument(
        "--quarantine",
        type=Path,
        default=Path("var/quarantine.jsonl"),
        help="where rejected rows go, with file, line and reason (default %(default)s)",
    )
    p.add_argument("--replace", action="store_true", help="empty the store first")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _progress(batches: Iterator[GraphBatch], enabled: bool) -> Iterator[GraphBatch]:
    if not enabled:
        yield from batches
        return
    from tqdm import tqdm

    with tqdm(unit=" rows", unit_scale=True, desc="loading", file=sys.stderr) as bar:
        for batch in batches:
            yield batch
            bar.update(len(batch))


def run(args: argparse.Namespace) -> int:
    return load(
        args.store,
        meta=args.meta,
        reviews=args.reviews,
        edges=args.edges,
        quarantine=args.quarantine,
        replace=args.replace,
        progress=not args.no_progress and not args.json,
        as_json=args.json,
    )


def load(
    store_spec: str,
    *,
    meta: Path | None = None,
    reviews: Path | None = None,
    edges: Path | None = None,
    quarantine: Path,
    replace: bool = False,
    progress: bool = True,
    as_json: bool = False,
) -> int:
    """Load Amazon files (`meta`, `reviews`) or an edge list into the store `store_spec` names; the exit status.

    What ``kgrec load`` runs, and what ``kgrec demo`` calls for its first load.
    """
    from neo4j.exceptions import DriverError, Neo4jError

    from loaders.amazon import read_amazon
    from loaders.edgelist import read_edgelist
    from loaders.quarantine import Quarantine
    from loaders.summary import LoadError, LoadSummary

    if not (meta or reviews or edges):
        print("kgrec load: give --meta and/or --reviews (Amazon), or --edges (an edge list)", file=sys.stderr)
        return 2
    for path in (meta, reviews, edges):
        if path is not None and not path.is_file():
            print(f"kgrec load: no such file: {path}", file=sys.stderr)
            return 2
    summary = LoadSummary()
    quarantine.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        store = open_store(store_spec)
        try:
            if replace:
                store.clear()
            with Quarantine(quarantine) as rejected:
                if edges:
                    batches = read_edgelist(edges, rejected, summary)
                else:
                    batches = read_amazon(meta, reviews, rejected, summary)
                try:
                    written = store.write(_progress(batches, progress))
                except LoadError as e:
                    print(f"kgrec load: {e}", file=sys.stderr)
                    return 1
            counts = store.counts()
        finally:
            store.close()
    except (DriverError, Neo4jError) as e:
        # Neo4j down or gone mid-way (after the driver's own retries): the user needs what happened and what to do,
        # not the driver's stack; each batch commits whole, so a re-run fills in exactly what is missing
        print(
            f"kgrec load: Neo4j failed: {type(e).__name__}: {e}\n"
            "The batches written before it failed stay; run the same command again once Neo4j answers "
            "(loading twice changes nothing).",
            file=sys.stderr,
        )
        return 1
    seconds = time.perf_counter() - started
    rels = sum(v for k, v in written.written.items() if k.isupper())
    report = {
        "store": store_spec,
        "seconds": round(seconds, 2),
        "relationships_per_second": round(rels / seconds) if seconds else None,
        "rows": summary.to_dict(),
        "created": written.created,
        "store_counts": counts,
        "quarantine": str(quarantine),
    }
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(summary)
        print(f"store {store_spec}: {', '.join(f'{k} {v:,}' for k, v in counts.items() if v)}")
        print(f"{seconds:.1f} s; rejected rows (if any) with reasons in {quarantine}")
    return 0
