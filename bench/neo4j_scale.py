"""Neo4j at catalog scale: bulk import, incremental writes, snapshot read-back and learned edges, on the
synthetic catalog (1M products, 10M edges by default), in a Neo4j instance of its own.

    .venv/bin/python bench/neo4j_scale.py [--products 1000000] [--edges 10000000] [--slice 1000000] [--k 10]

Steps, each timed:
1. the graph less a held-out slice of ALSO_VIEWED as CSV files, then ``neo4j-admin database import full``;
2. the held-out slice through Neo4jStore.write (the transactional path of an incremental load: the type exists,
   so relationships are MERGEd);
3. the whole graph read back with Neo4jStore.snapshot (paged columns; the peak memory it added is printed);
4. learned COMPLEMENT edges, top-K per product, through Neo4jStore.replace_learned: a first model, then a second
   that replaces it (its edges written, then the first model's deleted).

Baselines in the same run, on samples: the previous Neo4jStore statements (ends found by key, one record per row,
one map per row) and, for the importer, the transactional rate. The instance listens on its own ports with its own
data home and password file (under --home, a temporary folder by default) and is stopped at the end. Prints
figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph.neo4j import server  # noqa: E402
from graph.neo4j.bulk_import import import_full, write_csv  # noqa: E402
from graph.neo4j.config import ServerConfig  # noqa: E402
from graph.neo4j.store import Neo4jStore  # noqa: E402
from graph.schema import GraphBatch  # noqa: E402
from graph.snapshot import Snapshot  # noqa: E402
from loaders.synthetic import synthetic_batches, synthetic_snapshot  # noqa: E402

GOALS = {"import": 200_000, "write": 50_000, "learned_s": 600}
WARM = 20_000  # rows each statement runs untimed first
# The statements Neo4jStore used before ends were found by id: the baselines.
KEYED_MERGE = (
    "UNWIND range(0, size($s) - 1) AS i MATCH (a:Product {asin: $s[i]}) MATCH (b:Product {asin: $d[i]}) "
    "MERGE (a)-[e:ALSO_VIEWED]->(b) SET e.weight = coalesce($weight[i], e.weight)"
)
RECORD_READ = "MATCH (a:Product)-[e:ALSO_BOUGHT]->(b:Product) RETURN a.asin, b.asin, e.weight LIMIT $n"
ROW_MAP_LEARNED = (
    "UNWIND $rows AS r MATCH (a:Product {asin: r.s}) MATCH (b:Product {asin: r.d}) "
    "MERGE (a)-[e:COMPLEMENT {model: $model}]->(b) SET e.score = r.score, e.rank = r.rank"
)


@dataclass(frozen=True)
class Timing:
    wall: float
    client_cpu: float  # this process
    server_cpu: float  # the Neo4j JVM, or the importer's JVM (a child process)


def cpu_of(pid: int | None) -> float:
    """User + system CPU seconds of process `pid` so far (0 when there is none)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(fn: Callable[[], Any], server_pid: int | None = None) -> tuple[Any, Timing]:
    """Run `fn`; wall time and CPU time on each side. CPU per relationship does not depend on how many other
    processes share the cores, which the wall-clock rate on a shared machine does."""
    self0, kids0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    server0, t = cpu_of(server_pid), time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t
    self1, kids1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    client = self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime
    kids = kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime
    return out, Timing(wall, client, cpu_of(server_pid) - server0 + kids)


def line(name: str, t: Timing, rows: int, note: str = "") -> float:
    rate = rows / t.wall if t.wall > 0 else float("inf")
    per = 1e6 / max(rows, 1)
    print(
        f"{name:44s} {rows:>12,} {t.wall:8.1f} s {rate:11,.0f}/s {t.server_cpu * per:9.1f} {t.client_cpu * per:8.1f}"
        f"  {note}",
        flush=True,
    )
    return rate


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def held_out(batches: Iterator[GraphBatch], n: int) -> tuple[list[GraphBatch], list[pa.Table]]:
    """The batches less the last `n` ALSO_VIEWED rows, and those rows (as tables)."""
    kept: list[GraphBatch] = []
    viewed: list[pa.Table] = []
    for b in batches:
        if "ALSO_VIEWED" in b.rels:
            viewed.append(b.rels["ALSO_VIEWED"])
        else:
            kept.append(b)
    table = pa.concat_tables(viewed)
    cut = max(table.num_rows - n, 0)
    kept.append(GraphBatch(rels={"ALSO_VIEWED": table.slice(0, cut)}))
    return kept, [table.slice(cut)]


def in_batches(table: pa.Table, type_: str, rows: int = 500_000) -> list[GraphBatch]:
    return [GraphBatch(rels={type_: table.slice(i, rows)}) for i in range(0, table.num_rows, rows)]


