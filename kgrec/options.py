"""The options several commands share, declared once, and the one way a command reads the graph a store names.

``--store`` says where the graph is, ``--registry`` where the trained runs are, ``-v`` how much to log. A command
with actions (``kgrec models list``) declares its options on its own parser and again on every action's
(:func:`on_actions`), so ``kgrec models --registry R list`` and ``kgrec models list --registry R`` both work.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph.stores import default_store, open_store

if TYPE_CHECKING:
    from graph.snapshot import Snapshot

STORE_SPECS = "local:DIR (the embedded store), neo4j (from NEO4J_URI), or a neo4j:// or bolt:// URI"
DEFAULT_REGISTRY = Path("var/registry")
# --store's usual default: KGREC_STORE, else local:var/store (graph.store.default_store), read as the parser is built
FROM_ENVIRONMENT: Any = object()

# An option's declaration: adds it to a parser; `default` is what a parser gets when the option is not typed.
Option = Callable[..., None]


def _with_default(help_: str, default: Any) -> str:
    return help_ if default in (None, argparse.SUPPRESS) else f"{help_} (default %(default)s)"


def add_store(
    parser: argparse.ArgumentParser, *, default: Any = FROM_ENVIRONMENT, help: str = "the graph"
) -> None:
    """``--store SPEC``; a `default` of None leaves the choice to the command (``serve`` resolves it among its
    settings, ``models promote`` writes into no store)."""
    default = default_store() if default is FROM_ENVIRONMENT else default
    parser.add_argument("--store", default=default, help=_with_default(f"{help}: {STORE_SPECS}", default))


def add_registry(
    parser: argparse.ArgumentParser, *, default: Any = DEFAULT_REGISTRY, help: str = "model registry"
) -> None:
    """``--registry DIR``: the folder of versioned runs and the PROMOTED pointer (gnn/registry.py)."""
    parser.add_argument("--registry", type=Path, default=default, help=_with_default(help, default))


def add_verbose(parser: argparse.ArgumentParser, *, default: Any = argparse.SUPPRESS) -> None:
    """``-v``: warnings only by default, -v info, -vv debug. Only the top-level parser declares it with a default
    (0); below it the default is SUPPRESS, so ``kgrec neo4j start -v`` works and ``kgrec -v serve`` keeps its -v."""
    parser.add_argument("-v", "--verbose", action="count", default=default, help="say more (-vv for debug)")


def on_actions(
    parser: argparse.ArgumentParser, actions: argparse._SubParsersAction, *options: Option
) -> None:
    """Declare `options` on a command's parser and on each of its actions' parsers.

    The actions' copies default to SUPPRESS: argparse copies every attribute an action's parser sets over the
    command's, so a copy with a real default would undo a value typed before the action.
    """
    for add in options:
        add(parser)
        for action in actions.choices.values():
            add(action, default=argparse.SUPPRESS)


@contextmanager
def open_snapshot(spec: str) -> Iterator[Snapshot]:
    """The graph the store `spec` names, in memory; the store is closed when the block ends, errors included.

    Commands keep the block to reading what they need: compute runs on the snapshot alone, with no connection
    held open. (``train`` opens its store itself: it writes learned edges back when it promotes.)
    """
    store = open_store(spec)
    try:
        yield store.snapshot()
    finally:
        store.close()
