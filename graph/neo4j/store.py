"""The Neo4j store: the system of record where it is configured, and the merchandisers' window (Neo4j Browser).

Every statement is a constant string with parameters; label and type names come only from the schema's fixed
tables, never from input. Writes are batched ``UNWIND ... CREATE|MERGE`` in one transaction per batch, retried on
transient errors by the driver's managed transactions. Relationships are written between nodes found by their
internal ids, resolved once per write call; reads page through the graph in columns (one list per property per
page), never one record per row. Internal ids are used only within one call and never stored: Neo4j reuses them.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.schema import LEARNED_TYPES, NODES, RELATIONSHIPS, GraphBatch
from graph.snapshot import CSR, Snapshot
from graph.store import RULES_SCHEMA, WriteCounts, check_rule

log = logging.getLogger(__name__)

BATCH_ROWS = 20_000
# Keys whose internal ids one write call remembers (about 100 bytes each); past it, ids are looked up per batch.
ID_CACHE_KEYS = 2_000_000
RULE_RETRY_S = 5.0  # how long a rule write retries while the server is unreachable
# A relationship load of at least PREFETCH_ROWS rows, at least PREFETCH_SHARE times as many as an end label has
# nodes, reads all that label's ids in one paged pass first instead of an index seek per end per batch.
PREFETCH_ROWS = 100_000
PREFETCH_SHARE = 0.5
# Snapshot pages: nodes per page, and about how many relationships (a page is a range of source node ids).
NODE_PAGE = 50_000
REL_PAGE = 100_000


def _set_props(var: str, names: list[str], verb: str) -> str:
    """Property assignments from parallel list parameters; a null never erases a stored value."""
    if not names:
        return ""
    if verb == "CREATE":
        return " SET " + ", ".join(f"{var}.{n} = ${n}[i]" for n in names)
    return " SET " + ", ".join(f"{var}.{n} = coalesce(${n}[i], {var}.{n})" for n in names)


# Writes take parallel lists, one per column, as parameters: they pack in a fraction of the client CPU of a map
# per row. CREATE where the label or type had nothing at the start of a write (the first load: no MERGE look-up of
# existing relationships, about twice as fast), MERGE otherwise (a re-load, an incremental load, a resumed one).
@functools.lru_cache(maxsize=512)
def _node_cypher(label: str, verb: str, names: tuple[str, ...] | None = None) -> str:
    """The write of one batch of `label` nodes setting `names` (default: every property of the schema)."""
    spec = NODES[label]
    props = _set_props(
        "n", list(names) if names is not None else [n for n in spec.schema.names if n != spec.key], verb
    )
    # the ids come back in the order of $k, so this call's relationships can find their ends by id
    return (
        f"UNWIND range(0, size($k) - 1) AS i {verb} (n:{label} {{{spec.key}: $k[i]}}){props} "
        "RETURN collect(id(n)) AS ids"
    )


@functools.lru_cache(maxsize=512)
def _rel_cypher(type_: str, verb: str, names: tuple[str, ...] | None = None) -> str:
    """The write of one batch of `type_` relationships setting `names` (default: every property)."""
    s = RELATIONSHIPS[type_]
    # By id: a NodeByIdSeek and a label check per end, where a key would cost a locking unique-index seek.
    return (
        f"UNWIND range(0, size($s) - 1) AS i MATCH (a:{s.src}) WHERE id(a) = $s[i] "
        f"MATCH (b:{s.dst}) WHERE id(b) = $d[i] {verb} (a)-[e:{type_}]->(b)"
        + _set_props("e", list(names) if names is not None else s.schema.names[2:], verb)
    )


def _present(table: pa.Table, names: list[str]) -> tuple[str, ...]:
    """The properties with a value in some row of `table`. A column null throughout sets nothing (MERGE keeps
    the stored value for a null, CREATE has none to set), yet its SET cost Neo4j about a third of each row's
    write: leaving it out of the statement keeps the result and saves that."""
    return tuple(n for n in names if table.column(n).null_count < table.num_rows)


def _learned_cypher(type_: str) -> dict[str, str]:
    """The statements of one batch of a model swap: read the batch's products' edges, update, create, delete."""
    props = [n for n in RELATIONSHIPS[type_].schema.names[2:] if n != "model"]
    # a re-run of the same model overwrites, so its values are the model's, nulls included
    assign = ", ".join(["e.model = $model", *(f"e.{n} = ${n}[i]" for n in props)])
    return {
        "existing": (
            "UNWIND $p AS pid MATCH (a:Product) WHERE id(a) = pid "
            f"MATCH (a)-[e:{type_}]->(b:Product) "
            "RETURN collect(id(e)) AS e, collect(pid) AS a, collect(id(b)) AS b"
        ),
        "update": f"UNWIND range(0, size($e) - 1) AS i MATCH ()-[e:{type_}]->() WHERE id(e) = $e[i] SET {assign}",
        "create": (
            "UNWIND range(0, size($s) - 1) AS i MATCH (a:Product) WHERE id(a) = $s[i] "
            f"MATCH (b:Product) WHERE id(b) = $d[i] CREATE (a)-[e:{type_}]->(b) SET {assign}"
        ),
        "delete": f"UNWIND $e AS eid MATCH ()-[e:{type_}]->() WHERE id(e) = eid DELETE e",
    }


def _node_page_cypher(label: str, properties: bool = True) -> str:
    spec = NODES[label]
    # the snapshot keeps only the key of every label, and a product's title and price (properties=False: the
    # key alone, for a write's id lookups)
    cols = [spec.key, *(["title", "price"] if label == "Product" and properties else [])]
    names = ["key", *cols[1:]]  # "key", not the key's own name: Category's is `id`
    ret = ", ".join(
        ["[n IN ns | id(n)] AS nid", *(f"[n IN ns | n.{c}] AS {n}" for c, n in zip(cols, names, strict=True))]
    )
    # Grouping by id range makes the pages on the server (node references only: small); each page is one
    # record, computed as the client pulls it. List comprehensions, not collect(), keep nulls in place.
    return f"MATCH (n:{label}) WITH id(n) / $page AS page, collect(n) AS ns RETURN {ret}"


def _rel_page_cypher(type_: str) -> str:
    s = RELATIONSHIPS[type_]
    names = s.schema.names
    # what Snapshot.from_tables makes of a missing value: weight or score 1.0, ts -1
    cols = ["collect(id(a)) AS s", "collect(id(b)) AS d"]
    if "score" in names or "weight" in names:
        cols.append(f"collect(coalesce(e.{'score' if 'score' in names else 'weight'}, 1.0)) AS w")
    if "ts" in names:
        cols.append("collect(coalesce(e.ts, -1)) AS ts")
    out = [c.rsplit(" AS ", 1)[1] for c in cols]
    return (
        f"MATCH (a:{s.src}) WITH id(a) / $page AS page, collect(a) AS sources "
        "CALL (sources) { UNWIND sources AS a "
        f"MATCH (a)-[e:{type_}]->(b:{s.dst}) "
        # creation order: a fresh load's rows keep the order the source listed them in
        "WITH a, e, b ORDER BY id(e) "
        f"RETURN {', '.join(cols)} }} RETURN {', '.join(out)}"
    )


_LEARNED_CYPHER = {t: _learned_cypher(t) for t in LEARNED_TYPES}
_LOOKUP = {
    label: f"MATCH (n:{label}) WHERE n.{spec.key} IN $k RETURN collect(n.{spec.key}) AS k, collect(id(n)) AS ids"
    for label, spec in NODES.items()
}
_NODE_PAGES = {label: _node_page_cypher(label) for label in NODES}
_ID_PAGES = {label: _node_page_cypher(label, properties=False) for label in NODES}
_REL_PAGES = {t: _rel_page_cypher(t) for t in RELATIONSHIPS}
_SCHEMA = [
    f"CREATE CONSTRAINT {label.lower()}_{spec.key} IF NOT EXISTS FOR (n:{label}) REQUIRE n.{spec.key} IS UNIQUE"
    for label, spec in NODES.items()
] + [
    # Earlier versions indexed the learned edges' model. With that index, MERGE (a)-[:COMPLEMENT {model}]->(b)
    # is planned as a seek of every edge of the model per row (quadratic); without it, an expand between a and b.
    "DROP INDEX complement_model IF EXISTS",
    "DROP INDEX substitute_model IF EXISTS",
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


def _product_chunks(table: pa.Table, size: int) -> Iterator[pa.Table]:
    """Slices of about `size` rows of a table sorted by `src`, each holding all of its products' rows."""
    src = table.column("src")
    # positions where a new product's rows start: the only places a slice may end
    starts = np.flatnonzero(pc.not_equal(src[1:], src[:-1]).to_numpy(zero_copy_only=False)) + 1
    start = 0
    while start < table.num_rows:
        after = np.searchsorted(starts, start + size)
        end = int(starts[after]) if after < len(starts) else table.num_rows
        yield table.slice(start, end - start)
        start = end


