"""A small photo-shop graph whose right answers are known, and registry runs built over it.

40 products in four leaf categories under one department: cameras C00-C09, lenses L00-L09, memory cards
M00-M09, bags B00-B09 (bags B05-B09 have no price). A camera's ALSO_BOUGHT list is three lenses, then a card,
then a bag, so a non-diverse bundle starts with three lenses and a diverse one takes one of each category first.
ALSO_VIEWED lists stay in the category. Ten customers review a few products each, with times. The model of the
registry runs ranks the same products with each list's first two swapped (:func:`model_lists`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from gnn.registry import Registry, ServingArtifact
from graph.local_store import LocalStore
from graph.schema import GraphBatch

if TYPE_CHECKING:
    from graph.neo4j.store import Neo4jStore

KINDS = {
    "C": ("cameras", "Camera"),
    "L": ("lenses", "Lens"),
    "M": ("cards", "Memory card"),
    "B": ("bags", "Bag"),
}
N = 10
API_KEYS = {"merch-key": "merchandiser", "front-key": "frontend", "read-key": "reader"}
CUSTOMER_TOKEN_SECRET = "fixture-secret-of-thirty-two-chars!"  # signs the fixture's customer tokens


def pid(kind: str, i: int) -> str:
    return f"{kind}{i % N:02d}"


def product_ids() -> list[str]:
    return [pid(k, i) for k in KINDS for i in range(N)]


def also_bought() -> dict[str, list[str]]:
    out = {}
    for i in range(N):
        out[pid("C", i)] = [pid("L", i), pid("L", i + 1), pid("L", i + 2), pid("M", i), pid("B", i)]
        out[pid("L", i)] = [pid("M", i), pid("M", i + 1), pid("B", i)]
        out[pid("M", i)] = [pid("B", i), pid("B", i + 1)]
        out[pid("B", i)] = [pid("C", i)]
    return out


def also_viewed() -> dict[str, list[str]]:
    return {pid(k, i): [pid(k, i + 1), pid(k, i + 2), pid(k, i + 3)] for k in KINDS for i in range(N)}


def reviews() -> list[tuple[str, str, int]]:
    """(customer, product, ts): customer U<i> reviewed camera i, then lens i, then card i."""
    out = []
    for i in range(N):
        for j, kind in enumerate("CLM"):
            out.append((f"U{i}", pid(kind, i), 1_500_000_000 + 1000 * i + j))
    return out


def _edges(lists: dict[str, list[str]]) -> pa.Table:
    src = [a for a, bs in lists.items() for _ in bs]
    dst = [b for bs in lists.values() for b in bs]
    return pa.table({"src": src, "dst": dst})


def write_store(root: Path) -> LocalStore:
    ids = product_ids()
    titles = [f"{KINDS[p[0]][1]} {p}" for p in ids]
    brands = ["Acme" if int(p[1:]) % 2 == 0 else "Zenith" for p in ids]
    prices = [None if p[0] == "B" and int(p[1:]) >= 5 else 10.0 + 10 * int(p[1:]) for p in ids]
    revs = reviews()
    batch = GraphBatch(
        nodes={
            "Product": pa.table({"asin": ids, "title": titles, "brand": brands, "price": prices}),
            "Category": pa.table(
                {
                    "id": ["photo", *[KINDS[k][0] for k in KINDS]],
                    "name": ["Photo", *[KINDS[k][1] for k in KINDS]],
                }
            ),
            "Brand": pa.table({"name": ["Acme", "Zenith"]}),
            "Customer": pa.table({"id": [f"U{i}" for i in range(N)]}),
        },
        rels={
            "IN_CATEGORY": pa.table(
                {
                    "src": [p for p in ids for _ in (0, 1)],
                    "dst": [c for p in ids for c in ("photo", KINDS[p[0]][0])],
                }
            ),
            "MADE_BY": pa.table({"src": ids, "dst": brands}),
            "SUBCATEGORY_OF": pa.table({"src": [KINDS[k][0] for k in KINDS], "dst": ["photo"] * len(KINDS)}),
            "ALSO_BOUGHT": _edges(also_bought()),
            "ALSO_VIEWED": _edges(also_viewed()),
            "REVIEWED": pa.table(
                {
                    "src": [c for c, _, _ in revs],
                    "dst": [p for _, p, _ in revs],
                    "ts": [t for _, _, t in revs],
                    "rating": [5.0] * len(revs),
                }
            ),
        },
    )
    store = LocalStore(root)
    store.write([batch])
    return store


def neo4j_store(uri_auth: tuple[str, str, str]) -> Neo4jStore:
    """The fixture graph in the Neo4j at `uri_auth`, emptied first (written through a LocalStore's batches, so
    both stores hold the same rows)."""
    from graph.neo4j.bulk_import import local_batches
    from graph.neo4j.store import Neo4jStore

    store = Neo4jStore.connect(*uri_auth)
    store.clear()
    with tempfile.TemporaryDirectory() as d:
        write_store(Path(d))
        store.write(local_batches(Path(d)))
    return store


def model_lists(reverse: bool = False) -> dict[str, dict[str, list[str]]]:
    """What the fixture's model ranks, per relation and product: the observed list with its first two swapped, so
    that an answer from the model is told apart from one from the observed lists (the fallback without a model);
    each list reversed with `reverse` (another model)."""
    out = {}
    for rel, lists in (("complement", also_bought()), ("substitute", also_viewed())):
        ranked = {p: others[1::-1] + others[2:] for p, others in lists.items()}
        out[rel] = {p: others[::-1] if reverse else others for p, others in ranked.items()}
    return out


def artifact(reverse: bool = False, dim: int = 8) -> ServingArtifact:
    """A model over the fixture: :func:`model_lists` as scored lists, scores falling from 0.9 to 0.5."""
    ids = product_ids()
    pos = {p: i for i, p in enumerate(ids)}
    k = 6
    neighbors, scores = {}, {}
    for rel, lists in model_lists(reverse).items():
        idx = np.full((len(ids), k), -1, dtype=np.int32)
        sc = np.zeros((len(ids), k), dtype=np.float32)
        for p, others in lists.items():
            idx[pos[p], : len(others)] = [pos[o] for o in others]
            sc[pos[p], : len(others)] = np.linspace(0.9, 0.5, len(others))
        neighbors[rel], scores[rel] = idx, sc
    rng = np.random.default_rng(1 if reverse else 0)
    return ServingArtifact(
        product_ids=np.asarray(ids, dtype=object),
        neighbors=neighbors,
        scores=scores,
        embeddings=rng.normal(size=(len(ids), dim)).astype(np.float32),
    )


def add_run(registry: Registry, version: str, art: ServingArtifact, promote: bool = True) -> None:
    registry.write_run(version, {"config": {"fixture": True}}, lambda d: art.save(d / "serving.npz"))
    if promote:
        registry.promote(version)
