"""`kgrec neo4j start|stop|status|password`: the project's own Neo4j 5.26 server, provisioned from Maven Central."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "neo4j",
        help="provision, start, stop the local Neo4j server",
        description=(
            "Manage the project's local Neo4j Community 5.26 server (no Docker): provisioned from Maven Central "
            "into ~/.cache/kgrec, listening on 127.0.0.1 only, auth on. Browser at http://127.0.0.1:7474/browser."
        ),
    )
    p.add_argument("action", choices=["start", "stop", "status", "password"], help="what to do")
    return p


def run(args: argparse.Namespace) -> int:
    from graph.neo4j_server import main

    argv = [args.action] + (["-v"] * args.verbose if args.verbose else [])
    return int(main(argv) or 0)
