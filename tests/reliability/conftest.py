"""Fixtures of the reliability suite: one real server (a subprocess) shared by the tests that do not stop it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.server import Server, start_server, stop_server
from tests.reliability.support import MAX_SESSIONS


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The fixture graph with model v1 promoted, holding at most MAX_SESSIONS sessions."""
    s = start_server(
        tmp_path_factory.mktemp("reliability"), extra_env={"KGREC_MAX_SESSIONS": str(MAX_SESSIONS)}
    )
    yield s
    stop_server(s)