def learned_table(snap: Snapshot, k: int, seed: int) -> pa.Table:
    """Top-k per product: its ALSO_BOUGHT partners first, then random products; evidence where listed."""
    n = snap.n("Product")
    rng = np.random.default_rng(seed)
    bought = snap.rel("ALSO_BOUGHT")
    src = np.repeat(np.arange(n, dtype=np.int64), k)
    dst = rng.integers(0, n, n * k)
    slot = np.tile(np.arange(k), n)
    deg = np.minimum(bought.degree(), k)
    listed = slot < np.repeat(deg, k)
    dst[listed] = bought.indices[(np.repeat(bought.indptr[:-1], k) + slot)[listed]]
    ok = dst != src
    ids = pa.array(snap.ids["Product"], pa.string())
    score = np.sort(rng.random((n, k)).astype(np.float32), axis=1)[:, ::-1].ravel()
    evidence = pa.array(np.where(listed, "listed in also_bought", None)[ok], pa.string())
    return pa.table(
        {
            "src": ids.take(pa.array(src[ok])),
            "dst": ids.take(pa.array(dst[ok])),
            "score": score[ok],
            "rank": (slot + 1).astype(np.int32)[ok],
            "evidence": evidence,
        }
    )


def keyed_params(table: pa.Table) -> list[dict[str, Any]]:
    """The baseline's parameters: key lists per 20,000 rows."""
    return [
        {
            "s": part.column("src").to_pylist(),
            "d": part.column("dst").to_pylist(),
            "weight": part.column("weight").to_pylist(),
        }
        for part in (table.slice(i, 20_000) for i in range(0, table.num_rows, 20_000))
    ]


def row_maps(table: pa.Table) -> list[dict[str, Any]]:
    """The learned baseline's parameters: a map per row, 20,000 rows per transaction."""
    cols = (table.column(c).to_pylist() for c in ("src", "dst", "score", "rank"))
    rows = [{"s": s, "d": d, "score": sc, "rank": rk} for s, d, sc, rk in zip(*cols, strict=True)]
    return [{"rows": rows[i : i + 20_000], "model": "baseline"} for i in range(0, len(rows), 20_000)]


