"""Server fixtures: the real server, as a subprocess, over the fixture graph (see server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.server import Server, start_server, stop_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the read-mostly tests; tests that change rules undo them."""
    s = start_server(tmp_path_factory.mktemp("api"))
    yield s
    stop_server(s)
