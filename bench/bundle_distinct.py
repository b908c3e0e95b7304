"""Is a bundle more of the same? Bundle/similar overlap and near-duplicate titles, through the real API.

For `--products` random products that have complements (seeded), one HTTP request each to a `kgrec serve`
subprocess: ``bundle(productId, k: 10, diverse: false)`` and ``similar(productId, k: 10)`` in one query. Two
figures per server, the issue's table:

- ``overlap``: the share of bundle items that are also among the product's top-10 similar (pooled over items);
- ``near-dup``: the share of bundle items whose word TF-IDF title cosine to the product's title is above 0.5
  (:func:`gnn.text.word_tfidf`, the evaluation's definition), over items where both have a title (``-`` when the
  catalog has none).

Servers, one after the other, on the same products: the observed lists (no registry: the also_bought /
also_viewed lists served as they are, what a shop without kgrec shows), then each `--registry` given (its
promoted run) with the server's defaults (the model's lists as its run ranked them, with the push-down it chose)
and, with ``--raw``, also with the serving-time exclusion on (``KGREC_BUNDLE_EXCLUDE_SIMILAR=10``). The goals (printed, never asserted): overlap <= 15%, near-dup <= 5%.

    python bench/bundle_distinct.py --store local:var/demo-store --registry var/registry --raw
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gnn.text import titles_of, word_tfidf  # noqa: E402
from graph.stores import open_store  # noqa: E402

QUERY = (
    "query Q($id: ID!) { b: bundle(productId: $id, k: 10, diverse: false) { product { id } } "
    "s: similar(productId: $id, k: 10) { product { id } } }"
)
GOALS = {"overlap": 0.15, "near-dup": 0.05}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(store: str, registry: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="kgrec-serve-")) / "serve.log"
    out = log.open("wb")  # the child holds it; closed with the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kgrec",
            "serve",
            "--store",
            store,
            "--registry",
            str(registry),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    while True:  # wait for the first index to serve; a dead server is an error, not a wait
        if proc.poll() is not None:
            tail = log.read_text()[-2000:]
            raise SystemExit(f"kgrec serve exited with {proc.returncode}:\n{tail}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


def measure(url: str, products: list[str], index: dict[str, int], words, words_t, titled) -> dict[str, float]:
    hits = items = near = titled_items = 0
    with httpx.Client(timeout=30) as client:
        for pid in products:
            body = client.post(url + "/graphql", json={"query": QUERY, "variables": {"id": pid}}).json()
            if "errors" in body:
                raise SystemExit(f"{pid}: {body['errors']}")
            bundle = [r["product"]["id"] for r in body["data"]["b"]]
            similar = {r["product"]["id"] for r in body["data"]["s"]}
            items += len(bundle)
            hits += sum(b in similar for b in bundle)
            a = index[pid]
            others = np.array([index[b] for b in bundle], np.int64)
            both = others[titled[others]] if titled[a] else others[:0]
            if len(both):
                cos = words.pair_paths(words_t, np.full(len(both), a), both)
                near += int((cos > 0.5).sum())
                titled_items += len(both)
    return {
        "overlap": hits / items if items else float("nan"),
        "near-dup": near / titled_items if titled_items else float("nan"),
        "items": items,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--store", required=True, help="the graph, e.g. local:var/demo-store")
    p.add_argument(
        "--registry", type=Path, action="append", default=[], help="a registry to serve (repeatable)"
    )
    p.add_argument("--products", type=int, default=400, help="random products with complements (default 400)")
    p.add_argument("--seed", type=int, default=0, help="which products (default 0)")
    p.add_argument(
        "--raw", action="store_true", help="also serve each registry with the bundle exclusion off"
    )
    p.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = p.parse_args()

    snap = open_store(args.store).snapshot()
    ids = snap.ids["Product"].astype(str)
    has = np.flatnonzero(snap.rel("ALSO_BOUGHT").degree() > 0)
    rng = np.random.default_rng(args.seed)
    chosen = ids[np.sort(rng.choice(has, min(args.products, len(has)), replace=False))].tolist()
    words = word_tfidf(titles_of(snap))
    titled = np.diff(words.indptr) > 0
    words_t = words.transpose()
    index = {pid: i for i, pid in enumerate(ids.tolist())}

    runs: list[tuple[str, Path, dict[str, str]]] = []
    empty = Path(tempfile.mkdtemp(prefix="kgrec-no-registry-"))
    runs.append(("observed lists", empty, {"KGREC_BUNDLE_EXCLUDE_SIMILAR": "0"}))
    for reg in args.registry:
        runs.append((f"{reg} (served)", reg, {"KGREC_BUNDLE_EXCLUDE_SIMILAR": "0"}))
        if args.raw:
            runs.append((f"{reg} (+ serving exclusion 10)", reg, {"KGREC_BUNDLE_EXCLUDE_SIMILAR": "10"}))
    rows = []
    print(
        f"{len(chosen)} products with complements (seed {args.seed}); one HTTP request per product and server"
    )
    print(f"{'server':<48} {'overlap':>8} {'near-dup':>9} {'items':>6}")
    for name, reg, env in runs:
        proc, url = serve(args.store, reg, env)
        try:
            row = {"server": name, **measure(url, chosen, index, words, words_t, titled)}
        finally:
            proc.terminate()
            proc.wait(30)
        rows.append(row)
        print(f"{name:<48} {row['overlap']:>8.1%} {row['near-dup']:>9.1%} {row['items']:>6}")
    print("goals: " + ", ".join(f"{k} <= {v:.0%}" for k, v in GOALS.items()) + " (of bundle items)")
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