def run_in_chunks(store: Neo4jStore, cypher: str, params: list[dict[str, Any]]) -> None:
    for p in params:
        with store.driver.session() as s:
            s.execute_write(lambda tx, p=p: tx.run(cypher, **p).consume())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--products", type=int, default=1_000_000)
    ap.add_argument("--edges", type=int, default=10_000_000)
    ap.add_argument("--slice", type=int, default=1_000_000, help="ALSO_VIEWED rows held out of the import")
    ap.add_argument("--sample", type=int, default=100_000, help="rows for each baseline")
    ap.add_argument("--k", type=int, default=10, help="learned edges per product")
    ap.add_argument("--home", type=Path, help="data home of the bench instance (default: a temporary folder)")
    ap.add_argument("--heap", default="3g")
    ap.add_argument("--page-cache", default="3g")
    args = ap.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="kgrec-neo4j-scale-"))
    # its own password and password file: the bench instance must never rewrite the user's
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    os.environ["NEO4J_PASSWORD"] = "bench-" + secrets.token_hex(12)
    cfg = dataclasses.replace(
        ServerConfig.from_env(),
        data_home=home / "neo4j",
        bolt_port=int(os.environ.get("KGREC_BENCH_BOLT_PORT", 7697)),
        http_port=int(os.environ.get("KGREC_BENCH_HTTP_PORT", 7484)),
        heap=args.heap,
        page_cache=args.page_cache,
    )
    print(f"synthetic catalog: {args.products:,} products, {args.edges:,} edges; instance in {home}")
    print(f"{'':44s} {'rows':>12s} {'time':>10s} {'rate':>12s} {'server':>9s} {'client':>8s}")
    print(f"{'':44s} {'':>12s} {'':>10s} {'':>12s} {'CPU us/row':>18s}")
    try:
        (kept, slice_tables), t = measure(
            lambda: held_out(
                synthetic_batches(args.products, args.edges), args.slice + args.sample + 2 * WARM
            )
        )
        print(f"generated in {t.wall:.1f} s")

        # 1. bulk import
        export, t_csv = measure(lambda: write_csv(kept, home / "csv"))
        kept.clear()  # the graph lives in the CSV files and the instance from here on
        size_mb = sum(p.stat().st_size for p in (home / "csv").glob("*.csv")) / 2**20
        line("CSV export (pyarrow)", t_csv, export.relationships, note=f"{size_mb:,.0f} MiB")
        report, t_imp = measure(lambda: import_full(export, cfg, memory="4g"))
        import_rate = line("neo4j-admin import full (JVM start included)", t_imp, report.relationships)
        both = Timing(t_csv.wall + t_imp.wall, t_csv.client_cpu, t_imp.server_cpu)
        line("  CSV + import", both, report.relationships)
        shutil.rmtree(home / "csv")
        _, t = measure(lambda: server.start(cfg))
        pid = server.status(cfg).pid
        print(f"server started in {t.wall:.1f} s")
        store = Neo4jStore.connect(cfg.bolt_uri, "neo4j", os.environ["NEO4J_PASSWORD"])
        _, t = measure(store.ensure_schema)
        print(f"constraints on {report.nodes:,} nodes in {t.wall:.1f} s")

        # 2. transactional: the held-out ALSO_VIEWED rows; both statements warmed up on their first rows (the
        # JIT compiles a statement's plan on its first runs), a baseline on the next, the rest incrementally (the
        # type exists: MERGE), then the same rest again as a type with nothing yet (CREATE, as a first load)
        held = slice_tables[0]
        warm_base, warm_write = held.slice(0, WARM), held.slice(WARM, WARM)
        sample, rest = held.slice(2 * WARM, args.sample), held.slice(2 * WARM + args.sample)
        run_in_chunks(store, KEYED_MERGE, keyed_params(warm_base))
        store.write(in_batches(warm_write, "ALSO_VIEWED"))
        params = keyed_params(sample)
        _, t = measure(lambda: run_in_chunks(store, KEYED_MERGE, params), pid)
        base_rate = line("baseline: MERGE, ends by key (sample)", t, sample.num_rows)
        written, t = measure(lambda: store.write(in_batches(rest, "ALSO_VIEWED")), pid)
        write_rate = line("Neo4jStore.write, incremental (MERGE)", t, rest.num_rows)
        assert written.created["ALSO_VIEWED"] == rest.num_rows
        written, t = measure(lambda: store.write(in_batches(rest, "BOUGHT_TOGETHER")), pid)
        create_rate = line("Neo4jStore.write, into a new type (CREATE)", t, rest.num_rows)
        assert written.created["BOUGHT_TOGETHER"] == rest.num_rows

        # 3. read-back
        def record_read() -> int:
            with store.driver.session() as s:
                return sum(1 for _ in s.run(RECORD_READ, n=args.sample * 5))

        n_rec, t = measure(record_read, pid)
        rec_rate = line("baseline: one record per row (sample)", t, n_rec)
        before = peak_rss_mb()
        snap, t = measure(store.snapshot, pid)
        grew = peak_rss_mb() - before
        n_rels = sum(c.nnz for c in snap.rels.values())
        arrays = sum(c.indices.nbytes + c.indptr.nbytes for c in snap.rels.values()) / 2**20
        snap_rate = line("Neo4jStore.snapshot, paged columns", t, n_rels)
        print(
            f"  {sum(snap.n(x) for x in snap.ids):,} nodes; peak RSS grew {grew:,.0f} MiB ({arrays:,.0f} MiB CSR)"
        )
        expected = synthetic_snapshot(args.products, args.edges).counts()
        expected["BOUGHT_TOGETHER"] = rest.num_rows
        assert {name: snap.counts()[name] for name in expected} == expected

        # 4. learned edges
        v1 = learned_table(snap, args.k, seed=1)
        base_rows = v1.slice(WARM, args.sample)
        run_in_chunks(store, ROW_MAP_LEARNED, row_maps(v1.slice(0, WARM)))
        maps = row_maps(base_rows)
        _, t = measure(lambda: run_in_chunks(store, ROW_MAP_LEARNED, maps), pid)
        lb_rate = line("baseline: MERGE, one map per row (sample)", t, base_rows.num_rows)
        n1, t1 = measure(lambda: store.replace_learned("COMPLEMENT", v1, "bench-v1"), pid)
        l1_rate = line(f"replace_learned, first model (top-{args.k})", t1, n1)
        v2 = learned_table(snap, args.k, seed=2)
        n2, t2 = measure(lambda: store.replace_learned("COMPLEMENT", v2, "bench-v2"), pid)
        line("replace_learned, replacing it (write+delete)", t2, n2)
        left = store.counts()["COMPLEMENT"]
        assert left == n2, (left, n2)
        store.close()

        print("\nratios and goals (server CPU us/row: the cost with the cores to itself)")
        print(
            f"  import vs incremental write  : {import_rate / write_rate:6.1f}x  goal >= {GOALS['import']:,}/s"
        )
        print(
            f"  write vs keyed MERGE baseline: {write_rate / base_rate:6.2f}x  goal >= {GOALS['write']:,}/s"
        )
        print(f"  CREATE vs MERGE write        : {create_rate / write_rate:6.2f}x")
        print(f"  snapshot vs record-per-row   : {snap_rate / rec_rate:6.1f}x")
        print(
            f"  learned vs row-map MERGE     : {l1_rate / lb_rate:6.2f}x  goal <= {GOALS['learned_s']} s for"
            f" {n1:,} edges: {t1.wall:.0f} s first, {t2.wall:.0f} s replacing"
        )
    finally:
        server.stop(cfg)
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
