"""The project's local Neo4j server: it answers Cypher, serves Browser, enforces auth."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import neo4j
import pytest
from neo4j.exceptions import AuthError

from graph.neo4j import server
from graph.neo4j.config import ServerConfig
from graph.neo4j.connection import ping
from tests.prerequisites import unavailable

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def driver(neo4j_uri_auth: tuple[str, str, str]) -> Iterator[neo4j.Driver]:
    uri, user, password = neo4j_uri_auth
    with neo4j.GraphDatabase.driver(uri, auth=(user, password)) as d:
        yield d


@pytest.fixture
def local(neo4j_uri_auth: tuple[str, str, str]) -> ServerConfig:
    """The local server's config; these checks mean nothing for a remote NEO4J_URI."""
    cfg = ServerConfig.from_env()
    if neo4j_uri_auth[0] != cfg.bolt_uri:
        unavailable(f"the suite uses {neo4j_uri_auth[0]}, not the local server")
    return cfg


def test_answers_cypher(driver: neo4j.Driver) -> None:
    records, _, _ = driver.execute_query("RETURN 1 AS one")
    assert records[0]["one"] == 1


def test_is_neo4j_5_26(driver: neo4j.Driver) -> None:
    records, _, _ = driver.execute_query("CALL dbms.components() YIELD name, versions RETURN name, versions")
    kernel = {r["name"]: r["versions"] for r in records}["Neo4j Kernel"]
    assert kernel[0].startswith("5.26.")


def test_wrong_password_is_refused(neo4j_uri_auth: tuple[str, str, str]) -> None:
    uri, user, password = neo4j_uri_auth
    with pytest.raises(AuthError):
        ping(uri, user, password + "-wrong")


def test_browser_page_loads(local: ServerConfig) -> None:
    with urllib.request.urlopen(local.browser_url, timeout=10) as reply:
        assert reply.status == 200
        html = reply.read().decode("utf-8", errors="replace")
    assert "Neo4j Browser" in html


def test_discovery_advertises_the_bolt_port_browser_connects_to(local: ServerConfig) -> None:
    with urllib.request.urlopen(local.http_url + "/", timeout=10) as reply:
        doc = json.loads(reply.read())
    assert doc["bolt_direct"] == local.bolt_uri


def test_status_reports_running(local: ServerConfig) -> None:
    st = server.status(local)
    assert st.running and st.pid
    assert st.version is not None and st.version.startswith("5.26.")
    # and the command says so (exit 0; 3 when not running)
    done = subprocess.run([sys.executable, "-m", "kgrec", "neo4j", "status"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"pid {st.pid}" in done.stdout
