"""neo4j-admin import of a small synthetic graph, from an embedded store, into a throwaway server.

The throwaway server has its own data home, ports and password file (under pytest's tmp dir), so the project's
server and its stored password are never touched. One import and one server start: about 40 s.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from graph.local_store import LocalStore
from graph.neo4j import server
from graph.neo4j.bulk_import import import_full, local_batches, local_rules, write_csv
from graph.neo4j.config import ServerConfig
from graph.neo4j.store import Neo4jStore
from graph.schema import GraphBatch
from graph.snapshot import Snapshot
from loaders.synthetic import synthetic_batches, synthetic_snapshot
from tests.prerequisites import unavailable

pytestmark = pytest.mark.neo4j

SIZE = {"n_products": 2000, "n_edges": 10_000, "n_categories": 40}
ODD_TITLE = 'Lens "Pro", 50mm\nwith a line break'  # quotes, a comma and a newline: the CSV must carry them


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def throwaway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerConfig]:
    missing = server.missing_tools()
    if missing:
        unavailable(f"the local Neo4j needs {' and '.join(missing)}")
    # a password and password file of its own: the user's ~/.config/kgrec is never rewritten
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("NEO4J_PASSWORD", "throwaway-" + secrets.token_hex(8))
    cfg = dataclasses.replace(
        ServerConfig.from_env(),
        data_home=tmp_path / "neo4j",
        bolt_port=_free_port(),
        http_port=_free_port(),
        heap="512m",
        page_cache="128m",
    )
    yield cfg
    server.stop(cfg)


def _pairs(snap: Snapshot, type_: str, src: str, dst: str) -> set[tuple[str, str]]:
    s, d = snap.rel(type_).coo()
    return set(zip(snap.ids[src][s].tolist(), snap.ids[dst][d].tolist(), strict=True))


def test_a_store_imports_with_its_counts_rules_and_odd_strings(
    throwaway: ServerConfig, tmp_path: Path
) -> None:
    local = LocalStore(tmp_path / "store")
    local.write(
        [
            *synthetic_batches(**SIZE),
            GraphBatch(nodes={"Product": pa.table({"asin": ["ODD"], "title": [ODD_TITLE], "brand": [""]})}),
        ]
    )
    assert local.set_rule("PINNED", "P0000001", "P0000002", "complement")
    assert local.set_rule("BLOCKED", "P0000003", None, "all")

    export = write_csv(local_batches(local.root), tmp_path / "csv", local_rules(local.root))
    assert export.multiline
    report = import_full(export, throwaway)

    expected = synthetic_snapshot(**SIZE).counts()
    expected["Product"] += 1
    assert report.skipped == 0
    assert report.nodes == sum(expected[label] for label in ("Product", "Category", "Brand", "Customer"))
    assert (
        report.relationships
        == export.relationships
        == sum(n for name, n in expected.items() if name.isupper()) + 2
    )  # the two rules

    server.start(throwaway)
    with Neo4jStore.connect(throwaway.bolt_uri, "neo4j", os.environ["NEO4J_PASSWORD"]) as store:
        store.ensure_schema()
        counts = store.counts()
        assert {name: counts[name] for name in expected} == expected
        rules = {tuple(r.values()) for r in store.rules().to_pylist()}
        assert rules == {
            ("PINNED", "P0000001", "P0000002", "complement"),
            ("BLOCKED", "P0000003", None, "all"),
        }
        odd = store.driver.execute_query(
            "MATCH (p:Product {asin: $asin}) RETURN p.title AS title, p.brand AS brand", asin="ODD"
        ).records[0]
        assert (odd["title"], odd["brand"]) == (ODD_TITLE, "")

        # the graph read back is the one generated: same edges, same review times, same prices
        got, want = store.snapshot(), synthetic_snapshot(**SIZE)
        for type_, src, dst in (("ALSO_BOUGHT", "Product", "Product"), ("REVIEWED", "Customer", "Product")):
            assert _pairs(got, type_, src, dst) == _pairs(want, type_, src, dst)
        assert sorted(got.rel("REVIEWED").ts.tolist()) == sorted(want.rel("REVIEWED").ts.tolist())
        price = dict(zip(got.ids["Product"].tolist(), got.prices.tolist(), strict=True))
        assert np.allclose([price[p] for p in want.ids["Product"]], want.prices)
