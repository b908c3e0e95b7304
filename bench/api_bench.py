"""GraphQL API throughput and latency with wrk on loopback: bundle and session recommendations vs a ping floor.

One uvicorn worker (`kgrec serve`) and wrk (Debian's `wrk` package) with bench/api_bench.lua. Five loads, each
run `--rounds` times interleaved so drift on a shared machine hits them alike:

- ``ping``: ``{ ping }``, a constant resolver: the floor of the server's own cost per request (HTTP, strawberry,
  the limit extensions, metrics);
- ``bundle``: ``bundle(productId, k: 10) { score reason product { id title } }`` over random products that have
  complements;
- ``recommendations``: ``recommendations(sessionId, k: 10)`` over sessions that ``trackEvent`` filled first
  (repeats of an unchanged session reuse its kept answer);
- ``recs after event``: each ``recommendations`` right after a ``trackEvent`` of its session, so every answer is
  ranked afresh (a Python client on --connections connections; only the recommendations are timed);
- ``bundle, no cache``: the bundle query on a second server started with the response cache off
  (``KGREC_RESPONSE_CACHE_SIZE=0``), over products drawn uniformly from all those with complements: every answer
  is executed and serialized (the ranked-list cache below it still holds up to 20,000 lists).

Each row prints the response cache's hit ratio during its timed runs, read from the server's /metrics
(``kgrec_response_cache_total``): ``ping`` and ``bundle`` are cacheable and, over --ids products, mostly hits once
warm; ``recommendations`` name a session, so they are never cached (``-``).

Goals (printed, never asserted): bundle p99 <= 10 ms and >= 80% of the floor's throughput, with the cache and
without it (a goal met by cache hits alone shows as such); recommendations p99 <= 15 ms. The store is one given
with ``--store`` (e.g. Amazon Beauty after ``kgrec load``) or a synthetic catalog written to a temporary
LocalStore (``--synthetic N``; loaders/synthetic.py); both servers serve it (twice the memory of one).

    python bench/api_bench.py --store local:var/demo-store
    python bench/api_bench.py --synthetic 1000000 --edges 10000000 --duration 10
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LUA = Path(__file__).with_suffix(".lua")
KEY = "bench-key"
N_SESSIONS = 200
EVENTS = ("VIEW", "VIEW", "CART")  # what each bench session did before it asks for recommendations
NO_CACHE = "bundle, no cache"
GOALS = {
    "bundle": (10.0, 0.80),
    NO_CACHE: (10.0, 0.80),
    "recommendations": (15.0, None),
    "recs after event": (15.0, None),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def synthetic_store(root: Path, n_products: int, n_edges: int) -> str:
    from graph.local_store import LocalStore
    from loaders.synthetic import synthetic_batches

    t = time.perf_counter()
    n_categories = min(1000, max(10, n_products // 100))
    LocalStore(root).write(synthetic_batches(n_products, n_edges, n_categories=n_categories))
    print(
        f"synthetic store: {n_products} products, {n_edges} edges in {time.perf_counter() - t:.0f} s",
        flush=True,
    )
    return f"local:{root}"


def products_with_complements(store_spec: str) -> list[str]:
    """Products with a complement list, so each bundle request does real work."""
    from graph.stores import open_store

    snap = open_store(store_spec).snapshot()
    return [str(x) for x in snap.ids["Product"][snap.rel("ALSO_BOUGHT").degree() > 0]]


def sample(ids: list[str], n: int, seed: int = 0) -> list[str]:
    pick = np.random.default_rng(seed).choice(len(ids), size=min(n, len(ids)), replace=False)
    return [ids[i] for i in pick]


def write_ids(path: Path, ids: list[str]) -> Path:
    path.write_text("\n".join(ids) + "\n")
    return path


def start(
    store_spec: str, registry: Path | None, port: int, log: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], float]:
    """`kgrec serve` on `port` with `env` added to ours; returns once /readyz answers 200."""
    cmd = [sys.executable, "-m", "kgrec", "serve", "--store", store_spec, "--port", str(port)]
    if registry is not None:
        cmd += ["--registry", str(registry)]
    env = {**os.environ, "KGREC_API_KEYS": f"{KEY}:frontend", **(env or {})}
    t = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, time.perf_counter() - t
        except httpx.HTTPError:
            pass
        time.sleep(0.5)


def gql(client: httpx.Client, url: str, query: str, variables: dict | None = None) -> dict:
    body = client.post(
        url + "/graphql", json={"query": query, "variables": variables}, headers={"X-API-Key": KEY}
    )
    out = body.json()
    if "errors" in out:
        raise SystemExit(f"query failed: {out['errors']}")
    return out["data"]


def fill_sessions(url: str, ids: list[str]) -> float:
    """trackEvent each of EVENTS per bench session; returns the mean trackEvent latency in ms."""
    rng = np.random.default_rng(1)
    q = "mutation($s: ID!, $p: ID!, $t: EventType!) { trackEvent(sessionId: $s, productId: $p, type: $t) }"
    with httpx.Client(timeout=10) as client:
        t = time.perf_counter()
        for s in range(N_SESSIONS):
            for kind in EVENTS:
                gql(client, url, q, {"s": f"bench-{s}", "p": ids[int(rng.integers(len(ids)))], "t": kind})
        return (time.perf_counter() - t) / (N_SESSIONS * len(EVENTS)) * 1e3


CACHE_SAMPLE = re.compile(r'^kgrec_response_cache_total\{result="(hit|miss)"\} (\S+)$', re.MULTILINE)


def cache_counts(url: str) -> dict[str, float]:
    """The response cache's hits and misses so far, from the server's /metrics."""
    text = httpx.get(url + "/metrics", timeout=10).text
    counts = {"hit": 0.0, "miss": 0.0}
    counts.update({m[1]: float(m[2]) for m in CACHE_SAMPLE.finditer(text)})
    return counts


def counting_cache(url: str, load: Callable[..., dict], *args: object) -> dict:
    """`load(*args)`'s figures, with the response cache's hits and misses during it (``hits``, ``misses``)."""
    before = cache_counts(url)
    r = load(*args)
    after = cache_counts(url)
    return {**r, "hits": after["hit"] - before["hit"], "misses": after["miss"] - before["miss"]}


def hit_ratio(runs: list[dict]) -> str:
    hits, misses = sum(r["hits"] for r in runs), sum(r["misses"] for r in runs)
    return f"{hits / (hits + misses):.1%}" if hits + misses else "-"


def wrk(url: str, mode: str, ids_file: Path, seconds: int, threads: int, connections: int) -> dict:
    env = {**os.environ, "BENCH_MODE": mode, "BENCH_IDS": str(ids_file), "BENCH_SESSIONS": str(N_SESSIONS)}
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", str(LUA), url + "/graphql"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("{"))
    r = json.loads(line)
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def fresh_recommendations(url: str, ids: list[str], seconds: float, connections: int) -> dict:
    """`recommendations` right after a `trackEvent` of the same session, on `connections` concurrent clients:
    every answer is ranked afresh (the event drops the session's kept answer). Only the recommendations are
    timed; req/s counts them alone."""
    import asyncio

    track = "mutation($s: ID!, $p: ID!) { trackEvent(sessionId: $s, productId: $p, type: VIEW) }"
    recs = "query R($s: ID!) { recommendations(sessionId: $s, k: 10) { score reason product { id title } } }"
    latencies: list[float] = []
    errors = 0

    async def client(c: int, http: httpx.AsyncClient, deadline: float) -> None:
        nonlocal errors
        rng = np.random.default_rng(100 + c)
        j = 0
        while time.perf_counter() < deadline:
            session = (
                f"fresh-{c}-{j % 50}"  # 50 sessions a client: they grow to their full ten recent products
            )
            j += 1
            body = {"query": track, "variables": {"s": session, "p": ids[int(rng.integers(len(ids)))]}}
            r = await http.post(url + "/graphql", json=body, headers={"X-API-Key": KEY})
            t = time.perf_counter()
            r2 = await http.post(url + "/graphql", json={"query": recs, "variables": {"s": session}})
            latencies.append(time.perf_counter() - t)
            errors += int(r.status_code != 200 or r2.status_code != 200 or "errors" in r2.json())

    async def run() -> float:
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(timeout=10, limits=limits) as http:
            started = time.perf_counter()
            await asyncio.gather(*(client(c, http, started + seconds) for c in range(connections)))
            return time.perf_counter() - started

    elapsed = asyncio.run(run())
    lat = np.asarray(latencies) * 1e6
    return {
        "requests": len(lat),
        "rps": len(lat) / elapsed,
        "p50_us": float(np.percentile(lat, 50)),
        "p90_us": float(np.percentile(lat, 90)),
        "p99_us": float(np.percentile(lat, 99)),
        "non_2xx": errors,
        "socket_errors": 0,
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--store", help="an existing store (local:DIR, neo4j, ...)")
    src.add_argument(
        "--synthetic", type=int, default=20_000, help="products of a synthetic catalog (default %(default)s)"
    )
    p.add_argument("--edges", type=int, help="synthetic edges (default 10 per product)")
    p.add_argument(
        "--registry", type=Path, help="serve this registry's promoted model (default: observed lists)"
    )
    p.add_argument(
        "--ids",
        type=int,
        default=2000,
        help="distinct products the bundle load asks for (default %(default)s); more than the caches hold "
        "(20,000 lists and answers) makes most requests rank and serialize afresh",
    )
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default %(default)s)")
    p.add_argument(
        "--rounds", type=int, default=2, help="interleaved rounds of the loads (default %(default)s)"
    )
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default %(default)s)")
    p.add_argument("--connections", type=int, default=4, help="wrk connections (default %(default)s)")
    args = p.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    with tempfile.TemporaryDirectory(prefix="kgrec-api-bench-") as tmp_name:
        tmp = Path(tmp_name)
        store = args.store or synthetic_store(
            tmp / "store", args.synthetic, args.edges or 10 * args.synthetic
        )
        every = products_with_complements(store)
        ids = sample(every, args.ids)
        ids_file = write_ids(tmp / "ids.txt", ids)
        uniform_file = write_ids(tmp / "uniform.txt", every)  # wrk draws one uniformly per request
        port, port_off = free_port(), free_port()
        url, url_off = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port_off}"
        proc, ready_s = start(store, args.registry, port, tmp / "server.log")
        off = None
        try:
            off, _ = start(
                store, args.registry, port_off, tmp / "server-off.log", {"KGREC_RESPONSE_CACHE_SIZE": "0"}
            )
            with httpx.Client(timeout=10) as client:
                model = httpx.get(url + "/readyz").json()["model"]
                first = gql(
                    client,
                    url,
                    "query($id: ID!) { bundle(productId: $id, k: 10) { product { title } } }",
                    {"id": ids[0]},
                )
            print(
                f"server ready in {ready_s:.1f} s, model {model['version']} ({model['source']}), "
                f"sample bundle of {len(first['bundle'])}: {first['bundle'][0]['product']['title']!r}",
                flush=True,
            )
            track_ms = fill_sessions(url, ids)
            print(f"trackEvent: {track_ms:.2f} ms mean over {N_SESSIONS * len(EVENTS)} sequential calls")
            # load -> (server, wrk mode, ids file)
            loads = {
                "ping": (url, "ping", ids_file),
                "bundle": (url, "bundle", ids_file),
                "recommendations": (url, "recommendations", ids_file),
                NO_CACHE: (url_off, "bundle", uniform_file),
            }
            results: dict[str, list[dict]] = {name: [] for name in [*loads, "recs after event"]}
            for server, mode, file in loads.values():  # warm caches and the allocator
                wrk(server, mode, file, 2, args.threads, args.connections)
            for _ in range(args.rounds):
                for name, (server, mode, file) in loads.items():
                    results[name].append(
                        counting_cache(
                            server, wrk, server, mode, file, args.duration, args.threads, args.connections
                        )
                    )
                results["recs after event"].append(
                    counting_cache(url, fresh_recommendations, url, ids, args.duration, args.connections)
                )
            rss = rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
            if off is not None:
                off.send_signal(signal.SIGTERM)
                off.wait(timeout=30)

    floor = float(np.median([r["rps"] for r in results["ping"]]))
    print(
        f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration}s x {args.rounds} rounds, one uvicorn worker "
        f"(uvloop, httptools); server RSS {rss:.0f} MB; exit status after SIGTERM {code}"
    )
    print(
        f"bundle: {len(ids):,} products (--ids), each request one drawn uniformly; {NO_CACHE}: a second server with "
        f"KGREC_RESPONSE_CACHE_SIZE=0, products drawn uniformly from all {len(every):,} with complements"
    )
    print(
        "cache hits: the response cache's hit ratio in the timed runs (/metrics); -: no request cacheable; "
        "off: no cache"
    )
    print(
        f"{'load':<18}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'vs floor':>10}{'cache hits':>12}"
        "  errors  goal"
    )
    for mode, runs in results.items():
        rps = float(np.median([r["rps"] for r in runs]))
        p50, p90, p99 = (float(np.median([r[k] for r in runs])) / 1e3 for k in ("p50_us", "p90_us", "p99_us"))
        errors = sum(r["non_2xx"] + r["socket_errors"] for r in runs)
        hits = hit_ratio(runs)
        if mode == NO_CACHE and hits == "-":
            hits = "off"  # the server counted no request: it has no response cache
        goal = ""
        if mode in GOALS:
            p99_goal, ratio_goal = GOALS[mode]
            met = p99 <= p99_goal and (ratio_goal is None or rps / floor >= ratio_goal)
            goal = (
                f"p99<={p99_goal:g}ms"
                + (f", >={ratio_goal:.0%} floor" if ratio_goal else "")
                + (": met" if met else ": MISSED")
            )
        print(
            f"{mode:<18}{rps:>9.0f}{p50:>9.2f}{p90:>9.2f}{p99:>9.2f}{rps / floor:>10.0%}{hits:>12}  {errors:>6}  {goal}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
