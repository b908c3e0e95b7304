"""`kgrec neo4j start|stop|status|password|import|guide`: the project's own Neo4j 5.26 server, its bulk first load,
and the merchandisers' Browser guide."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from graph.neo4j.config import ServerConfig
    from graph.schema import GraphBatch


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "neo4j",
        help="provision, start, stop the local Neo4j server; bulk-import a graph; serve the Browser guide",
        description=(
            "Manage the project's local Neo4j Community 5.26 server (no Docker): provisioned from Maven Central "
            "into ~/.cache/kgrec, listening on 127.0.0.1 only, auth on. Browser at http://127.0.0.1:7474/browser. "
            "`import --from-store SPEC` replaces the server's graph with a store's through neo4j-admin (offline: "
            "stop the server first; it is started again afterwards). `guide` serves the merchandisers' guide, "
            "saved queries and style on localhost and prints the Browser link that opens it."
        ),
    )
    p.add_argument("action", choices=[*SERVER_ACTIONS, "import", "guide"], help="what to do")
    p.add_argument(
        "--from-store",
        metavar="SPEC",
        help="import: local:DIR (an embedded store) or synthetic:PRODUCTS:EDGES (the synthetic catalog)",
    )
    p.add_argument(
        "--csv-dir", type=Path, help="import: keep the CSV files here (default: a temporary folder)"
    )
    p.add_argument("--no-start", action="store_true", help="import: leave the server stopped afterwards")
    p.add_argument("--port", type=int, help="guide: the port on localhost to serve it from (default 8474)")
    return p


def _source(spec: str) -> tuple[Iterable[GraphBatch], pa.Table | None]:
    """The batches and rules (a table, or None) that `spec` names."""
    if spec.startswith("local:"):
        from graph.neo4j.bulk_import import local_batches, local_rules

        root = Path(spec.removeprefix("local:")).expanduser()
        if not root.is_dir():
            raise ValueError(f"{root} is not a folder")
        return local_batches(root), local_rules(root)
    if spec.startswith("synthetic:"):
        from loaders.synthetic import synthetic_batches

        products, _, edges = spec.removeprefix("synthetic:").partition(":")
        return synthetic_batches(int(products), int(edges or 0)), None
    raise ValueError(f"unknown source {spec!r}: use local:DIR or synthetic:PRODUCTS:EDGES")


def _import(args: argparse.Namespace) -> int:
    from graph.neo4j import server
    from graph.neo4j.bulk_import import import_full, write_csv
    from graph.neo4j.config import ServerConfig
    from graph.neo4j.store import Neo4jStore

    if not args.from_store:
        print("kgrec neo4j import: --from-store SPEC is required", file=sys.stderr)
        return 2
    if os.environ.get("NEO4J_URI"):
        print(
            "kgrec neo4j import: imports into the project's local server only (its data home), not NEO4J_URI",
            file=sys.stderr,
        )
        return 2
    cfg = ServerConfig.from_env()
    try:
        batches, rules = _source(args.from_store)
        with tempfile.TemporaryDirectory(prefix="kgrec-import-") as tmp:
            export = write_csv(batches, args.csv_dir or Path(tmp), rules)
            report = import_full(export, cfg)
    except (ValueError, server.Neo4jServerError) as e:
        print(f"kgrec neo4j import: {e}", file=sys.stderr)
        return 1
    rate = report.relationships / report.seconds
    print(
        f"imported {report.nodes:,} nodes and {report.relationships:,} relationships in {report.seconds:.0f} s "
        f"({rate:,.0f} relationships/s)"
    )
    if report.skipped:
        print(
            f"  {report.skipped:,} relationships naming absent nodes were skipped: see {report.report_file}"
        )
    if args.no_start:
        return 0
    try:
        server.start(cfg)
    except server.Neo4jServerError as e:
        print(f"kgrec neo4j import: imported, but the server did not start: {e}", file=sys.stderr)
        return 1
    # the importer creates no constraints; writes and Browser's look-ups by key need them
    with Neo4jStore.connect() as store:
        store.ensure_schema()
    print(f"Neo4j started with the imported graph: {cfg.browser_url}")
    return 0


def _guide(args: argparse.Namespace) -> int:
    from neo4j.exceptions import Neo4jError, ServiceUnavailable

    from graph.neo4j.browser.guide import (
        DEFAULT_PORT,
        PLACEHOLDER_PARAMS,
        browser_link,
        example_params,
        make_server,
    )
    from graph.neo4j.config import ServerConfig
    from graph.neo4j.store import Neo4jStore

    params = dict(PLACEHOLDER_PARAMS)
    try:
        with Neo4jStore.connect() as store:
            params = example_params(store)
    except (Neo4jError, ServiceUnavailable, OSError) as e:
        print(f"(no graph answered, so the guide's parameters are placeholders: {e})", file=sys.stderr)
    port = DEFAULT_PORT if args.port is None else args.port
    try:
        server, origin = make_server(params, port)
    except OSError as e:
        print(f"kgrec neo4j guide: cannot listen on port {port}: {e}", file=sys.stderr)
        return 1
    guide = f"{origin}/guide.html"
    print(f"Serving the merchandisers' guide at {guide} (Ctrl-C stops it).")
    print(f"Open Neo4j Browser with it:\n  {browser_link(ServerConfig.from_env().browser_url, guide)}")
    print(f"or, in a Browser already open, run  :guide {guide}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _start(cfg: ServerConfig) -> int:
    from graph.neo4j.connection import DEFAULT_USER, password_file
    from graph.neo4j.server import start

    result = start(cfg)
    st = result.status
    if result.already_running:
        print(f"Neo4j already running (pid {st.pid})")
    else:
        print(f"Neo4j {st.version} started (pid {st.pid})")
    print(f"  bolt:    {st.bolt_uri}\n  browser: {st.browser_url}")
    if result.generated_password:
        print(f"  user {DEFAULT_USER}, generated password (stored in {password_file()}):")
        print(f"  {result.generated_password}")
    return 0


def _stop(cfg: ServerConfig) -> int:
    from graph.neo4j.server import stop

    pid = stop(cfg)
    print(f"Neo4j stopped (pid {pid})" if pid is not None else "Neo4j was not running")
    return 0


def _status(cfg: ServerConfig) -> int:
    """Exit status 3 when the server is not running, as an init script's status is."""
    from graph.neo4j.server import status

    st = status(cfg)
    if not st.running:
        print("Neo4j not running")
        return 3
    print(f"Neo4j {st.version or cfg.version} running (pid {st.pid})")
    print(f"  bolt:    {st.bolt_uri}\n  browser: {st.browser_url}\n  data:    {cfg.data_home}")
    return 0


def _password(cfg: ServerConfig) -> int:
    from graph.neo4j.connection import connection, password_file

    password = connection()[2]
    if not password:
        print(
            f"no password: set NEO4J_PASSWORD or run `kgrec neo4j start` once (it stores {password_file()})",
            file=sys.stderr,
        )
        return 1
    print(password)
    return 0


SERVER_ACTIONS: dict[str, Callable[[ServerConfig], int]] = {
    "start": _start,
    "stop": _stop,
    "status": _status,
    "password": _password,
}


def run(args: argparse.Namespace) -> int:
    if args.action == "import":
        return _import(args)
    if args.action == "guide":
        return _guide(args)
    from graph.neo4j.config import ServerConfig
    from graph.neo4j.server import Neo4jServerError

    if args.verbose < 2:
        logging.getLogger("neo4j").setLevel(
            logging.WARNING
        )  # the driver logs every failed connect while we wait
    try:
        return SERVER_ACTIONS[args.action](ServerConfig.from_env())
    except Neo4jServerError as e:
        print(f"kgrec neo4j {args.action}: {e}", file=sys.stderr)
        return 1
