"""Neo4j Browser for merchandisers: the saved queries answer right on a fixture graph with learned edges, the guide
renders every one of them, and in headless Chromium (Debian's, driven by Playwright; no browser is downloaded)
Browser connects, opens the guide and loads the style by itself (the server's ``browser.post_connect_cmd``), and
runs the guide's first query. Its screenshot is kept as a test artifact.
"""

from __future__ import annotations

import html
import io
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from gnn.infer import learned_edges
from graph.neo4j.browser.guide import (
    browser_link,
    example_params,
    load_queries,
    make_server,
    post_connect_cmd,
    render_guide,
)
from graph.neo4j.config import ServerConfig
from graph.neo4j.store import Neo4jStore
from graph.snapshot import Snapshot
from tests.api import fixture_graph as fg

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "var" / "test-artifacts"
PARAMS = {"asin": "C01", "other": "L02", "relation": "complement"}
OLD, NEW, NEWER = "20250101-000000-0001", "20250102-000000-0001", "20250103-000000-0001"


def real(rel: str, snapshot: Snapshot, drop: str | None = None) -> pa.Table:
    """The fixture's model lists as promotion writes them (gnn/infer.py): with the graph's evidence per pair."""
    table = learned_edges(fg.artifact(), rel, snapshot)
    return table if drop is None else table.filter(pa.compute.not_equal(table.column("src"), drop))


def learned(rel: str, evidence: str, drop: str | None = None) -> pa.Table:
    """The fixture's model lists as learned edges (without `drop`'s), with one evidence text for all."""
    art = fg.artifact()
    nb, sc = art.neighbors[rel], art.scores[rel]
    src, slot = np.nonzero(nb >= 0)
    table = pa.table(
        {
            "src": art.product_ids[src].tolist(),
            "dst": art.product_ids[nb[src, slot]].tolist(),
            "score": sc[src, slot],
            "rank": (slot + 1).astype(np.int32),
            "evidence": [evidence] * len(src),
        }
    )
    return table if drop is None else table.filter(pa.compute.not_equal(table.column("src"), drop))


@pytest.fixture(scope="module")
def graph(neo4j_to_empty: tuple[str, str, str]) -> Iterator[Neo4jStore]:
    """The photo-shop fixture in Neo4j, with an old model's learned edges replaced by a new model's."""
    store = fg.neo4j_store(neo4j_to_empty)
    store.replace_learned("COMPLEMENT", learned("complement", "old model"), OLD)
    # the new model has nothing for B09: it is the product with no complements yet
    snapshot = store.snapshot()
    store.replace_learned("COMPLEMENT", real("complement", snapshot, drop="B09"), NEW)
    store.replace_learned("SUBSTITUTE", real("substitute", snapshot), NEW)
    yield store
    store.close()


def run(store: Neo4jStore, name: str, **params: Any) -> list[dict[str, Any]]:
    records = store.driver.execute_query(load_queries()[name].cypher, {**PARAMS, **params}).records
    return [r.data() for r in records]


def test_the_query_file_holds_parameterized_queries_that_the_guide_shows_all_of() -> None:
    queries = load_queries()
    assert {"bundle", "substitutes", "why", "no-complements", "rules", "pin", "block"} <= set(queries)
    for q in queries.values():
        assert q.about and q.cypher and not q.cypher.endswith(";")
        # parameters only: no product key written into a statement
        assert not re.search(r"asin:\s*['\"]", q.cypher), q.name
    page = render_guide("http://localhost:1", PARAMS)
    assert "{{" not in page
    assert page.count('class="code runnable" data-query=') == len(queries)
    assert ':params {asin: "C01", other: "L02", relation: "complement"}' in html.unescape(page)
    assert "-&gt;" in page  # Cypher arrows survive as text, not as markup


@pytest.mark.neo4j
def test_a_new_model_replaced_the_old_and_carries_its_evidence(graph: Neo4jStore) -> None:
    models = graph.driver.execute_query(
        "MATCH ()-[e:COMPLEMENT]->() RETURN e.model AS model, count(*) AS n, collect(DISTINCT e.evidence) AS ev"
    ).records
    table = real("complement", graph.snapshot(), drop="B09")
    evidence = set(table.column("evidence").to_pylist())
    assert [(r["model"], set(r["ev"])) for r in models] == [(NEW, evidence)]
    # the fixture's model lists hold its co-purchase lists' pairs: every pair's evidence names the list first
    assert all(e.startswith("also_bought") for e in evidence)
    assert "also_bought; 1 shared customer" in evidence  # camera i and lens i share their reviewer
    # the same model again, as a resumed run would: MERGE, nothing doubled
    n = models[0]["n"]
    assert graph.replace_learned("COMPLEMENT", table, NEW) == n
    assert graph.counts()["COMPLEMENT"] == n
    # a newer model whose table repeats its rows: CREATE, still one edge per pair
    assert graph.replace_learned("COMPLEMENT", pa.concat_tables([table, table]), NEWER) == n
    assert graph.counts()["COMPLEMENT"] == n