def _swap_batch(
    tx: Any, cypher: dict[str, str], model: str, src: list[int], dst: list[int], cols: dict[str, list[Any]]
) -> None:
    """In one transaction: the batch's products' learned edges become exactly the new rows.

    An edge the new model keeps (same two products) is updated in place; new pairs are created; the products'
    other edges (an older model's, or a repeat) are deleted.
    """
    rec = tx.run(cypher["existing"], p=sorted(set(src))).single(strict=True)
    at: dict[tuple[int, int], int] = {}
    gone: list[int] = []
    for e, a, b in zip(rec["e"], rec["a"], rec["b"], strict=True):
        if (a, b) in at:
            gone.append(e)
        else:
            at[(a, b)] = e
    update = [i for i, pair in enumerate(zip(src, dst, strict=True)) if pair in at]
    create = [i for i, pair in enumerate(zip(src, dst, strict=True)) if pair not in at]
    kept = {at[(src[i], dst[i])] for i in update}
    gone += [e for e in at.values() if e not in kept]
    if update:
        pick = {n: [v[i] for i in update] for n, v in cols.items()}
        tx.run(cypher["update"], e=[at[(src[i], dst[i])] for i in update], model=model, **pick).consume()
    if create:
        pick = {n: [v[i] for i in create] for n, v in cols.items()}
        s, d = [src[i] for i in create], [dst[i] for i in create]
        tx.run(cypher["create"], s=s, d=d, model=model, **pick).consume()
    if gone:
        tx.run(cypher["delete"], e=gone).consume()


