"""Session fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.prerequisites import unavailable

BEAUTY = Path(__file__).resolve().parents[1].parent / "shared/data/amazon-beauty"
CELLPHONES = Path(__file__).resolve().parents[1].parent / "shared/data/amazon-cellphones"


@pytest.fixture(scope="session")
def beauty() -> Path:
    """The Amazon Beauty files (../shared/data/README.md); missing, the tests that read them skip, or fail in CI."""
    if not BEAUTY.is_dir():
        unavailable(f"{BEAUTY} is not there")
    return BEAUTY


@pytest.fixture(scope="session")
def cellphones() -> Path:
    """The Amazon Cell Phones files (../shared/data/README.md), a real catalog without titles; missing, the tests
    that read them skip, or fail in CI."""
    if not CELLPHONES.is_dir():
        unavailable(f"{CELLPHONES} is not there")
    return CELLPHONES


@pytest.fixture(scope="session")
def neo4j_uri_auth() -> Iterator[tuple[str, str, str]]:
    """(uri, user, password) of a Neo4j that answers, for tests marked ``neo4j``.

    Uses the server at :func:`graph.neo4j.connection.connection` when one answers (NEO4J_URI, or the local server
    already running); otherwise provisions and starts the local one, and stops it at the end of the session
    only if it started it here. With CI=true nothing is skipped: a server that cannot start is an error. Outside
    CI a machine without Java 17/21 or Maven skips these tests.
    """
    from neo4j.exceptions import AuthError

    from graph.neo4j import server
    from graph.neo4j.connection import connection, password_file, ping

    uri, user, password = connection()
    try:
        if ping(uri, user, password):
            yield uri, user, password
            return
    except AuthError as exc:
        raise RuntimeError(
            f"Neo4j at {uri} refuses user {user!r} with the configured password (NEO4J_PASSWORD or "
            f"{password_file()})"
        ) from exc
    if os.environ.get("NEO4J_URI"):
        # An explicit server that does not answer is a broken setup, not a reason to start another one.
        raise RuntimeError(f"NEO4J_URI={uri} does not answer")

    missing = server.missing_tools()
    if missing:
        unavailable(
            f"the local Neo4j needs {' and '.join(missing)}; install what is missing, or set NEO4J_URI"
        )
    started = not server.start().already_running  # another process may have won the race
    try:
        yield connection()
    finally:
        if started:
            server.stop()


@pytest.fixture(scope="session")
def neo4j_to_empty(neo4j_uri_auth: tuple[str, str, str]) -> tuple[str, str, str]:
    """:func:`neo4j_uri_auth` for tests that empty the database: a server named by NEO4J_URI may hold someone's
    data, so it is emptied only with KGREC_TEST_NEO4J_CLEAR=1 (without it, these tests skip, or fail in CI)."""
    if os.environ.get("NEO4J_URI") and os.environ.get("KGREC_TEST_NEO4J_CLEAR") != "1":
        unavailable(
            "these tests empty the database: set KGREC_TEST_NEO4J_CLEAR=1 to run them against NEO4J_URI"
        )
    return neo4j_uri_auth


CHROMIUM = "/usr/bin/chromium"
# as root, in a closed network: no sandbox, and none of Chromium's background connections
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Any]:
    """A Playwright browser context on Debian's headless Chromium (never a downloaded browser), fresh profile.

    Outside CI a machine without chromium skips the browser tests; in CI (``make test`` installs it) that is an
    error, so a browser test can never pass by not running.
    """
    if not shutil.which(CHROMIUM):
        unavailable("Debian's chromium is not installed: `make browser` (as root) installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Playwright takes the profile as user_data_dir rather than a --user-data-dir flag
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()
