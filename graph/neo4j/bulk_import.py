"""Bulk first load: the graph as CSV files, then ``neo4j-admin database import full`` into a stopped server.

Neo4jStore.write is the transactional path, for incremental loads into a live graph. A first load at catalog
scale (1M products, 10M edges) goes through Neo4j's offline importer instead, which writes the store files
directly and is an order of magnitude faster (bench/neo4j_scale.py measures both)::

    export = write_csv(batches, Path("var/import"), rules)  # a header file and a data file per label and type
    report = import_full(export, ServerConfig.from_env())   # the server must be stopped; its graph is replaced

Headers name an id space per label (``asin:ID(Product)``), so relationship files refer to their ends by key, as
batches do. The Community importer creates no indexes or constraints: start the server and call
:meth:`Neo4jStore.ensure_schema` afterwards (``kgrec neo4j import`` does both).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from graph.neo4j.config import ServerConfig
from graph.neo4j.server import Neo4jServerError, java_home, provision, status, write_config
from graph.schema import NODES, RELATIONSHIPS, RULE_KINDS, GraphBatch
from graph.store import RULES_SCHEMA

log = logging.getLogger(__name__)

# neo4j-admin's header types for the schema's Arrow types; strings need none
_CSV_TYPES = {pa.float64(): "double", pa.float32(): "float", pa.int64(): "long", pa.int32(): "int"}
_RULE_SCHEMA = pa.schema([("src", pa.string()), ("dst", pa.string()), ("relation", pa.string())])
# "IMPORT DONE in 1m 2s 345ms." then "Imported:", then counts of nodes, relationships and properties
_DONE = re.compile(r"(\d+) nodes\s+(\d+) relationships\s+(\d+) properties")


@dataclass
class CsvExport:
    """The files of one export: per node label and relationship type, a header file then a data file."""

    root: Path
    nodes: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    rels: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    # a string value holds a line break: the importer must then parse quoted fields across lines (slower)
    multiline: bool = False

    @property
    def relationships(self) -> int:
        return sum(n for name, n in self.rows.items() if name not in NODES)


@dataclass(frozen=True)
class ImportReport:
    nodes: int
    relationships: int
    properties: int
    seconds: float  # wall time of the importer, its JVM start included
    skipped: int  # lines of the importer's report: relationships whose end nodes were not in the files
    report_file: Path


def _header(names_types: list[tuple[str, pa.DataType]], id_fields: list[str]) -> str:
    cols = list(id_fields)
    for name, type_ in names_types:
        kind = _CSV_TYPES.get(type_)
        cols.append(f"{name}:{kind}" if kind else name)
    return ",".join(cols) + "\n"


def _clean(table: pa.Table) -> tuple[pa.Table, bool]:
    """NaN as null (the importer parses no "nan"), and whether any string holds a line break."""
    multiline = False
    cols = []
    for col in table.columns:
        if pa.types.is_floating(col.type):
            col = pc.if_else(pc.is_nan(col), pa.scalar(None, col.type), col)
        elif pa.types.is_string(col.type) and col.null_count < len(col):
            multiline = multiline or bool(pc.any(pc.match_substring_regex(col, "[\r\n]")).as_py())
        cols.append(col)
    return pa.Table.from_arrays(cols, names=table.column_names), multiline


class _Writer:
    """One data file per label or type, opened on first use and appended to batch by batch."""

    def __init__(self, export: CsvExport) -> None:
        self.export = export
        self.open: dict[str, pacsv.CSVWriter] = {}

    def append(self, name: str, table: pa.Table, header: str, is_node: bool) -> None:
        if table.num_rows == 0:
            return
        table, multiline = _clean(table)
        self.export.multiline = self.export.multiline or multiline
        if name not in self.open:
            head, data = self.export.root / f"{name}.header.csv", self.export.root / f"{name}.csv"
            head.write_text(header)
            (self.export.nodes if is_node else self.export.rels)[name] = (head, data)
            options = pacsv.WriteOptions(include_header=False)
            self.open[name] = pacsv.CSVWriter(data, table.schema, write_options=options)
        self.open[name].write_table(table)
        self.export.rows[name] = self.export.rows.get(name, 0) + table.num_rows

    def close(self) -> None:
        for writer in self.open.values():
            writer.close()


def write_csv(batches: Iterable[GraphBatch], root: Path, rules: pa.Table | None = None) -> CsvExport:
    """Write `batches` (and merchandiser `rules`, as PINNED/BLOCKED relationships) as the importer's CSV files."""
    root.mkdir(parents=True, exist_ok=True)
    export = CsvExport(root)
    writer = _Writer(export)
    try:
        for batch in batches:
            for label, table in batch.nodes.items():
                spec = NODES[label]
                props = [(f.name, f.type) for f in spec.schema if f.name != spec.key]
                # the key column is both the id in the label's id space and the node's key property
                header = _header(props, [f"{spec.key}:ID({label})"])
                writer.append(label, table.select([spec.key, *(n for n, _ in props)]), header, is_node=True)
            for type_, table in batch.rels.items():
                rel = RELATIONSHIPS[type_]
                props = [(f.name, f.type) for f in rel.schema][2:]
                header = _header(props, [f":START_ID({rel.src})", f":END_ID({rel.dst})"])
                writer.append(type_, table, header, is_node=False)
        if rules is not None and rules.num_rows:
            rules = rules.cast(RULES_SCHEMA)
            for kind in RULE_KINDS:
                part = rules.filter(pc.equal(rules.column("kind"), kind))
                # a rule on a product alone is a self-loop, as Neo4jStore.set_rule writes it
                table = pa.table(
                    [
                        part.column("product"),
                        pc.coalesce(part.column("other"), part.column("product")),
                        part.column("relation"),
                    ],
                    schema=_RULE_SCHEMA,
                )
                header = _header([("relation", pa.string())], [":START_ID(Product)", ":END_ID(Product)"])
                writer.append(kind, table, header, is_node=False)
    finally:
        writer.close()
    return export