def _first_per_pair(table: pa.Table) -> pa.Table:
    """The first row of each (src, dst) pair, in table order: CREATE would make a second edge of a repeat."""
    rows = table.append_column("_row", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    first = rows.group_by(["src", "dst"], use_threads=False).aggregate([("_row", "min")]).column("_row_min")
    if len(first) == table.num_rows:
        return table
    return table.take(pa.chunked_array(first).combine_chunks().sort())


def _concat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


class _NodeIds:
    """Internal node ids by key for one write call, so that relationships find their ends by id.

    Ids come back from this call's node writes, or from one read per batch for keys not known yet. At most
    `limit` keys are kept; past that, keys are looked up per batch (memory stays bounded at catalog scale).
    """

    def __init__(self, store: Neo4jStore, limit: int = ID_CACHE_KEYS) -> None:
        self.store = store
        self.limit = limit
        self.size = 0
        self.known: dict[str, dict[str, int]] = {label: {} for label in NODES}

    def add(self, label: str, keys: list[str], ids: list[int]) -> None:
        room = self.limit - self.size
        if room <= 0:
            return
        known = self.known[label]
        before = len(known)
        known.update(zip(keys[:room], ids[:room], strict=True))
        self.size += len(known) - before

    def load_all(self, label: str, total: int) -> bool:
        """Read all `total` `label` nodes' keys and ids at once (paged, as the snapshot reads them) when they fit
        the limit: for a large relationship load that is far cheaper on the server than an index seek per end."""
        if self.size - len(self.known[label]) + total > self.limit:
            return False
        self.size -= len(self.known[label])
        self.known[label] = {}
        with self.store._session() as session:
            for rec in session.run(_ID_PAGES[label], page=NODE_PAGE):
                self.add(label, rec["key"], rec["nid"])
        return True

    def get(self, label: str, keys: list[str]) -> list[int | None]:
        """The id of each key, None where no node of `label` has it."""
        known = self.known[label]
        missing = [k for k in dict.fromkeys(keys) if k not in known]
        found: dict[str, int] = {}
        if missing:
            rec = self.store._read_one(_LOOKUP[label], k=missing)
            found = dict(zip(rec["k"], rec["ids"], strict=True))
            self.add(label, rec["k"], rec["ids"])
        return [known[k] if k in known else found.get(k) for k in keys]


class _Positions:
    """Internal node id -> dense snapshot id, for whole arrays at once (a sorted copy and searchsorted)."""

    def __init__(self, internal: np.ndarray) -> None:
        self.order = np.argsort(internal, kind="stable")
        self.sorted = internal[self.order]

    def __call__(self, ids: list[int]) -> np.ndarray:
        x = np.asarray(ids, dtype=np.int64)
        if len(self.sorted) == 0:
            return np.full(len(x), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.sorted, x), len(self.sorted) - 1)
        return np.where(self.sorted[at] == x, self.order[at], -1)


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

        from graph.neo4j.connection import connection

        d_uri, d_user, d_password = connection()
        # Notifications off: counting an absent relationship type is normal here, and id() is deprecated but
        # deliberate (see the module docstring); neither is worth a warning per call.
        driver = neo4j.GraphDatabase.driver(
            uri or d_uri, auth=(user or d_user, password or d_password), notifications_min_severity="OFF"
        )
        driver.verify_connectivity()
        return Neo4jStore(driver, os.environ.get("NEO4J_DATABASE"))

    def __repr__(self) -> str:
        return f"Neo4jStore({self.driver.encrypted and 'encrypted ' or ''}{self.database or 'default db'})"

    def _session(self, **config: Any) -> Any:
        return self.driver.session(database=self.database, **config)

    def ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self._session() as s:
            for stmt in _SCHEMA:
                s.run(stmt).consume()
        self._schema_ready = True

    def _write(self, cypher: str, **params: Any) -> tuple[dict[str, Any] | None, Any]:
        """Run one statement in a managed write transaction: (its one record or None, its counters)."""

        def work(tx: Any) -> tuple[dict[str, Any] | None, Any]:
            result = tx.run(cypher, **params)
            record = result.single()
            return (record.data() if record else None), result.consume().counters

        with self._session() as s:
            return s.execute_write(work)

    def _read_one(self, cypher: str, **params: Any) -> dict[str, Any]:
        def work(tx: Any) -> dict[str, Any]:
            return tx.run(cypher, **params).single(strict=True).data()

        with self._session() as s:
            return s.execute_read(work)

    # -- GraphStore ----------------------------------------------------------------------------------------------

    def write(self, batches: Iterable[GraphBatch]) -> WriteCounts:
        self.ensure_schema()
        counts = WriteCounts()
        existing = self.counts()
        fresh = {name for name, c in existing.items() if c == 0}
        # keys written by this call into a fresh label/type: CREATE must never see one twice
        seen: dict[str, set] = {name: set() for name in fresh}
        ids = _NodeIds(self)
        # Relationships wait until every node is in: a loader's batch may name a product that a later batch brings,
        # and a MATCH that finds no end would drop the relationship silently.
        pending: list[tuple[str, pa.Table]] = []
        for batch in batches:
            for label, table in batch.nodes.items():
                key = NODES[label].key
                for part in _chunks(table, BATCH_ROWS):
                    keys = part.column(key).to_pylist()
                    keep = _first_time(seen[label], keys) if label in fresh else None
                    names = _present(part, [n for n in part.column_names if n != key])
                    cols = _columns(part, [key, *names], keep)
                    cols["k"] = cols.pop(key)
                    verb = "CREATE" if label in fresh else "MERGE"
                    rec, c = self._write(_node_cypher(label, verb, names), **cols)
                    ids.add(label, cols["k"], rec["ids"] if rec else [])
                    counts.add(label, part.num_rows, c.nodes_created)
            pending.extend(batch.rels.items())
        ends: dict[str, int] = {}
        for type_, table in pending:
            for end in (RELATIONSHIPS[type_].src, RELATIONSHIPS[type_].dst):
                ends[end] = ends.get(end, 0) + table.num_rows
        for label, rows in ends.items():
            nodes = existing.get(label, 0) + counts.created.get(label, 0)  # as the graph holds them now
            if rows >= PREFETCH_ROWS and rows >= PREFETCH_SHARE * nodes:
                ids.load_all(label, nodes)
        for type_, table in pending:
            spec = RELATIONSHIPS[type_]
            for part in _chunks(table, BATCH_ROWS):
                src = ids.get(spec.src, part.column("src").to_pylist())
                dst = ids.get(spec.dst, part.column("dst").to_pylist())
                keep = [
                    i
                    for i, (a, b) in enumerate(zip(src, dst, strict=True))
                    if a is not None and b is not None
                ]
                if len(keep) < part.num_rows:
                    log.warning(
                        "type=%s unmatched=%d msg=relationships whose end nodes are not in the graph were skipped",
                        type_,
                        part.num_rows - len(keep),
                    )
                if type_ in fresh:
                    keep = [keep[j] for j in _first_time(seen[type_], [(src[i], dst[i]) for i in keep])]
                # grouped by source, stable (a source's list keeps its order, which the snapshot reads back as
                # its ranking): each transaction then walks the store's records in order, with fewer page-cache
                # misses and lock waits
                if keep:
                    ks = np.asarray(keep)
                    by_source = np.asarray([src[i] for i in keep], dtype=np.int64)
                    keep = ks[np.argsort(by_source, kind="stable")].tolist()
                names = _present(part, spec.schema.names[2:])
                cols = _columns(part, list(names), keep)
                cols["s"], cols["d"] = [src[i] for i in keep], [dst[i] for i in keep]
                verb = "CREATE" if type_ in fresh else "MERGE"
                _, c = self._write(_rel_cypher(type_, verb, names), **cols)
                counts.add(type_, part.num_rows, c.relationships_created)
        return counts

    def _stream(self, cypher: str, **params: Any) -> Iterator[list[Any]]:
        with self._session() as s:
            for record in s.run(cypher, **params):
                yield record.values()

    def snapshot(self) -> Snapshot:
        """The whole graph, read in one transaction (the ids of one read are consistent) as columnar pages.

        Memory stays at the snapshot's own arrays plus a page or two: each page arrives as one list per column
        and becomes numpy arrays at once.
        """
        present = {name: c for name, c in self.counts().items() if c}
        # two pages in flight: the next one is on its way while this one is converted
        with self._session(fetch_size=2) as s:
            return s.execute_read(self._read_snapshot, present)

    @staticmethod
    def _read_snapshot(tx: Any, present: dict[str, int]) -> Snapshot:
        keys: dict[str, np.ndarray] = {}
        positions: dict[str, _Positions] = {}
        product_cols: dict[str, list[np.ndarray]] = {"title": [], "price": []}
        for label in NODES:
            key_parts, id_parts = [], []
            if label in present:
                for rec in tx.run(_NODE_PAGES[label], page=NODE_PAGE):
                    id_parts.append(np.asarray(rec["nid"], dtype=np.int64))
                    key_parts.append(np.asarray(rec["key"], dtype=object))
                    if label == "Product":
                        product_cols["title"].append(np.asarray(rec["title"], dtype=object))
                        product_cols["price"].append(np.asarray(rec["price"], dtype=np.float64))  # None: NaN
            keys[label] = _concat(key_parts, object)
            positions[label] = _Positions(_concat(id_parts, np.int64))
        snap = Snapshot(
            ids=keys,
            rels={},
            titles=_concat(product_cols["title"], object),
            prices=_concat(product_cols["price"], np.float64),
        )
        for type_, spec in RELATIONSHIPS.items():
            if type_ not in present:
                continue
            n_src = snap.n(spec.src)
            # a page is a range of source ids sized to hold about REL_PAGE relationships on average
            page = max(1, REL_PAGE * n_src // present[type_])
            names = spec.schema.names
            has_w, has_ts = "score" in names or "weight" in names, "ts" in names
            cols: dict[str, list[np.ndarray]] = {"s": [], "d": [], "w": [], "ts": []}
            for rec in tx.run(_REL_PAGES[type_], page=page):
                cols["s"].append(positions[spec.src](rec["s"]))
                cols["d"].append(positions[spec.dst](rec["d"]))
                if has_w:
                    cols["w"].append(np.asarray(rec["w"], dtype=np.float32))
                if has_ts:
                    cols["ts"].append(np.asarray(rec["ts"], dtype=np.int64))
            src, dst = _concat(cols["s"], np.int64), _concat(cols["d"], np.int64)
            ok = (src >= 0) & (dst >= 0)
            snap.rels[type_] = CSR.from_coo(
                src[ok],
                dst[ok],
                n_src,
                snap.n(spec.dst),
                weights=_concat(cols["w"], np.float32)[ok] if has_w else None,
                ts=_concat(cols["ts"], np.int64)[ok] if has_ts else None,
            )
        return snap

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        with self._session() as s:
            for label in NODES:
                out[label] = s.run(f"MATCH (n:{label}) RETURN count(n) AS c").single()["c"]
            for type_ in RELATIONSHIPS:
                out[type_] = s.run(f"MATCH ()-[e:{type_}]->() RETURN count(e) AS c").single()["c"]
        return out

    def replace_learned(self, type_: str, table: pa.Table, model: str) -> int:
        """Replace the learned edges with `model`'s, product by product: a product is never without any.

        Each transaction takes a batch of products from their old edges to their new ones at once: an edge the new
        model keeps is updated in place (a retrained model keeps most pairs, and an update is far cheaper than a
        delete and a create), new pairs are created, dropped ones deleted. Products the new model has no rows for
        lose their edges last. One writer of a learned type at a time. Returns the edges written (rows naming
        an unknown product are skipped and logged).
        """
        if type_ not in LEARNED_TYPES:
            raise ValueError(f"learned relationship must be one of {LEARNED_TYPES}, not {type_!r}")
        self.ensure_schema()
        table = _first_per_pair(GraphBatch(rels={type_: table}).rels[type_])
        table = table.take(pc.sort_indices(table, [("src", "ascending")]))  # stable: ranks keep their order
        cypher = _LEARNED_CYPHER[type_]
        props = [n for n in table.column_names[2:] if n != "model"]
        ids = _NodeIds(self)
        written = 0
        for part in _product_chunks(table, BATCH_ROWS):
            src = ids.get("Product", part.column("src").to_pylist())
            dst = ids.get("Product", part.column("dst").to_pylist())
            keep = [
                i for i, (a, b) in enumerate(zip(src, dst, strict=True)) if a is not None and b is not None
            ]
            s, d, cols = [src[i] for i in keep], [dst[i] for i in keep], _columns(part, props, keep)
            with self._session() as session:
                session.execute_write(_swap_batch, cypher, model, s, d, cols)
            written += len(keep)
        if written < table.num_rows:
            log.warning(
                "type=%s model=%s unmatched=%d msg=learned edges naming unknown products were skipped",
                type_,
                model,
                table.num_rows - written,
            )
        delete = (
            f"MATCH ()-[e:{type_}]->() WHERE e.model IS NULL OR e.model <> $model "
            "CALL (e) { DELETE e } IN TRANSACTIONS OF 50000 ROWS"
        )
        with self._session() as session:
            session.run(delete, model=model).consume()
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

        # a merchandiser waits on this: a few seconds of retries, not the driver's default thirty
        with self._session(max_transaction_retry_time=RULE_RETRY_S) as s:
            return s.execute_write(work)

    def clear(self) -> None:
        """Delete every node and relationship (tests and `kgrec load --replace`)."""
        # relationships first: DETACH DELETE of 10,000 nodes may take millions of relationships into one
        # transaction (popular products), past the server's transaction memory limit
        with self._session() as s:
            s.run("MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS").consume()
            s.run("MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS").consume()

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> Neo4jStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
