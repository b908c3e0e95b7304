"""The graph schema of DESIGN.md, and the columnar batches that loaders hand to stores.

Loaders yield :class:`GraphBatch` objects: one pyarrow table per node label and per relationship type, with the
columns named in :data:`NODES` and :data:`RELATIONSHIPS`. Stores merge them (idempotently: the same batch written
twice changes nothing). Columnar batches, not one object per row, because the synthetic catalog has 10M edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa


@dataclass(frozen=True)
class NodeSpec:
    label: str
    key: str
    schema: pa.Schema


@dataclass(frozen=True)
class RelSpec:
    type: str
    src: str
    dst: str
    schema: pa.Schema  # always starts with `src`, `dst` (the key values of the end nodes)


def _rel(type_: str, src: str, dst: str, *props: pa.Field) -> RelSpec:
    return RelSpec(
        type_, src, dst, pa.schema([pa.field("src", pa.string()), pa.field("dst", pa.string()), *props])
    )


NODES: dict[str, NodeSpec] = {
    "Product": NodeSpec(
        "Product",
        "asin",
        pa.schema(
            [
                pa.field("asin", pa.string()),
                pa.field("title", pa.string()),
                pa.field("brand", pa.string()),
                pa.field("price", pa.float64()),
            ]
        ),
    ),
    "Category": NodeSpec(
        "Category", "id", pa.schema([pa.field("id", pa.string()), pa.field("name", pa.string())])
    ),
    "Brand": NodeSpec("Brand", "name", pa.schema([pa.field("name", pa.string())])),
    "Customer": NodeSpec("Customer", "id", pa.schema([pa.field("id", pa.string())])),
}

_TS = pa.field("ts", pa.int64())
_RATING = pa.field("rating", pa.float32())
_WEIGHT = pa.field("weight", pa.float32())
_LEARNED = (
    pa.field("score", pa.float32()),
    pa.field("rank", pa.int32()),
    pa.field("model", pa.string()),
    # why, in a few words a merchandiser reads in Browser (e.g. "also_bought; 3 shared customers"); optional
    pa.field("evidence", pa.string()),
)

RELATIONSHIPS: dict[str, RelSpec] = {
    # observed
    "REVIEWED": _rel("REVIEWED", "Customer", "Product", _TS, _RATING),
    "PURCHASED": _rel("PURCHASED", "Customer", "Product", _TS),
    "VIEWED": _rel("VIEWED", "Customer", "Product", _TS),
    "IN_CATEGORY": _rel("IN_CATEGORY", "Product", "Category"),
    "MADE_BY": _rel("MADE_BY", "Product", "Brand"),
    "SUBCATEGORY_OF": _rel("SUBCATEGORY_OF", "Category", "Category"),
    "ALSO_BOUGHT": _rel("ALSO_BOUGHT", "Product", "Product", _WEIGHT),
    "ALSO_VIEWED": _rel("ALSO_VIEWED", "Product", "Product", _WEIGHT),
    "BOUGHT_TOGETHER": _rel("BOUGHT_TOGETHER", "Product", "Product", _WEIGHT),
    # learned
    "COMPLEMENT": _rel("COMPLEMENT", "Product", "Product", *_LEARNED),
    "SUBSTITUTE": _rel("SUBSTITUTE", "Product", "Product", *_LEARNED),
}

# The vocabulary, declared once. A relationship *type* (upper case) is a kind of edge in the graph; an API
# *relation* (lower case) is what is served: `similar` answers substitutes, `bundle` complements.
RELATIONS: tuple[str, ...] = ("complement", "substitute")
LEARNED_TYPES: tuple[str, ...] = ("COMPLEMENT", "SUBSTITUTE")  # written only by gnn/ inference
# relation -> the learned type that stores its ranked lists
LEARNED_TYPE: dict[str, str] = dict(zip(RELATIONS, LEARNED_TYPES, strict=True))
# relation -> the observed list type that labels it (DESIGN.md, "Learning")
LABEL_TYPE: dict[str, str] = {"complement": "ALSO_BOUGHT", "substitute": "ALSO_VIEWED"}
# Customer -> Product: what shoppers did
INTERACTION_TYPES: tuple[str, ...] = ("REVIEWED", "PURCHASED", "VIEWED")
# Product -> Product: the observed co-purchase lists, directed as the source lists them
CO_PURCHASE_TYPES: tuple[str, ...] = ("ALSO_BOUGHT", "ALSO_VIEWED", "BOUGHT_TOGETHER")
# what a loader may write
OBSERVED_TYPES: tuple[str, ...] = tuple(t for t in RELATIONSHIPS if t not in LEARNED_TYPES)
# merchandiser rules: their kinds (relationship types) and the relations a rule applies to
RULE_KINDS: tuple[str, ...] = ("PINNED", "BLOCKED")
RULE_RELATIONS: tuple[str, ...] = (*RELATIONS, "all")


def empty_table(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


@dataclass
class GraphBatch:
    """Some nodes and relationships, each table conforming to its spec's schema (extra columns are an error)."""

    nodes: dict[str, pa.Table] = field(default_factory=dict)
    rels: dict[str, pa.Table] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for label, table in self.nodes.items():
            self.nodes[label] = _conform(table, NODES[label].schema)
        for type_, table in self.rels.items():
            self.rels[type_] = _conform(table, RELATIONSHIPS[type_].schema)

    def __len__(self) -> int:
        return sum(t.num_rows for t in self.nodes.values()) + sum(t.num_rows for t in self.rels.values())


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast `table` to `schema`, adding absent optional columns as nulls, so every store sees one shape."""
    extra = set(table.column_names) - set(schema.names)
    if extra:
        raise ValueError(f"unknown columns {sorted(extra)}; expected {schema.names}")
    cols = []
    for f in schema:
        if f.name in table.column_names:
            cols.append(table.column(f.name).cast(f.type))
        else:
            cols.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(cols, schema=schema)
