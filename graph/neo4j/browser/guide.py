"""The merchandisers' guide for Neo4j Browser, rendered from the saved queries and served on localhost.

Neo4j's HTTP server serves Browser and nothing else we can add to, so the guide has a small server of its own.
Browser 5.24 fetches a remote guide (``:guide URL``, shown in its sidebar) and a remote style (``:style URL``)
from the page itself: cross-origin, and only from hosts in ``browser.remote_content_hostname_whitelist``, whose
default is ``guides.neo4j.com, localhost``. So the guide is served at ``http://localhost:PORT`` (no change to
the allowlist), with CORS headers, answering the preflight that Browser's extra request headers cause.
:func:`post_connect_cmd` is what the project's server sets as ``browser.post_connect_cmd``, so Browser opens the
guide and loads the style on connecting; :func:`browser_link` makes a Browser URL that opens the guide as Browser
starts (``?cmd=guide&arg=URL``), for servers without that setting.
"""

from __future__ import annotations

import html
import json
import logging
import re
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
QUERIES = HERE / "queries.cypher"
GUIDE = HERE / "guide.html"
STYLE = HERE / "style.grass"
DEFAULT_PORT = 8474
DEFAULT_ORIGIN = f"http://localhost:{DEFAULT_PORT}"  # where `kgrec neo4j guide` serves
# shown when no graph answers: the merchandiser edits them in the :params line
PLACEHOLDER_PARAMS = {"asin": "PRODUCT-ASIN", "other": "OTHER-ASIN", "relation": "complement"}
_SLOT = re.compile(r"\{\{([a-z]+)(?::([a-z-]+))?\}\}")


@dataclass(frozen=True)
class Query:
    name: str
    about: str  # one line: the question it answers
    cypher: str  # the statement, without its closing semicolon


def load_queries(path: Path = QUERIES) -> dict[str, Query]:
    """The saved queries by name, in file order (see the file's header for its block format)."""
    out: dict[str, Query] = {}
    name: str | None = None
    about, body = "", list[str]()
    for line in path.read_text().splitlines():
        if line.startswith("// name:"):
            name, about, body = line.split(":", 1)[1].strip(), "", []
        elif name is None or not line.strip():
            continue  # the file's header, or blank lines between blocks
        elif line.startswith("//") and not body:
            about = line.removeprefix("//").strip()
        else:
            body.append(line)
            if line.rstrip().endswith(";"):
                out[name] = Query(name, about, "\n".join(body).rstrip().removesuffix(";"))
                name = None
    return out


def params_map(params: dict[str, str]) -> str:
    """Browser's ``:params`` argument: a Cypher map (JSON strings are Cypher string literals)."""
    return "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in params.items()) + "}"


def render_guide(origin: str, params: dict[str, str]) -> str:
    """guide.html with its slots filled: ``{{origin}}``, ``{{params}}``, ``{{query:NAME}}``, ``{{about:NAME}}``."""
    queries = load_queries()

    def fill(m: re.Match[str]) -> str:
        kind, name = m.group(1), m.group(2)
        if kind == "origin":
            text = origin
        elif kind == "params":
            text = params_map(params)
        elif kind == "query" and name in queries:
            text = queries[name].cypher
        elif kind == "about" and name in queries:
            text = queries[name].about
        else:
            raise KeyError(f"guide.html has an unknown slot {m.group(0)}")
        return html.escape(text, quote=True)

    return _SLOT.sub(fill, GUIDE.read_text())


def example_params(store: Any) -> dict[str, str]:
    """Parameters naming a product of this graph and one of its complements (else any product), for the guide."""
    for cypher in (
        "MATCH (p:Product)-[:COMPLEMENT]->(q:Product) RETURN p.asin AS asin, q.asin AS other LIMIT 1",
        "MATCH (p:Product)-[:ALSO_BOUGHT]->(q:Product) RETURN p.asin AS asin, q.asin AS other LIMIT 1",
    ):
        records = store.driver.execute_query(cypher, database_=store.database).records
        if records:
            return {"asin": records[0]["asin"], "other": records[0]["other"], "relation": "complement"}
    return dict(PLACEHOLDER_PARAMS)


def browser_link(browser_url: str, guide_url: str) -> str:
    """A Neo4j Browser URL that opens the guide in the sidebar when Browser starts."""
    return f"{browser_url}?cmd=guide&arg={quote(guide_url, safe='')}"


def post_connect_cmd(origin: str = DEFAULT_ORIGIN) -> str:
    """Neo4j's ``browser.post_connect_cmd``: Browser runs it on every connect (commands without their colon,
    split on ``;``), here opening the guide in the sidebar and loading the style (a remote style needs the same
    allowlisted host as the guide). A Browser opened with ``?cmd=`` in its URL skips it."""
    return f"guide {origin}/guide.html; style {origin}/style.grass"


class _Handler(BaseHTTPRequestHandler):
    files: dict[str, tuple[bytes, str]] = {}

    def end_headers(self) -> None:
        # Browser's page (the Neo4j origin) reads these cross-origin; nothing here is secret. Its fetch sends
        # Cache-Control and Pragma, and tracing headers of its error reporter: whatever it asks for is allowed.
        self.send_header("Access-Control-Allow-Origin", "*")
        asked = self.headers.get("Access-Control-Request-Headers")
        if asked:
            self.send_header("Access-Control-Allow-Headers", asked)
        self.send_header("Access-Control-Allow-Methods", "GET, OPTIONS")
        super().end_headers()

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:
        found = self.files.get(self.path.split("?", 1)[0])
        if found is None:
            self.send_error(404)
            return
        body, kind = found
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("guide server: " + format, *args)


def make_server(params: dict[str, str], port: int = DEFAULT_PORT) -> tuple[ThreadingHTTPServer, str]:
    """A server (not yet serving) of the guide, the queries and the style; returns it and its origin URL.

    Bound to 127.0.0.1 only; port 0 picks a free one. The origin says ``localhost``: the name Browser allows.
    """
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    origin = f"http://localhost:{server.server_address[1]}"
    files = {
        "/guide.html": (render_guide(origin, params).encode(), "text/html; charset=utf-8"),
        "/queries.cypher": (QUERIES.read_bytes(), "text/plain; charset=utf-8"),
        "/style.grass": (STYLE.read_bytes(), "text/plain; charset=utf-8"),
    }
    # a handler class per server: two servers in one process (tests) must not share their files
    server.RequestHandlerClass = type("GuideHandler", (_Handler,), {"files": files})
    return server, origin
