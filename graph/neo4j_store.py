"""The Neo4j store: the system of record where it is configured, and the merchandisers' window (Neo4j Browser).

Every statement is a constant string with parameters; label and type names come only from the schema's fixed
tables, never from input. Writes are batched ``UNWIND $rows ... MERGE`` in one transaction per batch, retried on
transient errors by the driver's managed transactions.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from graph.schema import LEARNED, NODES, RELATIONSHIPS, GraphBatch
from graph.snapshot import Snapshot
from graph.store import RULES_SCHEMA, WriteCounts, check_rule

log = logging.getLogger(__name__)

BATCH_ROWS = 20_000


def _set_props(var: str, names: list[str], verb: str) -> str:
    """Property assignments from parallel list parameters; a null never erases a stored value."""
    if not names:
        return ""
    if verb == "CREATE":
        return " SET " + ", ".join(f"{var}.{n} = ${n}[i]" for n in names)
    return " SET " + ", ".join(f"{var}.{n} = coalesce(${n}[i], {var}.{n})" for n in names)


def _node_cypher(label: str, verb: str) -> str:
    spec = NODES[label]
    props = _set_props("n", [n for n in spec.schema.names if n != spec.key], verb)
    return f"UNWIND range(0, size($k) - 1) AS i {verb} (n:{label} {{{spec.key}: $k[i]}}){props}"


def _rel_cypher(type_: str, verb: str) -> str:
    s = RELATIONSHIPS[type_]
    src, dst = NODES[s.src], NODES[s.dst]
    return (
        f"UNWIND range(0, size($s) - 1) AS i MATCH (a:{src.label} {{{src.key}: $s[i]}}) "
        f"MATCH (b:{dst.label} {{{dst.key}: $d[i]}}) {verb} (a)-[e:{type_}]->(b)"
        + _set_props("e", s.schema.names[2:], verb)
    )


# Parallel lists, one per column, as parameters: they pack in a fraction of the client CPU of a map per row.
# CREATE where the label or type had nothing at the start of a write (the first load: no MERGE look-up of
# existing relationships, about twice as fast), MERGE otherwise (a re-load, an incremental load, a resumed one).
_CYPHER = {
    verb: {
        **{label: _node_cypher(label, verb) for label in NODES},
        **{t: _rel_cypher(t, verb) for t in RELATIONSHIPS},
    }
    for verb in ("CREATE", "MERGE")
}
_CONSTRAINTS = [
    f"CREATE CONSTRAINT {label.lower()}_{spec.key} IF NOT EXISTS FOR (n:{label}) REQUIRE n.{spec.key} IS UNIQUE"
    for label, spec in NODES.items()
] + [
    "CREATE INDEX complement_model IF NOT EXISTS FOR ()-[e:COMPLEMENT]-() ON (e.model)",
    "CREATE INDEX substitute_model IF NOT EXISTS FOR ()-[e:SUBSTITUTE]-() ON (e.model)",
]


def _columns(table: pa.Table, names: list[str], keep: list[int] | None) -> dict[str, list[Any]]:
    out = {}
    for n in names:
        values = table.column(n).to_pylist()
        out[n] = values if keep is None else [values[i] for i in keep]
    return out


def _first_time(seen: set, keys: list) -> list[int]:
    """Positions of the keys not seen before (and mark them seen)."""
    keep = []
    for i, k in enumerate(keys):
        if k not in seen:
            seen.add(k)
            keep.append(i)
    return keep


def _chunks(table: pa.Table, size: int) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, size):
        yield table.slice(start, size)


class Neo4jStore:
    """A :class:`~graph.store.GraphStore` over a Neo4j database (5.26 LTS, or any newer server)."""

    def __init__(self, driver: Any, database: str | None = None) -> None:
        self.driver = driver
        self.database = database
        self._schema_ready = False

    @staticmethod
    def connect(uri: str | None = None, user: str | None = None, password: str | None = None) -> Neo4jStore:
        """Connect to `uri`, or to NEO4J_URI / the project's local server when none is given."""
        import neo4j

        from graph.neo4j_server import connection

        d_uri, d_user, d_password = connection()
        # notifications off: counting an absent relationship type is normal here, not worth a warning per call
        driver = neo4j.GraphDatabase.driver(
            uri or d_uri, auth=(user or d_user, password or d_password), notifications_min_severity="OFF"
        )
        driver.verify_connectivity()
        return Neo4jStore(driver, os.environ.get("NEO4J_DATABASE"))

    def __repr__(self) -> str:
        return f"Neo4jStore({self.driver.encrypted and 'encrypted ' or ''}{self.database or 'default db'})"

    def _session(self) -> Any:
        return self.driver.session(database=self.database)

    def ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self._session() as s:
            for stmt in _CONSTRAINTS:
                s.run(stmt).consume()
        self._schema_ready = True

    def _write(self, cypher: str, **params: Any) -> Any:
        def work(tx: Any) -> Any:
            return tx.run(cypher, **params).consume().counters

        with self._session() as s:
            return s.execute_write(work)

    # -- GraphStore ----------------------------------------------------------------------------------------------

    def write(self, batches: Iterable[GraphBatch]) -> WriteCounts:
        self.ensure_schema()
        counts = WriteCounts()
        existing = self.counts()
        fresh = {name for name, c in existing.items() if c == 0}
        # keys written by this call into a fresh label/type: CREATE must never see one twice
        seen: dict[str, set] = {name: set() for name in fresh}
        # Relationships wait until every node is in: a loader's batch may name a product that a later batch brings,
        # and a MATCH that finds no end would drop the relationship silently.
        pending: list[tuple[str, pa.Table]] = []
        for batch in batches:
            for label, table in batch.nodes.items():
                key = NODES[label].key
                for part in _chunks(table, BATCH_ROWS):
                    keys = part.column(key).to_pylist()
                    keep = _first_time(seen[label], keys) if label in fresh else None
                    cols = _columns(part, part.column_names, keep)
                    cols["k"] = cols.pop(key)
                    c = self._write(_CYPHER["CREATE" if label in fresh else "MERGE"][label], **cols)
                    counts.add(label, part.num_rows, c.nodes_created)
            pending.extend(batch.rels.items())
        for type_, table in pending:
            for part in _chunks(table, BATCH_ROWS):
                keep = None
                if type_ in fresh:
                    pairs = zip(part.column("src").to_pylist(), part.column("dst").to_pylist(), strict=True)
                    keep = _first_time(seen[type_], list(pairs))
                cols = _columns(part, part.column_names, keep)
                cols["s"], cols["d"] = cols.pop("src"), cols.pop("dst")
                c = self._write(_CYPHER["CREATE" if type_ in fresh else "MERGE"][type_], **cols)
                counts.add(type_, part.num_rows, c.relationships_created)
                if type_ in fresh and c.relationships_created < len(cols["s"]):
                    log.warning(
                        "type=%s unmatched=%d msg=relationships whose end nodes are not in the graph were skipped",
                        type_,
                        len(cols["s"]) - c.relationships_created,
                    )
        return counts

    def _stream(self, cypher: str, **params: Any) -> Iterator[list[Any]]:
        with self._session() as s:
            for record in s.run(cypher, **params):
                yield record.values()

    def snapshot(self) -> Snapshot:
        nodes: dict[str, pa.Table] = {}
        for label, spec in NODES.items():
            cols = spec.schema.names
            ret = ", ".join(f"n.{c}" for c in cols)
            rows = list(self._stream(f"MATCH (n:{label}) RETURN {ret}"))
            nodes[label] = (
                pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)}, schema=spec.schema)
                if rows
                else spec.schema.empty_table()
            )
        rels: dict[str, pa.Table] = {}
        for type_, spec in RELATIONSHIPS.items():
            src, dst = NODES[spec.src], NODES[spec.dst]
            props = spec.schema.names[2:]
            ret = ", ".join([f"a.{src.key}", f"b.{dst.key}", *(f"e.{p}" for p in props)])
            rows = list(self._stream(f"MATCH (a:{src.label})-[e:{type_}]->(b:{dst.label}) RETURN {ret}"))
            if rows:
                names = spec.schema.names
                rels[type_] = pa.table(
                    {c: [r[i] for r in rows] for i, c in enumerate(names)}, schema=spec.schema
                )
        return Snapshot.from_tables(nodes, rels)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        with self._session() as s:
            for label in NODES:
                out[label] = s.run(f"MATCH (n:{label}) RETURN count(n) AS c").single()["c"]
            for type_ in RELATIONSHIPS:
                out[type_] = s.run(f"MATCH ()-[e:{type_}]->() RETURN count(e) AS c").single()["c"]
        return out

    def replace_learned(self, type_: str, table: pa.Table, model: str) -> int:
        """Write `model`'s edges first, then delete older models' edges: a product is never without any."""
        if type_ not in LEARNED:
            raise ValueError(f"learned relationship must be one of {LEARNED}, not {type_!r}")
        self.ensure_schema()
        table = GraphBatch(rels={type_: table}).rels[type_]
        upsert = (
            f"UNWIND $rows AS r MATCH (a:Product {{asin: r.s}}) MATCH (b:Product {{asin: r.d}}) "
            f"MERGE (a)-[e:{type_} {{model: $model}}]->(b) SET e.score = r.score, e.rank = r.rank"
        )
        written = 0
        for part in _chunks(table, BATCH_ROWS):
            rows = [
                {"s": s, "d": d, "score": float(sc), "rank": int(rk)}
                for s, d, sc, rk in zip(
                    part.column("src").to_pylist(),
                    part.column("dst").to_pylist(),
                    np.nan_to_num(part.column("score").to_numpy(zero_copy_only=False)),
                    part.column("rank").fill_null(0).to_pylist(),
                    strict=True,
                )
            ]

            def work(tx: Any, rows: list[dict[str, Any]] = rows) -> Any:
                return tx.run(upsert, rows=rows, model=model).consume()

            with self._session() as s:
                s.execute_write(work)
            written += len(rows)
        delete = (
            f"MATCH ()-[e:{type_}]->() WHERE e.model <> $model "
            "CALL (e) { DELETE e } IN TRANSACTIONS OF 50000 ROWS"
        )
        with self._session() as s:
            s.run(delete, model=model).consume()
        return written

    def rules(self) -> pa.Table:
        rows = list(
            self._stream(
                "MATCH (a:Product)-[r:PINNED|BLOCKED]->(b:Product) "
                "RETURN type(r), a.asin, CASE WHEN a = b THEN null ELSE b.asin END, coalesce(r.relation, 'all')"
            )
        )
        return pa.table(
            {c: [r[i] for r in rows] for i, c in enumerate(RULES_SCHEMA.names)}, schema=RULES_SCHEMA
        )

    def set_rule(self, kind: str, product: str, other: str | None, relation: str, on: bool = True) -> bool:
        check_rule(kind, relation)
        # a rule on the product alone is a self-loop, which Browser draws on the product itself
        other_key = product if other is None else other
        if on:
            cypher = (
                "MATCH (a:Product {asin: $a}) MATCH (b:Product {asin: $b}) "
                f"MERGE (a)-[r:{kind} {{relation: $relation}}]->(b) RETURN count(r) AS c"
            )
        else:
            cypher = (
                f"OPTIONAL MATCH (a:Product {{asin: $a}})-[r:{kind} {{relation: $relation}}]->(b:Product {{asin: $b}}) "
                "DELETE r RETURN count(*) AS c, "
                "EXISTS { MATCH (:Product {asin: $a}) } AND EXISTS { MATCH (:Product {asin: $b}) } AS known"
            )

        def work(tx: Any) -> bool:
            rec = tx.run(cypher, a=product, b=other_key, relation=relation).single()
            return bool(rec and (rec["c"] > 0 if on else rec["known"]))

        with self._session() as s:
            return s.execute_write(work)

    def clear(self) -> None:
        """Delete every node and relationship (tests and `kgrec load --replace`)."""
        with self._session() as s:
            s.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> Neo4jStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
