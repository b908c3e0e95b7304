"""A product-to-product edge list (TSV or CSV, plain or gzipped) as validated graph batches.

The common way a shop hands over co-purchase data it computed itself: ``src, dst[, relation[, weight]]`` per
line. The delimiter is a tab on a line that has one, else a comma: told per line, so one bad line (a garbled
first line above all) cannot make every other line unreadable. A first line whose cells are all column
names (``src``/``source``/``from``, ``dst``/``target``/``to``, ``relation``/``type``, ``weight``) is a header
and then says the column order; without one the order is ``src, dst, relation, weight``. Quoted cells follow the
csv module; a quoted cell may not span lines.

Relations are the schema's Product->Product types, in any case, plus the names other sources use: ``also_buy``
and ``complement`` are ALSO_BOUGHT, ``also_view`` and ``substitute`` are ALSO_VIEWED. A missing or empty
relation is `default_relation`; a missing or empty weight is 1.0. Every endpoint becomes a Product (title null).
A row repeating a (relation, src, dst) is a duplicate: the first one, and its weight, wins.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

from graph.schema import GraphBatch
from loaders.quarantine import (
    BAD_WEIGHT,
    MALFORMED,
    MISSING_FIELD,
    SELF_LOOP,
    UNKNOWN_RELATION,
    Quarantine,
    read_lines,
)
from loaders.summary import BatchBuilder, LoadError, LoadSummary

# what an edge list may call its relation (case-insensitive) -> the relationship type it loads as
RELATION_NAMES = {
    "also_bought": "ALSO_BOUGHT",
    "also_viewed": "ALSO_VIEWED",
    "bought_together": "BOUGHT_TOGETHER",
    "also_buy": "ALSO_BOUGHT",
    "also_view": "ALSO_VIEWED",
    "complement": "ALSO_BOUGHT",
    "substitute": "ALSO_VIEWED",
}
COLUMNS = ("src", "dst", "relation", "weight")
_HEADER_NAMES = {
    "src": "src",
    "source": "src",
    "from": "src",
    "dst": "dst",
    "target": "dst",
    "to": "dst",
    "relation": "relation",
    "type": "relation",
    "weight": "weight",
}


def relation_type(name: str) -> str | None:
    """The relationship type a relation name stands for (case-insensitive), None when it is none of them."""
    return RELATION_NAMES.get(name.strip().lower())


def read_edgelist(
    path: Path,
    quarantine: Quarantine,
    summary: LoadSummary,
    default_relation: str = "ALSO_BOUGHT",
    batch_size: int = 50_000,
) -> Iterator[GraphBatch]:
    """Stream the edges of `path` and the products they name as graph batches.

    Bad rows (a missing src or dst, an unknown relation, a weight that is not a finite number >= 0, a self loop, a
    line that does not parse) go to `quarantine`; counts go to `summary`. Raises :class:`LoadError` when the file
    is missing or has no usable row, and ValueError for a `default_relation` that is no relation name.
    """
    default = relation_type(default_relation)
    if default is None:
        raise ValueError(f"default_relation {default_relation!r} is none of {sorted(RELATION_NAMES)}")
    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    out = BatchBuilder(summary, batch_size)
    products: set[str] = set()
    edges: set[tuple[str, str, str]] = set()
    first = True
    columns: dict[str, int] = {c: i for i, c in enumerate(COLUMNS)}
    for number, text in read_lines(path, quarantine):
        if text is None:
            summary.unattributed += 1
            continue
        delimiter = "\t" if "\t" in text else ","
        if first:
            first = False
            header = _header(text, delimiter)
            if header is not None:
                columns = header
                continue
        cells = _cells(text, delimiter)
        if cells is None or len(cells) > len(columns):
            quarantine.add(path, number, MALFORMED, text)
            summary.unattributed += 1
            continue
        named = {c: cells[i] for c, i in columns.items() if i < len(cells)}
        type_ = relation_type(named["relation"]) if named.get("relation") else default
        if type_ is None:
            quarantine.add(path, number, UNKNOWN_RELATION, text)
            summary.unattributed += 1
            continue
        counts = summary.rel(type_)
        counts.read += 1
        src, dst = named.get("src", ""), named.get("dst", "")
        weight = _weight(named.get("weight"))
        reason = None
        if not src or not dst:
            reason = MISSING_FIELD
        elif weight is None:
            reason = BAD_WEIGHT
        elif src == dst:
            reason = SELF_LOOP
        if reason is not None:
            quarantine.add(path, number, reason, text)
            counts.quarantined += 1
            continue
        if (type_, src, dst) in edges:
            counts.duplicate += 1
            continue
        edges.add((type_, src, dst))
        for asin in (src, dst):
            if asin not in products:
                products.add(asin)
                summary.node("Product").read += 1
                out.node("Product", (asin, None, None, None))
        out.rel(type_, (src, dst, weight))
        if out.full:
            yield from out.drain()
    if not edges:
        raise LoadError(f"{path}: no usable edge (see the quarantine)")
    yield from out.drain()


def _cells(text: str, delimiter: str) -> list[str] | None:
    try:
        row = next(csv.reader([text], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return None
    return [c.strip() for c in row]


def _header(text: str, delimiter: str) -> dict[str, int] | None:
    """Column name -> position when the line is a header naming src and dst, else None (the line is data)."""
    cells = _cells(text, delimiter) or []
    names = [name for c in cells if (name := _HEADER_NAMES.get(c.lower())) is not None]
    if len(names) != len(cells) or len(set(names)) != len(names) or not {"src", "dst"} <= set(names):
        return None
    return {name: i for i, name in enumerate(names)}


def _weight(cell: str | None) -> float | None:
    """The edge weight: 1.0 when absent, None when it is not a finite number >= 0 (the row is quarantined)."""
    if not cell:
        return 1.0
    try:
        weight = float(cell)
    except ValueError:
        return None
    return weight if math.isfinite(weight) and weight >= 0 else None
