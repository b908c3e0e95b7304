"""`kgrec demo`: the whole path on the embedded store, from the Amazon Beauty files to a first GraphQL answer."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from graph.local_store import LocalStore
from kgrec.commands.load import load
from kgrec.commands.serve import make_server
from kgrec.options import add_registry

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "amazon-beauty"

QUERY = """query Demo($id: ID!) {
  product(id: $id) { id title }
  similar(productId: $id, k: 5) { score reason product { id title } }
  bundle(productId: $id, k: 5) { score reason product { id title } }
}"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "demo",
        help="load Amazon Beauty into the embedded store, serve it, print a first answer",
        description=(
            "Load the Amazon Beauty files into the embedded local store (skipped when already loaded), start the "
            "GraphQL server, print a first `similar` and `bundle` answer with product titles and the URL to query, "
            "then keep serving until Ctrl-C (or stop at once with --exit)."
        ),
    )
    p.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="folder with meta_*.json.gz and reviews_*.json.gz (default %(default)s)",
    )
    p.add_argument(
        "--store-dir",
        type=Path,
        default=Path("var/demo-store"),
        help="the embedded store's folder (default %(default)s)",
    )
    add_registry(p, help="model registry; its promoted model serves when there is one")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--product", help="the product to ask about (default: the most reviewed one)")
    p.add_argument("--exit", action="store_true", help="stop the server after printing the answer")
    return p


def _files(data: Path) -> tuple[Path, Path]:
    metas = sorted(data.glob("meta_*.json*"))
    reviews = sorted(data.glob("reviews_*.json*"))
    if not metas or not reviews:
        raise SystemExit(f"kgrec demo: no meta_*.json[.gz] and reviews_*.json[.gz] in {data}")
    return metas[0], reviews[0]


def _most_reviewed(store: LocalStore) -> str:
    import numpy as np

    snap = store.snapshot()
    reviewed = snap.rel("REVIEWED")
    counts = np.bincount(reviewed.indices, minlength=snap.n("Product"))
    has_title = np.array([bool(t) for t in snap.titles], dtype=bool)
    has_lists = (snap.rel("ALSO_BOUGHT").degree() > 0) & (snap.rel("ALSO_VIEWED").degree() > 0)
    counts = np.where(has_title & has_lists, counts, -1)
    return str(snap.ids["Product"][int(np.argmax(counts))])


def run(args: argparse.Namespace) -> int:
    import httpx

    from api.settings import load_settings
    from graph.settings import SettingsError

    store_spec = f"local:{args.store_dir}"
    store = LocalStore(args.store_dir)
    if store.counts()["Product"] == 0:
        meta, reviews = _files(args.data)
        print(f"loading {meta.name} and {reviews.name} into {args.store_dir} ...", flush=True)
        rc = load(store_spec, meta=meta, reviews=reviews, quarantine=args.store_dir / "quarantine.jsonl")
        if rc != 0:
            return rc
    product = args.product or _most_reviewed(store)

    try:
        settings = load_settings(store=store_spec, registry=args.registry, host="127.0.0.1", port=args.port)
    except SettingsError as e:
        print(f"kgrec demo: {e}", file=sys.stderr)
        return 2
    url = f"http://127.0.0.1:{args.port}/graphql"
    server = make_server(settings)
    serving = threading.Thread(target=server.run, name="kgrec-demo-server", daemon=True)
    serving.start()
    try:
        deadline = time.monotonic() + 120
        while True:
            if not serving.is_alive():
                print("kgrec demo: the server exited before it was ready", file=sys.stderr)
                return 1
            try:
                if httpx.get(f"http://127.0.0.1:{args.port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                print("kgrec demo: the server did not become ready in 120 s", file=sys.stderr)
                return 1
            time.sleep(0.3)
        reply = httpx.post(url, json={"query": QUERY, "variables": {"id": product}}, timeout=10).json()
        if reply.get("errors"):
            print(json.dumps(reply["errors"], indent=2), file=sys.stderr)
            return 1
        data = reply["data"]
        print(f"\nProduct {product}: {data['product']['title']}")
        for name, label in (("similar", "similar (substitutes)"), ("bundle", "bundle (complements)")):
            print(f"\n{label}:")
            for rec in data[name]:
                print(
                    f"  {rec['score']:7.3f}  {rec['product']['id']}  {rec['product']['title']}   [{rec['reason']}]"
                )
        print(f"\nGraphQL server: {url}  (GraphiQL in a browser; POST queries as JSON)")
        print(
            f"try: curl -s {url} -H 'content-type: application/json' "
            f'-d \'{{"query":"{{ bundle(productId: \\"{product}\\", k: 3) {{ product {{ title }} score }} }}"}}\''
        )
        if args.exit:
            return 0
        print("serving; Ctrl-C to stop", flush=True)
        while serving.is_alive():
            serving.join(0.5)  # a bounded wait, so Ctrl-C reaches this thread
        print("kgrec demo: the server stopped", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.should_exit = True  # graceful: in-flight requests finish, as on SIGTERM
        serving.join(settings.graceful_shutdown_s + 5)