@pytest.mark.neo4j
def test_the_saved_queries_answer_on_the_fixture(graph: Neo4jStore) -> None:
    assert example_params(graph)["asin"] in fg.product_ids()

    bundle = run(graph, "bundle")
    assert [r["q"]["asin"] for r in bundle] == fg.model_lists()["complement"]["C01"]
    assert {r["c"][1] for r in bundle} == {"COMPLEMENT"}
    assert [r["q"]["asin"] for r in run(graph, "substitutes")] == fg.model_lists()["substitute"]["C01"]

    why = run(graph, "why")
    assert why and why[0]["learned"][0]["evidence"] == "also_bought"  # C01 -> L02: the list, nothing shared
    assert all(len(r["path"]) // 2 <= 4 for r in why)  # a path's data alternates node, relationship, node

    lonely = run(graph, "no-complements")
    assert [r["asin"] for r in lonely] == ["B09"]

    run(graph, "pin", other="B07")
    run(graph, "block-product", asin="M03", relation="all")
    rules = {(r["rule"], r["product"], r["other"], r["relation"]) for r in run(graph, "rules")}
    assert rules == {("PINNED", "C01", "B07", "complement"), ("BLOCKED", "M03", None, "all")}
    assert run(graph, "remove-rule", other="B07") == [{"removed": 1}]
    assert run(graph, "remove-rule", asin="M03", other="M03", relation="all") == [{"removed": 1}]
    assert run(graph, "rules") == []


def server_post_connect_cmd(store: Neo4jStore) -> str | None:
    """The server's ``browser.post_connect_cmd`` as Browser reads it on connecting (``dbms.clientConfig()``)."""
    records = store.driver.execute_query("CALL dbms.clientConfig()", database_="system").records
    return next((r["value"] for r in records if r["name"] == "browser.post_connect_cmd"), None)


@pytest.fixture
def guide_origin(graph: Neo4jStore) -> Iterator[str]:
    """The guide served where the server's post-connect command fetches it (localhost:8474 for the project's own
    server); on a NEO4J_URI server without that setting, on any free port (Browser is then opened with a link)."""
    cmd = server_post_connect_cmd(graph)
    if not os.environ.get("NEO4J_URI"):
        assert cmd == post_connect_cmd(), "the project's server sets browser.post_connect_cmd"
    port = 0
    if cmd:
        found = re.fullmatch(r"guide http://localhost:(\d+)/guide\.html; style \S+", cmd)
        assert found, f"unexpected browser.post_connect_cmd {cmd!r}"
        port = int(found.group(1))
    try:
        server, origin = make_server(PARAMS, port=port)
    except OSError as e:
        pytest.fail(f"cannot serve the guide on port {port} (a `kgrec neo4j guide` running?): {e}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield origin
    server.shutdown()
    server.server_close()


@pytest.mark.neo4j
@pytest.mark.browser
def test_browser_connects_opens_the_guide_by_itself_and_runs_its_first_query(
    guide_origin: str, graph: Neo4jStore, neo4j_uri_auth: tuple[str, str, str], chromium: Any, tmp_path: Path
) -> None:
    uri, user, password = neo4j_uri_auth
    scheme, address = uri.split("://", 1)
    browser_url = ServerConfig.from_env().browser_url
    by_itself = server_post_connect_cmd(graph) is not None
    shot = tmp_path / "browser-guide-bundle.png"
    page = chromium.new_page()
    # the plain Browser URL, as a merchandiser types it: a ?cmd= link would make Browser skip post_connect_cmd
    page.goto(browser_url if by_itself else browser_link(browser_url, guide_origin + "/guide.html"))
    guide = page.get_by_test_id("guidesDrawer")

    page.get_by_test_id("bolt-scheme-select").select_option(f"{scheme}://")
    page.get_by_test_id("boltaddress").fill(address)
    page.get_by_test_id("username").fill(user)
    page.get_by_test_id("password").fill(password)
    page.get_by_test_id("connect").click()
    page.get_by_text("You are connected as user").wait_for(timeout=30_000)

    # no command typed or clicked: the guide's first page is open (its heading and lead are on no other page)
    guide.get_by_text("Merchandising the graph").first.wait_for(timeout=30_000)
    guide.get_by_text("Products, their learned complements and substitutes").wait_for(timeout=5_000)
    if by_itself:
        # and the style loaded: a frame for the :style command, without an error (the drawing below uses it)
        style = page.get_by_test_id("frame").filter(has_text=f":style {guide_origin}/style.grass")
        style.get_by_text("node.Product").first.wait_for(timeout=15_000)
        assert style.get_by_text("Could not").count() == 0
    else:
        guide.get_by_text(":style").click()

    # the rest of the guide's first page: no auto-drawn extra edges, the parameters
    guide.get_by_text(":config autoComplete").click()
    guide.locator("pre.runnable").first.click()
    page.get_by_test_id("editor-Run").click()
    page.get_by_text('"asin": "C01"').wait_for(timeout=15_000)

    # the first query: the bundle of C01, drawn as a graph
    page.get_by_test_id("guideNextSlide").click()
    guide.locator('pre[data-query="bundle"]').click()
    page.get_by_test_id("editor-Run").click()
    result = page.get_by_test_id("frame").first
    result.get_by_text("Displaying 6 nodes, 5 relationships").wait_for(timeout=30_000)
    # "complement #1": the style's caption for learned complements, so the style is in force
    result.locator("svg text", has_text="complement #1").first.wait_for(timeout=15_000)
    page.screenshot(path=str(shot))
    labels = result.locator("svg text").all_text_contents()
    drawn = " ".join(" ".join(labels).split())  # a caption may wrap over two text elements
    assert all(title in drawn for title in ("Camera C01", "Lens L01", "Lens L02", "Bag B01"))
    # and the products are painted, in the style's Product colour: a node of 65 px is about 3,300 pixels, the six
    # together about 19,000, though the overview panel may cover a few (a blank drawing has none)
    painted = np.asarray(Image.open(io.BytesIO(result.screenshot())).convert("RGB")).reshape(-1, 3)
    product = np.array([0x4C, 0x8E, 0xDA])  # graph/neo4j/browser/style.grass, node.Product
    assert (np.abs(painted.astype(int) - product).max(axis=1) <= 3).sum() > 6_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)
