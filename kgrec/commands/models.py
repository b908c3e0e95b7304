"""`kgrec models`: list the registry's runs, show one, promote one (and write its learned edges into a store)."""

from __future__ import annotations

import argparse
import json
import sys

from graph.stores import open_store
from kgrec.options import add_registry, add_store, add_verbose, on_actions


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "models",
        help="list, show and promote trained runs",
        description="The model registry: every run with its metrics, one run's manifest, and promotion.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="every run, oldest first; * marks the promoted one")
    show = actions.add_parser("show", help="a run's manifest, its checksums verified")
    show.add_argument("version")
    promote = actions.add_parser(
        "promote", help="serve a run (refused if its artifact does not verify and load)"
    )
    promote.add_argument("version")
    add_store(promote, default=None, help="also replace the learned edges in this store")
    on_actions(p, actions, add_registry, add_verbose)
    return p


def run(args: argparse.Namespace) -> int:
    from gnn.infer import promote
    from gnn.registry import ArtifactError, Registry

    registry = Registry(args.registry)
    if args.action == "list":
        promoted = registry.promoted()
        runs = registry.list()
        if not runs:
            print(f"no runs in {registry.root}")
        for m in runs:
            mark = "*" if m["version"] == promoted else " "
            if "error" in m:
                print(f"{mark} {m['version']}  unreadable: {m['error']}")
                continue
            print(f"{mark} {m['version']}  {m.get('created', '?')}  {_summary(m)}")
        return 0
    try:
        if args.action == "show":
            print(json.dumps(registry.verify(args.version), indent=2))
            return 0
        store = open_store(args.store) if args.store else None
        try:
            written = promote(registry, args.version, store)
        finally:
            if store is not None:
                store.close()
    except ArtifactError as e:
        print(f"kgrec models: {e}", file=sys.stderr)
        return 1
    print(f"promoted {args.version}")
    for type_, n in written.items():
        print(f"  {n} {type_} edges written to {args.store}")
    return 0


def _summary(manifest: dict) -> str:
    """Validation NDCG@10 per relation and population, in one line."""
    valid = manifest.get("metrics", {}).get("valid", {})
    cells = [
        f"{rel[:4]}/{pop} {m['ndcg@10']:.3f}"
        for rel, pops in valid.items()
        for pop, m in pops.items()
        if "ndcg@10" in m
    ]
    return "valid NDCG@10 " + " ".join(cells) if cells else "(no validation metrics)"
