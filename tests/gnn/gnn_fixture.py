"""A small synthetic catalog, the same catalog lacking titles, reviews or categories (or all: a bare edge list),
and tiny training configs, shared by the GNN tests (seconds, not minutes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from gnn.config import TrainConfig
from graph.local_store import LocalStore
from graph.schema import GraphBatch
from graph.snapshot import Snapshot
from kgrec.commands.load import load
from loaders.synthetic import synthetic_batches, synthetic_snapshot


def small_catalog(seed: int = 1) -> Snapshot:
    """600 products in 12 categories, 6000 list edges, 300 customers: planted complement/substitute structure."""
    return synthetic_snapshot(600, 6000, n_categories=12, n_customers=300, seed=seed)


def tiny_config(**overrides: object) -> TrainConfig:
    values = {
        "hidden": 16,
        "out_dim": 16,
        "text_dim": 8,
        "pair_hidden": 8,
        "epochs": 2,
        "steps_per_epoch": 4,
        "step_positives": 256,
        "max_positives": 600,
        "negatives": 8,
        "valid_queries": 40,
        "top_k": 10,
        "device": "cpu",
    }
    values.update(overrides)
    return TrainConfig(**values)


# Catalogs that lack a signal, each a real store the `kgrec` commands read: what a shop may hand over.
KINDS = ("no titles", "no reviews", "no categories", "edge list")
# what each kind lacks (gnn/signals.py's names)
LACKS: dict[str, tuple[str, ...]] = {
    "no titles": ("titles",),
    "no reviews": ("interactions",),
    "no categories": ("categories",),
    "edge list": ("titles", "categories", "interactions"),
}
_CATALOG = {"n_products": 600, "n_edges": 6000, "n_categories": 12, "n_customers": 300}


def write_catalog(kind: str, root: Path, seed: int = 2) -> str:
    """Write the synthetic catalog of :func:`small_catalog`'s size, lacking what `kind` lacks, into a LocalStore
    under `root`; returns its store spec. The edge list goes through `kgrec load --edges`, as a shop's would."""
    if kind not in KINDS:
        raise ValueError(f"unknown catalog kind {kind!r}; known: {KINDS}")
    spec = f"local:{root / 'store'}"
    if kind == "edge list":
        snap = synthetic_snapshot(**{**_CATALOG, "n_customers": 0}, seed=seed)
        ids = snap.ids["Product"]
        lines = ["src,dst,relation"]
        for type_ in ("ALSO_BOUGHT", "ALSO_VIEWED"):
            src, dst = snap.rel(type_).coo()
            lines += [f"{ids[a]},{ids[b]},{type_.lower()}" for a, b in zip(src, dst, strict=True)]
        edges = root / "edges.csv"
        edges.write_text("\n".join(lines) + "\n")
        if load(spec, edges=edges, quarantine=root / "quarantine.jsonl", progress=False) != 0:
            raise RuntimeError(f"kgrec load --edges {edges} failed")
        return spec
    customers = 0 if kind == "no reviews" else _CATALOG["n_customers"]
    batches = synthetic_batches(**{**_CATALOG, "n_customers": customers}, seed=seed)
    store = LocalStore(root / "store")
    try:
        store.write(_without(batches, titles=kind != "no titles", categories=kind != "no categories"))
    finally:
        store.close()
    return spec


def _without(batches: Iterator[GraphBatch], titles: bool, categories: bool) -> Iterator[GraphBatch]:
    """The batches with the product titles (the column), or the categories (nodes and edges), left out."""
    for batch in batches:
        nodes = {
            label: table if titles or label != "Product" else table.drop_columns(["title"])
            for label, table in batch.nodes.items()
            if categories or label != "Category"
        }
        rels = {
            t: table
            for t, table in batch.rels.items()
            if categories or t not in ("IN_CATEGORY", "SUBCATEGORY_OF")
        }
        if nodes or rels:
            yield GraphBatch(nodes=nodes, rels=rels)


def write_config(path: Path, config: TrainConfig) -> Path:
    """`config` as the TOML file `kgrec train --config` reads (JSON scalars and lists are TOML too)."""
    path.write_text("\n".join(f"{k} = {json.dumps(v)}" for k, v in config.to_dict().items()))
    return path
