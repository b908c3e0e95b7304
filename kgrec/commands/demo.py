"""`kgrec demo`: the whole path on the embedded store, from the Amazon Beauty files to the model's first answers.

Load Beauty (once), train a model with the quick preset and promote it (once: a promoted model trained on the same
data is reused), serve it, and show for one product what the model says beside what the observed lists say, and
what the model adds: answers for products that have no lists at all.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graph.local_store import LocalStore
from graph.schema import LABEL_TYPE
from kgrec.commands.load import load
from kgrec.commands.serve import make_server
from kgrec.options import add_registry

if TYPE_CHECKING:
    from graph.snapshot import Snapshot

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "amazon-beauty"
PRESET = "quick"  # gnn/config.py's PRESETS: the demo trains in under 2 minutes, near the full run's quality
K = 5
NO_TITLE = "(no title)"  # a catalog without titles (Cell Phones) shows ids alone

QUERY = """query Demo($id: ID!) {
  product(id: $id) { id title }
  similar(productId: $id, k: 5) { score reason product { id title } }
  bundle(productId: $id, k: 5) { score reason product { id title } }
}"""

# the GraphQL field of each relation, and how the demo names it
FIELDS = {
    "complement": ("bundle", "bundle (complements)"),
    "substitute": ("similar", "similar (substitutes)"),
}


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "demo",
        help="load Amazon Beauty, train and serve a model, print what it learned",
        description=(
            "Load the Amazon Beauty files into the embedded local store (skipped when already loaded), train a "
            f"model with the {PRESET!r} preset and promote it (skipped when the registry's promoted model was "
            "trained on the same data), start the GraphQL server on it, print one product's learned `bundle` and "
            "`similar` lists with titles beside its observed also_bought / also_viewed lists, and a product with "
            "no lists that the model still answers for; then keep serving until Ctrl-C (or stop at once with "
            "--exit)."
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
    add_registry(
        p,
        default=Path("var/demo-registry"),
        help="model registry; its promoted model is reused when it was trained on this store's data",
    )
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--product", help="the product to ask about (default: the most reviewed one)")
    p.add_argument("--exit", action="store_true", help="stop the server after printing the answer")
    return p


def _files(data: Path) -> tuple[Path, Path]:
    """The meta file and the reviews file of `data`: ``reviews_*`` (the 2014 names) or, as the 2018 release names
    them, ``<Category>_5.json.gz`` (any other ``*.json*`` beside the meta file)."""
    metas = sorted(data.glob("meta_*.json*"))
    reviews = sorted(data.glob("reviews_*.json*")) or sorted(
        p for p in data.glob("*.json*") if not p.name.startswith("meta_")
    )
    if not metas or not reviews:
        raise SystemExit(
            f"kgrec demo: no meta_*.json[.gz] and reviews file (reviews_*.json[.gz] or *_5.json[.gz]) in {data}"
        )
    return metas[0], reviews[0]


def _most_reviewed(snap: Snapshot, among: np.ndarray) -> str | None:
    """The most reviewed product among the products `among` marks, one with a title where any has one (a catalog
    without titles shows ids); None when `among` marks none."""
    titles = snap.titles if snap.titles is not None else np.full(snap.n("Product"), None, dtype=object)
    has_title = np.fromiter((bool(t) for t in titles), dtype=np.bool_, count=len(titles))
    if (among & has_title).any():
        among = among & has_title
    counts = np.bincount(snap.rel("REVIEWED").indices, minlength=snap.n("Product"))
    pick = np.where(among, counts, -1)
    return str(snap.ids["Product"][int(np.argmax(pick))]) if pick.size and pick.max() >= 0 else None


def _with_lists(snap: Snapshot) -> np.ndarray:
    """Two product masks: (has both an also_bought and an also_viewed list, has neither)."""
    has = [snap.rel(t).degree() > 0 for t in LABEL_TYPE.values()]
    return np.stack([np.logical_and.reduce(has), ~np.logical_or.reduce(has)])


def _observed(snap: Snapshot, product: str, relation: str) -> list[str]:
    """`product`'s observed list for `relation`, in list order: what serves before a model (api.index)."""
    row = snap.rel(LABEL_TYPE[relation]).row(snap.index("Product")[product])
    return [str(snap.ids["Product"][j]) for j in row]


def _model(store_spec: str, registry_root: Path, snap: Snapshot) -> tuple[str, str]:
    """The version to serve and how it came to be: the promoted run when it was trained on this data, else a
    new run with the quick preset, promoted (its learned edges written into the store)."""
    from gnn.config import TrainConfig
    from gnn.registry import ArtifactError, Registry, data_fingerprint
    from kgrec.commands.train import describe, train

    registry = Registry(registry_root)
    promoted = registry.promoted()
    if promoted is not None:
        try:
            trained_on = registry.verify(promoted).get("data_fingerprint")
        except ArtifactError as e:
            print(f"promoted run {promoted} does not verify ({e}); training a new one", flush=True)
        else:
            if trained_on == data_fingerprint(snap):
                return promoted, f"reused: promoted run {promoted} of {registry_root}"
            print(f"promoted run {promoted} was trained on other data; training a new one", flush=True)
    print(f"training a model with the {PRESET!r} preset (under 2 minutes on 2 cores) ...", flush=True)
    trained = train(store_spec, registry_root, TrainConfig.from_toml(None, preset=PRESET), promote=True)
    return trained.version, f"trained now ({describe(trained)}), promoted in {registry_root}"


