"""Neo4j faults and Cypher injection, on a Neo4j of the tests' own (never the project's shared server).

The instance has its own data home, ports, password and config folder (so the shared server's stored password
is never touched). Its catalog is the Amazon loader's reading of products whose ids, titles, brands and
categories are injection strings; `kgrec serve --store neo4j` serves it.

- Injection: what goes in through the loader and the API comes back byte-identical, and nothing else changes.
- Neo4j killed while serving and during a `kgrec load`: answers go on from memory, /readyz says degraded (still
  200, see api/app.py), a rule write is refused while the load is still retrying, the load fails with a message
  naming Neo4j and no stack trace; Neo4j back, the rules refresh resumes (the first read of the rules after a rule
  made in Neo4j shows it) and a re-run of the load ends with exact counts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gnn.registry import Registry
from graph.neo4j import server
from graph.neo4j.config import ServerConfig
from graph.neo4j.connection import DEFAULT_USER
from graph.neo4j.store import Neo4jStore
from loaders.amazon import read_amazon
from loaders.quarantine import Quarantine
from loaders.summary import LoadSummary
from tests.api.fixture_graph import API_KEYS
from tests.api.server import ROOT, Server, free_port
from tests.prerequisites import unavailable
from tests.reliability.support import wait_for

pytestmark = pytest.mark.neo4j

INJECTIONS = [
    "' OR 1=1 //",
    '"}) MATCH (n) DETACH DELETE n //',
    "`) DETACH DELETE n //",
    "x`:Evil {asin: 1}) //",
    "$param",
    "{asin: $k[0]}",
    "MERGE (e:Product {asin: 'evil'}) RETURN e",
    "/* */ RETURN 1 //",
    "\\u0027 OR ''='",
    "Ünïcødé ✓ 🛒 日本語",
    "\u202etxt.exe",
    "tab\tnew\nline\x00nul",
]
N_LOAD = 1000  # products of the generated catalog whose load is cut short: its load takes several seconds
BUNDLE = "query($id: ID!) { bundle(productId: $id, k: 5, diverse: false) { product { id title brand } } }"
EXCLUDE = 'query($c: [ID!]) { bundle(productId: "$param", filter: {excludeCategories: $c}) { score } }'


@dataclasses.dataclass
class Instance:
    """A Neo4j run by `kgrec neo4j` under `env`, which points everything at its own folders."""

    env: dict[str, str]
    config: ServerConfig

    @property
    def uri(self) -> str:
        return self.config.bolt_uri

    def store(self) -> Neo4jStore:
        return Neo4jStore.connect(self.uri, DEFAULT_USER, self.env["NEO4J_PASSWORD"])

    def _command(self, action: str) -> None:
        cmd = [sys.executable, "-m", "kgrec", "neo4j", action]
        done = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr

    def start(self) -> None:
        self._command("start")

    def stop(self) -> None:
        self._command("stop")

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill ends it: no checkpoint, no goodbye to clients."""
        pid = server.status(self.config).pid
        assert pid is not None, "Neo4j is not running"
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not server.status(self.config).running, "Neo4j to die")

    def count(self, cypher: str, **params: Any) -> int:
        with self.store() as s, s.driver.session() as session:
            return session.run(cypher, **params).single()[0]


