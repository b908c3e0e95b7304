"""The one interface of both graph stores, and what every store shares: the rules table and the write counts.

The stores, :class:`~graph.local_store.LocalStore` (embedded) and :class:`~graph.neo4j.store.Neo4jStore`,
implement :class:`GraphStore` and import this module; nothing here imports them, so :func:`graph.stores.open_store`,
which names them, lives beside them in :mod:`graph.stores`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
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

    def clear(self) -> None:
        """Delete every node, relationship and rule (tests and `kgrec load --replace`)."""
        ...

    def close(self) -> None: ...


def check_rule(kind: str, relation: str) -> None:
    """Refuse a rule kind or relation the schema does not name, before a store writes it."""
    if kind not in RULE_KINDS:
        raise ValueError(f"rule kind must be one of {RULE_KINDS}, not {kind!r}")
    if relation not in RULE_RELATIONS:
        raise ValueError(f"rule relation must be one of {RULE_RELATIONS}, not {relation!r}")
