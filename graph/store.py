"""The one interface of both graph stores, and `open_store`, which names them the same way everywhere.

``--store local:DIR`` is the embedded :class:`~graph.local_store.LocalStore` (a folder of Parquet files);
``--store neo4j`` (connection from NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD, or the project's local server) or a
``neo4j://`` / ``bolt://`` / ``neo4j+s://`` URI is :class:`~graph.neo4j.store.Neo4jStore`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from graph.schema import RULE_KINDS, RULE_RELATIONS, GraphBatch
from graph.snapshot import Snapshot

RULES_SCHEMA = pa.schema(
    [
        pa.field("kind", pa.string()),  # PINNED | BLOCKED
        pa.field("product", pa.string()),
        pa.field("other", pa.string()),  # null: the rule is on the product alone
        pa.field("relation", pa.string()),  # complement | substitute | all
    ]
)


@dataclass
class WriteCounts:
    """Per node label and relationship type: rows written, and of those how many were new."""

    written: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, written: int, created: int) -> None:
        self.written[name] = self.written.get(name, 0) + written
        self.created[name] = self.created.get(name, 0) + created


class GraphStore(Protocol):
    """What loaders, training, inference and serving need of a store."""

    def write(self, batches: Iterable[GraphBatch]) -> WriteCounts:
        """Merge the batches in: writing the same rows twice changes nothing."""
        ...

    def snapshot(self) -> Snapshot:
        """The whole graph, in memory."""
        ...

    def counts(self) -> dict[str, int]:
        """Nodes per label and relationships per type."""
        ...

    def replace_learned(self, type_: str, table: pa.Table, model: str) -> int:
        """Replace the learned COMPLEMENT or SUBSTITUTE edges with those of `model`; returns edges written."""
        ...

    def rules(self) -> pa.Table:
        """The merchandiser rules in force, as a table of :data:`RULES_SCHEMA`."""
        ...

    def set_rule(self, kind: str, product: str, other: str | None, relation: str, on: bool = True) -> bool:
        """Add (or with ``on=False`` remove) a rule; False when a product named does not exist."""
        ...

    def close(self) -> None: ...


def check_rule(kind: str, relation: str) -> None:
    if kind not in RULE_KINDS:
        raise ValueError(f"rule kind must be one of {RULE_KINDS}, not {kind!r}")
    if relation not in RULE_RELATIONS:
        raise ValueError(f"rule relation must be one of {RULE_RELATIONS}, not {relation!r}")


def open_store(spec: str) -> GraphStore:
    """Open the store named by `spec`: ``local:DIR``, ``neo4j``, or a Neo4j URI."""
    if spec.startswith("local:"):
        from graph.local_store import LocalStore

        return LocalStore(Path(spec.removeprefix("local:")).expanduser())
    if spec == "neo4j" or spec.split("://", 1)[0] in (
        "neo4j",
        "neo4j+s",
        "neo4j+ssc",
        "bolt",
        "bolt+s",
        "bolt+ssc",
    ):
        from graph.neo4j.store import Neo4jStore

        uri = None if spec == "neo4j" else spec
        return Neo4jStore.connect(uri)
    raise ValueError(
        f"unknown store {spec!r}: use local:DIR (the embedded store), neo4j (from NEO4J_URI), or a neo4j:// or bolt:// URI"
    )


def default_store() -> str:
    return os.environ.get("KGREC_STORE", "local:var/store")