def _wait_ready(port: int, serving: threading.Thread, timeout_s: float = 120) -> dict[str, Any]:
    """/readyz's body once it answers 200; SystemExit when the server dies or does not get ready in time."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        if not serving.is_alive():
            raise SystemExit("kgrec demo: the server exited before it was ready")
        try:
            reply = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            if reply.status_code == 200:
                return reply.json()
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"kgrec demo: the server did not become ready in {timeout_s:.0f} s")
        time.sleep(0.3)


def _ask(url: str, product: str) -> dict[str, Any]:
    import httpx

    reply = httpx.post(url, json={"query": QUERY, "variables": {"id": product}}, timeout=10).json()
    if reply.get("errors"):
        raise SystemExit("kgrec demo: " + json.dumps(reply["errors"], indent=2))
    return reply["data"]


def _title(snap: Snapshot, product: str) -> str:
    title = None if snap.titles is None else snap.titles[snap.index("Product")[product]]
    return str(title or NO_TITLE)


def _quoted_title(snap: Snapshot, product: str) -> str:
    """`` “title”`` after a product id, nothing where it has none."""
    title = _title(snap, product)
    return "" if title == NO_TITLE else f" “{title}”"


def _show(snap: Snapshot, product: str, data: dict[str, Any]) -> None:
    """The model's lists with titles (* where the observed list has the product too), then the observed lists."""
    print(f"\nProduct {product}: {data['product']['title'] or NO_TITLE}")
    for relation, (name, label) in FIELDS.items():
        observed = _observed(snap, product, relation)
        print(f"\n{label}, learned by the model (* also in the observed list):")
        for rec in data[name]:
            mark = "*" if rec["product"]["id"] in observed else " "
            print(
                f"  {rec['score']:7.3f} {mark} {rec['product']['id']}  {rec['product']['title'] or NO_TITLE}"
                f"   [{rec['reason']}]"
            )
        print(f"  what the observed {LABEL_TYPE[relation].lower()} list says, before any model:")
        for asin in observed[:K]:
            print(f"            {asin}  {_title(snap, asin)}")
        if not observed:
            print("            (no list)")


def _added(snap: Snapshot, url: str) -> None:
    """One line on what the model adds: a product with no lists at all that gets a bundle and similar products."""
    none = _with_lists(snap)[1]
    listless, n_listless = _most_reviewed(snap, none), int(none.sum())
    if listless is None:
        print(
            "\nwhat the model added: every product here has an observed list; it ranks them from what it learned"
        )
        return
    data = _ask(url, listless)
    firsts = {
        name: (data[name][0]["product"]["title"] or data[name][0]["product"]["id"] if data[name] else None)
        for name, _ in FIELDS.values()
    }
    print(
        f"\nwhat the model added: {n_listless} of {snap.n('Product')} products have no also_bought and no "
        f"also_viewed list, so nothing to serve before a model; the model answers for them, e.g. {listless}"
        f"{_quoted_title(snap, listless)}: {len(data['bundle'])} in its bundle (first: “{firsts['bundle']}”), "
        f"{len(data['similar'])} similar (first: “{firsts['similar']}”)"
    )


def run(args: argparse.Namespace) -> int:
    from api.settings import load_settings
    from graph.settings import SettingsError
    from kgrec.commands.train import TrainFailed

    store_spec = f"local:{args.store_dir}"
    store = LocalStore(args.store_dir)
    if store.counts()["Product"] == 0:
        meta, reviews = _files(args.data)
        print(f"loading {meta.name} and {reviews.name} into {args.store_dir} ...", flush=True)
        rc = load(store_spec, meta=meta, reviews=reviews, quarantine=args.store_dir / "quarantine.jsonl")
        if rc != 0:
            return rc
    snap = store.snapshot()
    product = args.product or _most_reviewed(snap, _with_lists(snap)[0])
    if product is None:
        print(
            f"kgrec demo: no product in {args.store_dir} has both lists: pass --product",
            file=sys.stderr,
        )
        return 2
    if product not in snap.index("Product"):
        print(f"kgrec demo: no product {product!r} in {args.store_dir}", file=sys.stderr)
        return 2
    try:
        version, how = _model(store_spec, args.registry, snap)
    except TrainFailed as e:
        print(f"kgrec demo: {e}", file=sys.stderr)
        return e.status

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
        ready = _wait_ready(args.port, serving)
        if (ready.get("model") or {}).get("version") != version:
            print(
                f"kgrec demo: the server serves {ready.get('model')}, not model {version} (see its log above)",
                file=sys.stderr,
            )
            return 1
        print(f"\nserving model {version} ({how})")
        _show(snap, product, _ask(url, product))
        _added(snap, url)
        print(f"\nGraphQL server: {url}  (GraphiQL in a browser; POST queries as JSON)")
        print(
            f"try: curl -s {url} -H 'content-type: application/json' "
            f'-d \'{{"query":"{{ bundle(productId: \\"{product}\\", k: 3) {{ product {{ id title }} score }} }}"}}\''
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
