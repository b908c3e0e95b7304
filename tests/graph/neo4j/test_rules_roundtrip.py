"""Merchandiser rules between Neo4j Browser and the API: a pin or block made with Browser-style Cypher (the guide's own
saved queries, through the driver) changes the real API server's `bundle` answer from its next read of the rules on
(the server counts its reads on /readyz), and one made through the API's mutations is in Neo4j at once. The server runs as a subprocess against Neo4j, with its default
rules refresh interval, over the photo-shop fixture graph loaded into Neo4j.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gnn.registry import Registry
from graph.neo4j.browser.guide import load_queries
from graph.neo4j.store import Neo4jStore
from tests.api import fixture_graph as fg
from tests.api.server import Server, free_port, stop_server, wait_ready

pytestmark = pytest.mark.neo4j

ROOT = Path(__file__).resolve().parents[3]
BUNDLE = '{ bundle(productId: "C01", k: 5, diverse: false) { reason product { id } } }'


@pytest.fixture(scope="module")
def store(neo4j_to_empty: tuple[str, str, str]) -> Iterator[Neo4jStore]:
    s = fg.neo4j_store(neo4j_to_empty)
    yield s
    s.close()


@pytest.fixture(scope="module")
def server(
    store: Neo4jStore, neo4j_uri_auth: tuple[str, str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    uri, user, password = neo4j_uri_auth
    tmp = tmp_path_factory.mktemp("api-neo4j")
    registry = Registry(tmp / "registry")
    fg.add_run(registry, "v1", fg.artifact())
    port = free_port()
    env = {
        **os.environ,
        "NEO4J_USER": user,
        "NEO4J_PASSWORD": password,
        "KGREC_API_KEYS": ",".join(f"{k}:{role}" for k, role in fg.API_KEYS.items()),
    }
    cmd = [sys.executable, "-m", "kgrec", "-v", "serve", "--store", uri, "--registry", str(registry.root)]
    log = tmp / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*cmd, "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    s = Server(f"http://127.0.0.1:{port}", tmp, registry, process, log)
    wait_ready(s)
    yield s
    assert stop_server(s) == 0


def bundle(server: Server) -> list[tuple[str, str]]:
    return [(r["product"]["id"], r["reason"]) for r in server.data(BUNDLE)["bundle"]]


def browser_edit(store: Neo4jStore, query: str, **params: str) -> None:
    """What a merchandiser runs in Browser: the guide's saved query, with :params set."""
    store.driver.execute_query(load_queries()[query].cypher, {"relation": "complement", **params})


def test_a_pin_made_in_browser_reaches_the_bundle(store: Neo4jStore, server: Server) -> None:
    before = bundle(server)
    assert [p for p, _ in before] == fg.model_lists()["complement"]["C01"] and "B07" not in dict(before)

    browser_edit(store, "pin", asin="C01", other="B07")
    server.wait_for_rules_read()
    assert bundle(server)[0] == ("B07", "pinned by a merchandiser")

    browser_edit(store, "remove-rule", asin="C01", other="B07")
    server.wait_for_rules_read()
    assert bundle(server) == before


def test_a_block_made_in_browser_reaches_the_bundle(store: Neo4jStore, server: Server) -> None:
    assert {"L02", "M01"} <= set(dict(bundle(server)))
    browser_edit(
        store, "block-product", asin="L02", relation="all"
    )  # a rule on the product alone: a self-loop
    server.wait_for_rules_read()
    assert "L02" not in dict(bundle(server))
    browser_edit(store, "block", asin="C01", other="M01")
    server.wait_for_rules_read()
    assert "M01" not in dict(bundle(server))

    browser_edit(store, "remove-rule", asin="L02", other="L02", relation="all")
    browser_edit(store, "remove-rule", asin="C01", other="M01")
    server.wait_for_rules_read()
    assert {"L02", "M01"} <= set(dict(bundle(server)))


def test_a_pin_made_through_the_api_is_in_neo4j_at_once(store: Neo4jStore, server: Server) -> None:
    pin = 'mutation($r: Boolean = false) { pin(productId: "C01", otherId: "B03", relation: COMPLEMENT, remove: $r) }'
    assert server.data(pin, key="merch-key") == {"pin": True}
    rules = [r.data() for r in store.driver.execute_query(load_queries()["rules"].cypher).records]
    assert [(r["rule"], r["product"], r["other"], r["relation"]) for r in rules] == [
        ("PINNED", "C01", "B03", "complement")
    ]
    assert bundle(server)[0] == ("B03", "pinned by a merchandiser")
    server.data(pin, {"r": True}, key="merch-key")
    assert store.rules().num_rows == 0
