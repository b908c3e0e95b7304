"""What a load did, per node label and relationship type, and the batcher that makes "loaded" exact.

Every row a loader meets is counted once as read, and ends as exactly one of loaded, quarantined or duplicate,
so ``read == loaded + quarantined + duplicate`` holds for every entry: a reader can trust that nothing vanished.
A duplicate is a row repeated inside the input (the same key of a label, the same (src, dst) of a type): it is
counted, neither quarantined nor loaded twice, and the first one wins. `nulled` counts loaded rows that had an
absurd field set to null (each one is also in the quarantine file, under a ``bad_<field>`` reason).

Nodes that a loader derives rather than reads (a Customer from a review, a Category from a path) are counted
once per distinct key: they are read and loaded when first met, and their repeats are no duplicates of the input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import pyarrow as pa

from graph.schema import NODES, RELATIONSHIPS, GraphBatch


class LoadError(Exception):
    """The input had nothing usable (or could not be opened): the command line exits non-zero on it."""


@dataclass
class Counts:
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    duplicate: int = 0
    nulled: int = 0


@dataclass
class LoadSummary:
    """Counts per node label and per relationship type, plus the rows no label or type could be told for."""

    nodes: dict[str, Counts] = field(default_factory=dict)
    rels: dict[str, Counts] = field(default_factory=dict)
    # rows quarantined before their relationship type was known (an edge list line that does not parse)
    unattributed: int = 0

    def node(self, label: str) -> Counts:
        counts = self.nodes.get(label)  # called per row: the cheap way first
        if counts is None:
            if label not in NODES:
                raise KeyError(f"unknown node label {label!r}")
            counts = self.nodes[label] = Counts()
        return counts

    def rel(self, type_: str) -> Counts:
        counts = self.rels.get(type_)
        if counts is None:
            if type_ not in RELATIONSHIPS:
                raise KeyError(f"unknown relationship type {type_!r}")
            counts = self.rels[type_] = Counts()
        return counts

    def to_dict(self) -> dict[str, object]:
        return {
            "nodes": {k: asdict(v) for k, v in self.nodes.items()},
            "rels": {k: asdict(v) for k, v in self.rels.items()},
            "unattributed": self.unattributed,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        names = [*self.nodes, *self.rels]
        width = max([len(n) for n in names] + [len("unattributed")])
        cols = ("read", "loaded", "quarantined", "duplicate", "nulled")
        lines = [f"{'':<{width}}" + "".join(f"{c:>13}" for c in cols)]
        for name, counts in [*self.nodes.items(), *self.rels.items()]:
            lines.append(f"{name:<{width}}" + "".join(f"{getattr(counts, c):>13,}" for c in cols))
        if self.unattributed:
            lines.append(f"{'unattributed':<{width}}" + f"{'':>13}{'':>13}{self.unattributed:>13,}")
        return "\n".join(lines)


class BatchBuilder:
    """Collects rows into :class:`GraphBatch` objects of about `batch_size` rows, and counts them as loaded.

    Rows count as loaded when they leave in a batch: the one place that counts "loaded" is the one place rows go
    out, so the summary cannot drift from what a store receives. Rows are tuples in the column order of the
    label's or type's schema.
    """

    def __init__(self, summary: LoadSummary, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        self.summary = summary
        self.batch_size = batch_size
        self._nodes: dict[str, list[tuple[object, ...]]] = {}
        self._rels: dict[str, list[tuple[object, ...]]] = {}
        self._pending = 0

    def node(self, label: str, row: tuple[object, ...]) -> None:
        self._nodes.setdefault(label, []).append(row)
        self._pending += 1

    def rel(self, type_: str, row: tuple[object, ...]) -> None:
        self._rels.setdefault(type_, []).append(row)
        self._pending += 1

    @property
    def full(self) -> bool:
        return self._pending >= self.batch_size

    def drain(self) -> Iterator[GraphBatch]:
        """The rows added since the last drain as one batch; nothing when there are none."""
        if not self._pending:
            return
        batch = GraphBatch(
            nodes={label: _table(rows, NODES[label].schema) for label, rows in self._nodes.items()},
            rels={type_: _table(rows, RELATIONSHIPS[type_].schema) for type_, rows in self._rels.items()},
        )
        for label, rows in self._nodes.items():
            self.summary.node(label).loaded += len(rows)
        for type_, rows in self._rels.items():
            self.summary.rel(type_).loaded += len(rows)
        self._nodes, self._rels, self._pending = {}, {}, 0
        yield batch


def _table(rows: list[tuple[object, ...]], schema: pa.Schema) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    return pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
    )