def local_batches(root: Path, rows: int = 500_000) -> Iterator[GraphBatch]:
    """A LocalStore folder as batches of at most `rows` rows, streamed from its Parquet files (nodes first).

    Reads the layout that graph/local_store.py documents (``nodes/<Label>.parquet``, ``rels/<TYPE>.parquet``),
    row group by row group, where ``LocalStore.snapshot`` would hold everything and drop the properties the
    snapshot has no place for (brands, category names, ratings, learned scores).
    """
    for kind, names in (("nodes", NODES), ("rels", RELATIONSHIPS)):
        for name in names:
            path = root / kind / f"{name}.parquet"
            if not path.exists():
                continue
            for part in pq.ParquetFile(path).iter_batches(rows):
                table = pa.Table.from_batches([part])
                yield GraphBatch(nodes={name: table}) if kind == "nodes" else GraphBatch(rels={name: table})


def local_rules(root: Path) -> pa.Table | None:
    """The merchandiser rules of a LocalStore folder, None when it has none."""
    path = root / "rules.parquet"
    return pq.read_table(path, schema=RULES_SCHEMA) if path.exists() else None


def import_full(
    export: CsvExport, config: ServerConfig | None = None, database: str = "neo4j", memory: str = "25%"
) -> ImportReport:
    """Replace `database` of the server at `config` with the exported graph, through ``neo4j-admin``.

    The server must be stopped (Community cannot take one database offline while the server runs). `memory` is
    the importer's off-heap budget, a size or a share of the machine's memory. Raises
    :class:`~graph.neo4j.server.Neo4jServerError` with the importer's output when it fails.
    """
    cfg = config or ServerConfig.from_env()
    if status(cfg).running:
        raise Neo4jServerError(
            f"Neo4j is running on {cfg.bolt_uri}: stop it first (kgrec neo4j stop); the import replaces its graph"
        )
    provision(cfg)
    # the importer finds the data directory through the same neo4j.conf the server reads
    write_config(cfg)
    report_file = export.root / "import.report"
    report_file.unlink(missing_ok=True)
    cmd = [
        str(java_home() / "bin" / "java"),
        f"-Xmx{cfg.heap}",
        "-cp",
        str(cfg.install_dir / "lib" / "*"),
        "org.neo4j.cli.AdminTool",
        "database",
        "import",
        "full",
        database,
        "--overwrite-destination=true",
        # a store holds no dangling relationships, but an edited folder might: skip and report them, not abort
        "--skip-bad-relationships=true",
        f"--report-file={report_file}",
        f"--max-off-heap-memory={memory}",
        f"--multiline-fields={'true' if export.multiline else 'false'}",
    ]
    cmd += [f"--nodes={label}={head},{data}" for label, (head, data) in export.nodes.items()]
    cmd += [f"--relationships={type_}={head},{data}" for type_, (head, data) in export.rels.items()]
    env = {"NEO4J_HOME": str(cfg.install_dir), "NEO4J_CONF": str(cfg.conf_dir)}
    log.info("importing %d files into %s (%s)", len(export.nodes) + len(export.rels), database, cfg.data_home)
    started = time.monotonic()
    proc = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    done = _DONE.search(output)
    if proc.returncode != 0 or done is None:
        tail = "\n".join(output.splitlines()[-40:])
        raise Neo4jServerError(f"neo4j-admin database import failed (status {proc.returncode}):\n{tail}")
    skipped = len(report_file.read_text().splitlines()) if report_file.exists() else 0
    if skipped:
        log.warning(
            "skipped=%d report=%s msg=relationships naming absent nodes were skipped", skipped, report_file
        )
    return ImportReport(
        nodes=int(done.group(1)),
        relationships=int(done.group(2)),
        properties=int(done.group(3)),
        seconds=seconds,
        skipped=skipped,
        report_file=report_file,
    )
