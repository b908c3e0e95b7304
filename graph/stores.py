"""Every graph store by name: `open_store`, which names them the same way everywhere, and the default one.

``--store local:DIR`` is the embedded :class:`~graph.local_store.LocalStore` (a folder of Parquet files);
``--store neo4j`` (connection from NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD, or the project's local server) or a
``neo4j://`` / ``bolt://`` / ``neo4j+s://`` URI is :class:`~graph.neo4j.store.Neo4jStore`. Importing this
module imports no Neo4j driver: :meth:`Neo4jStore.connect <graph.neo4j.store.Neo4jStore.connect>` does.
"""

from __future__ import annotations

import os
from pathlib import Path

from graph.local_store import LocalStore
from graph.neo4j.store import Neo4jStore
from graph.store import GraphStore


def open_store(spec: str) -> GraphStore:
    """Open the store named by `spec`: ``local:DIR``, ``neo4j``, or a Neo4j URI."""
    if spec.startswith("local:"):
        return LocalStore(Path(spec.removeprefix("local:")).expanduser())
    if spec == "neo4j" or spec.split("://", 1)[0] in (
        "neo4j",
        "neo4j+s",
        "neo4j+ssc",
        "bolt",
        "bolt+s",
        "bolt+ssc",
    ):
        uri = None if spec == "neo4j" else spec
        return Neo4jStore.connect(uri)
    raise ValueError(
        f"unknown store {spec!r}: use local:DIR (the embedded store), neo4j (from NEO4J_URI), or a neo4j:// or bolt:// URI"
    )


def default_store() -> str:
    """The store spec used when none is given: KGREC_STORE, else the embedded store in var/store."""
    return os.environ.get("KGREC_STORE", "local:var/store")
