"""The embedded store: a folder of Parquet files, one per node label and relationship type, no server.

Layout: ``DIR/nodes/<Label>.parquet``, ``DIR/rels/<TYPE>.parquet``, ``DIR/rules.parquet``. Writes merge like
Cypher's MERGE: a node key or a ``(src, dst)`` pair is stored once, and a later non-null property wins. Files are
replaced atomically (write to a temporary name, then rename), so a reader never sees half a file.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graph.schema import LEARNED_TYPES, NODES, RELATIONSHIPS, GraphBatch
from graph.snapshot import Snapshot
from graph.store import RULES_SCHEMA, WriteCounts, check_rule


class LocalStore:
    """A :class:`~graph.store.GraphStore` over a folder of Parquet files."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # -- files ---------------------------------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if name in NODES:
            return self.root / "nodes" / f"{name}.parquet"
        if name in RELATIONSHIPS:
            return self.root / "rels" / f"{name}.parquet"
        return self.root / f"{name}.parquet"

    def _read(self, name: str, schema: pa.Schema) -> pa.Table:
        path = self._path(name)
        if not path.exists():
            return schema.empty_table()
        return pq.read_table(path, schema=schema)

    def _replace(self, name: str, table: pa.Table) -> None:
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        pq.write_table(table, tmp)
        os.replace(tmp, path)

    # -- GraphStore ----------------------------------------------------------------------------------------------

    def write(self, batches: Iterable[GraphBatch]) -> WriteCounts:
        # Gather everything, then merge each file once: merging per batch would rewrite the files O(batches) times.
        pending: dict[str, list[pa.Table]] = {}
        for batch in batches:
            for name, table in (*batch.nodes.items(), *batch.rels.items()):
                if table.num_rows:
                    pending.setdefault(name, []).append(table)
        counts = WriteCounts()
        for name, tables in pending.items():
            schema = NODES[name].schema if name in NODES else RELATIONSHIPS[name].schema
            keys = [NODES[name].key] if name in NODES else ["src", "dst"]
            old = self._read(name, schema)
            new = pa.concat_tables(tables)
            merged = _merge(old, new, keys)
            if merged.num_rows != old.num_rows or not merged.equals(old):
                self._replace(name, merged)
            counts.add(name, new.num_rows, merged.num_rows - old.num_rows)
        return counts

    def snapshot(self) -> Snapshot:
        nodes = {label: self._read(label, spec.schema) for label, spec in NODES.items()}
        rels = {t: self._read(t, spec.schema) for t, spec in RELATIONSHIPS.items() if self._path(t).exists()}
        return Snapshot.from_tables(nodes, rels)

    def counts(self) -> dict[str, int]:
        out = {}
        for name in (*NODES, *RELATIONSHIPS):
            path = self._path(name)
            out[name] = pq.ParquetFile(path).metadata.num_rows if path.exists() else 0
        return out

    def replace_learned(self, type_: str, table: pa.Table, model: str) -> int:
        if type_ not in LEARNED_TYPES:
            raise ValueError(f"learned relationship must be one of {LEARNED_TYPES}, not {type_!r}")
        table = GraphBatch(rels={type_: table}).rels[type_]
        table = table.set_column(
            table.schema.get_field_index("model"), "model", pa.array([model] * table.num_rows)
        )
        self._replace(type_, table)
        return table.num_rows

    def rules(self) -> pa.Table:
        return self._read("rules", RULES_SCHEMA)

    def set_rule(self, kind: str, product: str, other: str | None, relation: str, on: bool = True) -> bool:
        check_rule(kind, relation)
        known = self._read("Product", NODES["Product"].schema).column("asin")
        wanted = [product] if other is None else [product, other]
        if not pc.all(pc.is_in(pa.array(wanted, pa.string()), value_set=known)).as_py():
            return False
        rules = self.rules()
        same = (
            pc.equal(rules.column("kind"), kind).to_numpy(zero_copy_only=False)
            & pc.equal(rules.column("product"), product).to_numpy(zero_copy_only=False)
            & pc.equal(rules.column("relation"), relation).to_numpy(zero_copy_only=False)
            & (
                rules.column("other").is_null().to_numpy(zero_copy_only=False)
                if other is None
                else pc.equal(rules.column("other"), other).fill_null(False).to_numpy(zero_copy_only=False)
            )
        )
        if on and same.any():
            return True  # already in force: keep its place in the list
        kept = rules.filter(pa.array(~same))
        if on:
            row = pa.table(
                {"kind": [kind], "product": [product], "other": [other], "relation": [relation]}, RULES_SCHEMA
            )
            kept = pa.concat_tables([kept, row])
        self._replace("rules", kept)
        return True

    def clear(self) -> None:
        """Delete every node, relationship and rule: the folder goes, and the next write makes it again."""
        shutil.rmtree(self.root, ignore_errors=True)

    def close(self) -> None:
        pass

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _merge(old: pa.Table, new: pa.Table, keys: list[str]) -> pa.Table:
    """MERGE semantics: one row per key, first-seen order kept, each property the last non-null value given."""
    both = pa.concat_tables([old, new])
    if both.num_rows == 0:
        return both
    both = both.append_column("__pos", pa.array(range(both.num_rows), pa.int64()))
    props = [c for c in both.column_names if c not in keys and c != "__pos"]
    aggs = [("__pos", "min"), *[(c, "last") for c in props]]
    grouped = both.group_by(keys, use_threads=False).aggregate(aggs)
    grouped = grouped.sort_by("__pos_min")
    return pa.table(
        {c: grouped.column(c if c in keys else f"{c}_last") for c in old.column_names}, schema=old.schema
    )