@pytest.fixture(scope="module")
def neo4j(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    missing = server.missing_tools()
    if missing:
        unavailable(f"a Neo4j of the tests' own needs {' and '.join(missing)}")
    home = tmp_path_factory.mktemp("neo4j")
    bolt, http = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")},
        "KGREC_NEO4J_DATA": str(home / "data"),
        "KGREC_NEO4J_BOLT_PORT": str(bolt),
        "KGREC_NEO4J_HTTP_PORT": str(http),
        "KGREC_NEO4J_HEAP": "1g",
        "KGREC_NEO4J_PAGECACHE": "256m",
        "XDG_CONFIG_HOME": str(home / "config"),  # the password file of this instance, not the shared one's
        "NEO4J_URI": f"bolt://127.0.0.1:{bolt}",
        "NEO4J_PASSWORD": secrets.token_urlsafe(12),
    }
    config = dataclasses.replace(
        ServerConfig.from_env(), data_home=home / "data", bolt_port=bolt, http_port=http
    )
    instance = Instance(env, config)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def injection_meta(path: Path) -> list[dict[str, Any]]:
    """Amazon 2018-style lines whose every string is an injection; each product also buys the next three."""
    n = len(INJECTIONS)
    records = [
        {
            "asin": s,
            "title": f"title {s}",
            "brand": s,
            "category": ["Injection", s],
            "also_buy": [INJECTIONS[(i + k) % n] for k in (1, 2, 3)],
        }
        for i, s in enumerate(INJECTIONS)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


@pytest.fixture(scope="module")
def catalog(neo4j: Instance, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The injection products, loaded through the Amazon loader into the emptied instance."""
    meta = tmp_path_factory.mktemp("injection") / "meta.json"
    records = injection_meta(meta)
    with neo4j.store() as store:
        store.clear()
        store.write(read_amazon(meta, None, Quarantine(None), LoadSummary()))
    return records


@pytest.fixture(scope="module")
def served_from_neo4j(
    neo4j: Instance, catalog: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("neo4j-serve")
    port = free_port()
    env = {
        **neo4j.env,
        "KGREC_API_KEYS": ",".join(f"{k}:{role}" for k, role in API_KEYS.items()),
        "KGREC_RULES_INTERVAL_S": "0.5",
    }
    cmd = [sys.executable, "-m", "kgrec", "serve", "--store", "neo4j", "--port", str(port)]
    log = tmp / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", tmp, Registry(tmp / "registry"), process, log)

    def ready() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(server.url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, "the server on Neo4j to be ready", every=0.2)
        yield server
    finally:  # also when it never got ready: no server outlives its test
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def whole_graph(neo4j: Instance) -> tuple[int, int]:
    return neo4j.count("MATCH (n) RETURN count(n)"), neo4j.count("MATCH ()-[r]->() RETURN count(r)")


# --------------------------------------------------------------------------------------------------- injection


def test_injection_strings_load_and_read_back_byte_identical(
    neo4j: Instance, catalog: list[dict[str, Any]]
) -> None:
    with neo4j.store() as store, store.driver.session() as s:
        for r in catalog:
            row = s.run(
                "MATCH (p:Product {asin: $asin})-[:MADE_BY]->(b:Brand) "
                "MATCH (p)-[:IN_CATEGORY]->(c:Category {id: $category}) RETURN p.title, b.name, c.name",
                asin=r["asin"],
                category="Injection/" + r["asin"],
            ).single()
            assert row is not None, r["asin"]
            assert tuple(row) == (r["title"], r["brand"], r["asin"])
            listed = s.run(
                "MATCH (:Product {asin: $asin})-[:ALSO_BOUGHT]->(o) RETURN collect(o.asin)", asin=r["asin"]
            ).single()[0]
            assert sorted(listed) == sorted(r["also_buy"])
    n = len(INJECTIONS)
    # a product, a brand and a category per string (and the root category): nothing more, nothing less
    assert neo4j.count("MATCH (n:Product) WHERE n.asin IN $ids RETURN count(n)", ids=INJECTIONS) == n
    assert neo4j.count("MATCH (n:Brand) WHERE n.name IN $ids RETURN count(n)", ids=INJECTIONS) == n
    assert neo4j.count("MATCH (n:Category) WHERE n.id STARTS WITH 'Injection' RETURN count(n)") == n + 1
    assert neo4j.count("MATCH (n) WHERE n:Evil OR n.asin = 'evil' OR n.asin = 1 RETURN count(n)") == 0


def test_injection_strings_in_api_arguments_are_data(neo4j: Instance, served_from_neo4j: Server) -> None:
    server = served_from_neo4j
    before = whole_graph(neo4j)
    for s in INJECTIONS:
        answer = server.data(BUNDLE, {"id": s})["bundle"]
        i = INJECTIONS.index(s)
        assert sorted(r["product"]["id"] for r in answer) == sorted(
            INJECTIONS[(i + k) % len(INJECTIONS)] for k in (1, 2, 3)
        )
        assert all(r["product"]["title"] == "title " + r["product"]["id"] for r in answer)
        unknown = s + " missing"
        for query in (BUNDLE, "query($id: ID!) { similar(productId: $id) { score } }"):
            body = server.gql(query, {"id": unknown})
            assert body["errors"][0]["message"] == f"unknown product {unknown!r}", body
        body = server.gql(EXCLUDE, {"c": [s]})  # not a category id: "Injection/" + s is
        assert body["errors"][0]["message"] == f"unknown category {s!r}", body
        # "$param" buys the next three; excluding one of their categories leaves the other two
        bought = INJECTIONS[5:8]
        excluded = server.data(EXCLUDE, {"c": ["Injection/" + s]})["bundle"]
        assert len(excluded) == len(bought) - (s in bought), (s, excluded)
        recs = server.data(
            "query($id: ID!) { recommendations(customerId: $id, sessionId: $id, k: 3) { reason } }",
            {"id": s},
            key="front-key",  # a customer's history is for the shop's frontend
        )["recommendations"]
        assert [r["reason"] for r in recs] == ["popular right now"] * 3, (s, recs)  # a customer nobody knows
        for mutation in ("pin", "block"):
            body = server.gql(
                f"mutation($a: ID!, $b: ID!) {{ {mutation}(productId: $a, otherId: $b, relation: ALL) }}",
                {"a": s, "b": unknown},
                key="merch-key",
            )
            assert body["errors"][0]["message"] == f"unknown product {unknown!r}"
    # a rule between two injection products is written as given, and only it
    a, b = INJECTIONS[1], INJECTIONS[2]
    pin = "mutation($a: ID!, $b: ID!, $r: Boolean!) { pin(productId: $a, otherId: $b, relation: ALL, remove: $r) }"
    assert server.data(pin, {"a": a, "b": b, "r": False}, key="merch-key") == {"pin": True}
    with neo4j.store() as store:
        assert store.rules().to_pylist() == [{"kind": "PINNED", "product": a, "other": b, "relation": "all"}]
    assert server.data(BUNDLE, {"id": a})["bundle"][0]["product"]["id"] == b
    server.data(pin, {"a": a, "b": b, "r": True}, key="merch-key")
    assert whole_graph(neo4j) == before


# ------------------------------------------------------------------------------------------------------ faults


def generated_amazon(folder: Path, n: int) -> tuple[Path, Path]:
    """A catalog of `n` products (ids L...) with lists, categories, brands and five reviews per customer."""
    meta, reviews = folder / "meta.json", folder / "reviews.json"
    with meta.open("w") as f:
        for i in range(n):
            f.write(
                json.dumps(
                    {
                        "asin": f"L{i:05d}",
                        "title": f"generated product {i}",
                        "brand": f"LB{i % 40}",
                        "price": 1 + i % 90,
                        "categories": [["Load", f"c{i % 25}"]],
                        "related": {
                            "also_bought": [f"L{(i * 7 + k * 13) % n:05d}" for k in range(1, 9)],
                            "also_viewed": [f"L{(i * 3 + k * 29) % n:05d}" for k in range(1, 7)],
                        },
                    }
                )
                + "\n"
            )
    with reviews.open("w") as f:
        for u in range(n // 2):
            for k in range(5):
                line = {"reviewerID": f"LU{u:05d}", "asin": f"L{(u * 11 + k * 17) % n:05d}", "overall": 4.0}
                f.write(json.dumps(line | {"unixReviewTime": 1_400_000_000 + k}) + "\n")
    return meta, reviews


def kgrec_load(neo4j: Instance, meta: Path, reviews: Path, quarantine: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "kgrec", "load", "--store", "neo4j", "--meta", str(meta)]
    cmd += ["--reviews", str(reviews), "--quarantine", str(quarantine), "--json"]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=neo4j.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


LOADED = {
    "Product": "MATCH (n:Product) WHERE n.asin STARTS WITH 'L' RETURN count(n)",
    "Customer": "MATCH (n:Customer) WHERE n.id STARTS WITH 'LU' RETURN count(n)",
    "Brand": "MATCH (n:Brand) WHERE n.name STARTS WITH 'LB' RETURN count(n)",
    "Category": "MATCH (n:Category) WHERE n.id STARTS WITH 'Load' RETURN count(n)",
    "REVIEWED": "MATCH (:Customer)-[e:REVIEWED]->(p:Product) WHERE p.asin STARTS WITH 'L' RETURN count(e)",
    **{
        t: f"MATCH (a)-[e:{t}]->() WHERE a.asin STARTS WITH 'L' RETURN count(e)"
        for t in ("ALSO_BOUGHT", "ALSO_VIEWED", "IN_CATEGORY", "MADE_BY")
    },
    "SUBCATEGORY_OF": "MATCH (a:Category)-[e:SUBCATEGORY_OF]->() WHERE a.id STARTS WITH 'Load' RETURN count(e)",
}
DISTINCT_PAIRS = (
    "MATCH (a)-[e]->(b) WHERE coalesce(a.asin, a.id, '') STARTS WITH 'L' "
    "WITH type(e) AS t, a, b, count(e) AS c WHERE c > 1 RETURN count(*)"
)


class Traffic:
    """Bundle and recommendation requests back to back from a thread; every failure is kept."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.answers = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        recs = '{ recommendations(sessionId: "outage", k: 3) { product { id } } }'
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                for body in ({"query": BUNDLE, "variables": {"id": INJECTIONS[0]}}, {"query": recs}):
                    try:
                        r = client.post(self.server.url + "/graphql", json=body)
                        if r.status_code != 200 or "errors" in r.json():
                            self.failures.append(f"{r.status_code}: {r.text[:200]}")
                        else:
                            self.answers += 1
                    except httpx.HTTPError as e:
                        self.failures.append(repr(e))

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def test_neo4j_killed_while_serving_and_loading(
    neo4j: Instance, served_from_neo4j: Server, tmp_path: Path
) -> None:
    server = served_from_neo4j
    expected = server.data(BUNDLE, {"id": INJECTIONS[0]})
    assert server.ready()["status"] == "ok"
    track = 'mutation { trackEvent(sessionId: "outage", productId: "$param", type: VIEW) }'
    meta, reviews = generated_amazon(tmp_path, N_LOAD)
    load = kgrec_load(neo4j, meta, reviews, tmp_path / "quarantine.jsonl")
    wait_for(lambda: neo4j.count(LOADED["MADE_BY"]) > 0, "the load's first relationships", every=0.2)

    with Traffic(server) as traffic:
        neo4j.kill()
        assert load.poll() is None, "the load ended before Neo4j went down: nothing was tested"
        ready = {}

        def degraded() -> bool:
            nonlocal ready
            r = httpx.get(server.url + "/readyz", timeout=5)
            ready = r.json()
            return r.status_code == 200 and ready["status"] == "degraded"

        wait_for(degraded, "/readyz to say degraded")
        assert ready["rules"]["state"] == "stale" and ready["rules"]["error"]
        assert server.data(track, key="front-key") == {"trackEvent": True}  # sessions live in memory
        assert server.data(BUNDLE, {"id": INJECTIONS[0]}) == expected
        # a rule cannot be written now: a clear error, not a masked one, and given up on while the load (whose
        # driver retries for its default 30 s) is still retrying: the merchandiser is not kept waiting as long
        refused = server.gql(
            "mutation($a: ID!, $b: ID!) { pin(productId: $a, otherId: $b, relation: ALL) }",
            {"a": INJECTIONS[0], "b": INJECTIONS[2]},
            key="merch-key",
        )
        assert refused["errors"][0]["message"].startswith("the graph store cannot be reached"), refused
        assert load.poll() is None, "the rule write waited as long as the load's retries"

        _, stderr = load.communicate(timeout=120)  # the driver retries for 30 s before it gives up
        assert load.returncode == 1
        assert "Neo4j" in stderr and "run the same command again" in stderr
        assert "Traceback" not in stderr, stderr

        neo4j.start()
        first = expected["bundle"][0]["product"]["id"]
        with neo4j.store() as store:
            store.set_rule("BLOCKED", INJECTIONS[0], first, "complement")
        server.wait_for_rules_read()  # the failed refreshes count nothing: this waits for the resumed ones
        assert first not in [r["product"]["id"] for r in server.data(BUNDLE, {"id": INJECTIONS[0]})["bundle"]]
        assert server.ready()["status"] == "ok"
    assert traffic.failures == [] and traffic.answers > 0
    with neo4j.store() as store:
        store.set_rule(
            "BLOCKED", INJECTIONS[0], expected["bundle"][0]["product"]["id"], "complement", on=False
        )

    partial = {name: neo4j.count(cypher) for name, cypher in LOADED.items()}
    rerun = kgrec_load(neo4j, meta, reviews, tmp_path / "quarantine.jsonl")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    rows = json.loads(out)["rows"]
    loaded = {name: counts["loaded"] for name, counts in (*rows["nodes"].items(), *rows["rels"].items())}
    final = {name: neo4j.count(cypher) for name, cypher in LOADED.items()}
    assert final == {name: loaded[name] for name in LOADED}  # nothing lost
    assert partial != final  # the kill did cut the first load short
    assert neo4j.count(DISTINCT_PAIRS) == 0  # no relationship twice
