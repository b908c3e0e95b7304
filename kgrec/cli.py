"""The `kgrec` command: one entry point, a subcommand per job, each in its own module under kgrec/commands/.

Each command module provides ``add_parser(subparsers)`` (which registers its name, help and flags) and
``run(args) -> int``. This file only wires them, so adding a command never touches another's code; options more
than one command takes are declared once, in kgrec/options.py.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from kgrec.options import add_verbose

# order = order in `kgrec --help`
COMMANDS = (
    "demo",
    "load",
    "serve",
    "neo4j",
    "candidates",
    "train",
    "evaluate",
    "score",
    "models",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kgrec",
        description="kgrec: graph-based product recommendations (complements, substitutes, sessions).",
    )
    add_verbose(parser, default=0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"kgrec.commands.{name}")
        p = module.add_parser(sub)
        if p.get_default("verbose") is None:  # a command with actions declares -v on them itself
            add_verbose(p)
        p.set_defaults(_run=module.run)
    return parser


def setup_logging(verbosity: int) -> None:
    """Structured (key=value) and quiet by default: warnings only; -v info, -vv debug."""
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level,
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
        stream=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
