"""The evidence written with learned edges (gnn/infer.py): what in the graph backs each learned pair."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from gnn.infer import evidence, learned_edges
from gnn.registry import ServingArtifact
from graph.schema import GraphBatch
from graph.snapshot import Snapshot


def _snapshot() -> Snapshot:
    """a -> b also bought, b -> c bought together, c - d also viewed; u1 reviewed a and b, bought a; u2 reviewed
    a and b too; u3 viewed c and d; a, b in category k1 (under k0), c in k0 only, e nowhere."""
    batch = GraphBatch(
        nodes={
            "Product": pa.table({"asin": ["a", "b", "c", "d", "e"]}),
            "Customer": pa.table({"id": ["u1", "u2", "u3"]}),
            "Category": pa.table({"id": ["k0", "k1"]}),
        },
        rels={
            "ALSO_BOUGHT": pa.table({"src": ["a"], "dst": ["b"]}),
            "BOUGHT_TOGETHER": pa.table({"src": ["b"], "dst": ["c"]}),
            "ALSO_VIEWED": pa.table({"src": ["c"], "dst": ["d"]}),
            "REVIEWED": pa.table({"src": ["u1", "u1", "u2", "u2"], "dst": ["a", "b", "a", "b"]}),
            "PURCHASED": pa.table({"src": ["u1"], "dst": ["a"]}),
            "VIEWED": pa.table({"src": ["u3", "u3"], "dst": ["c", "d"]}),
            "IN_CATEGORY": pa.table(
                {"src": ["a", "a", "b", "b", "c"], "dst": ["k0", "k1", "k0", "k1", "k0"]}
            ),
        },
    )
    return Snapshot.from_tables(batch.nodes, batch.rels)


def test_evidence_names_lists_shared_customers_and_category():
    snap = _snapshot()
    p = snap.index("Product")
    src = np.array([p["a"], p["b"], p["b"], p["a"], p["e"]])
    dst = np.array([p["b"], p["a"], p["c"], p["c"], p["a"]])
    assert evidence(snap, "complement", src, dst) == [
        "also_bought; 2 shared customers; same category",  # u1 counted once though it reviewed and bought a
        "2 shared customers; same category",  # complements are directional: the list says a -> b only
        "bought_together",  # b's deepest category is k1, c's is k0
        "model only",
        "model only",
    ]
    c, d = p["c"], p["d"]
    # substitutes are symmetric: also_viewed backs both directions
    assert evidence(snap, "substitute", np.array([d, c]), np.array([c, d])) == [
        "also_viewed; 1 shared customer",
        "also_viewed; 1 shared customer",
    ]


def test_learned_edges_carry_evidence_only_with_a_snapshot():
    snap = _snapshot()
    art = ServingArtifact(
        product_ids=np.array(["a", "b", "c", "d", "e"], dtype=object),
        neighbors={
            r: np.array([[1, -1], [0, 2], [-1, -1], [2, -1], [0, -1]], np.int32)
            for r in ("complement", "substitute")
        },
        scores={r: np.ones((5, 2), np.float32) for r in ("complement", "substitute")},
        embeddings=np.zeros((5, 4), np.float32),
    )
    plain = learned_edges(art, "complement")
    assert "evidence" not in plain.column_names and plain.num_rows == 5
    table = learned_edges(art, "complement", snap)
    rows = list(
        zip(
            table.column("src").to_pylist(),
            table.column("dst").to_pylist(),
            table.column("evidence").to_pylist(),
            strict=True,
        )
    )
    assert rows[0] == ("a", "b", "also_bought; 2 shared customers; same category")
    assert ("b", "c", "bought_together") in rows and ("e", "a", "model only") in rows
