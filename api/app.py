"""The starlette application: GraphQL (and GraphiQL) at /graphql, /healthz, /readyz, /metrics.

:class:`Serving` holds the state resolvers read and the background tasks that keep it current. The server
answers /healthz at once and loads in the background (store -> snapshot -> catalog -> rules -> model), so a
large catalog never makes a liveness probe fail; /readyz turns 200 when the first index serves.

/readyz stays 200 when the store cannot be read after that (``"status": "degraded"``, ``"rules": {"state":
"stale", ...}``): answers come from memory and stay right but for rule edits made since, and the rules refresh
resumes by itself when the store is back. A 503 there would make a load balancer drop every replica at once
when the shared store goes down, turning stale rules into an outage; alert on the status (or on
``kgrec_rules_age_seconds``) instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

from cross_web import HTTPException  # what strawberry's view raises for a bad HTTP request
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL

from api.auth import Authenticator
from api.bodylimit import BodyLimit
from api.fastpath import FastPath
from api.index import Catalog, ModelWatcher, ServingIndex, observed_index
from api.metrics import Metrics, MetricsMiddleware
from api.ratelimit import rate_limit
from api.responses import ResponseCache, cacheable, decode
from api.rules import RulesKeeper
from api.schema import ROOT_FIELDS, Context, ListCache, ProductCache, build_schema
from api.sessions import SessionStore
from api.settings import Settings
from gnn.registry import Registry
from graph.store import GraphStore
from graph.stores import open_store

log = logging.getLogger(__name__)

GRAPHIQL = Path(__file__).resolve().parent / "static" / "graphiql"
RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # back-off while the store cannot be read at start


class Serving:
    """The server's state. Each field that changes is replaced whole, never mutated, so readers need no lock."""

    def __init__(self, settings: Settings, store: GraphStore | None = None) -> None:
        self.settings = settings
        self.store = store
        self.catalog: Catalog | None = None
        self.products: ProductCache | None = None
        self.index: ServingIndex | None = None
        self.rules: RulesKeeper | None = None
        self.watcher: ModelWatcher | None = None
        self.sessions = SessionStore(settings.max_sessions, settings.session_ttl_s)
        self.lists = ListCache()
        self.metrics = Metrics(ROOT_FIELDS)
        self.metrics.sessions.set_function(lambda: len(self.sessions))
        self.metrics.rules_age.set_function(lambda: self.rules.age_s if self.rules else float("nan"))
        self.metrics.rules_reads.set_function(lambda: self.rules.reads if self.rules else 0)
        self.auth = Authenticator(settings.api_keys)
        self.error: str | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def swap(self, index: ServingIndex) -> None:
        """Serve `index` from the next request on: one reference assignment, atomic for the event loop."""
        self.index = index
        self.metrics.set_model(index.version, index.source)
        self.metrics.reloads.labels("loaded").inc()

    def _refused(self, version: str, reason: str) -> None:
        self.metrics.reloads.labels("refused").inc()

    async def _load(self) -> None:
        s = self.settings
        if self.store is None:
            self.store = await asyncio.to_thread(open_store, s.store)
        snapshot = await asyncio.to_thread(self.store.snapshot)
        catalog = await asyncio.to_thread(Catalog, snapshot, s.session_walks)
        rules = RulesKeeper(self.store, catalog.position, catalog.n, s.rules_interval_s)
        await rules.refresh()
        self.catalog, self.products, self.rules = catalog, ProductCache(catalog), rules
        if s.registry is not None:
            self.watcher = ModelWatcher(Registry(s.registry), catalog, self.swap, self._refused)
            await self.watcher.check()
        if self.index is None:
            log.warning("no promoted model could be served: serving the snapshot's observed lists")
            self.swap(await asyncio.to_thread(observed_index, snapshot, s.fallback_dim))
        log.info("ready: %d products, model %s", catalog.n, self.index and self.index.version)

    async def start(self) -> None:
        """Load (retrying while the store is unreachable), then keep rules and the model current."""
        for attempt in itertools.count():
            try:
                await self._load()
                self.error = None
                break
            except Exception as e:
                self.error = f"{type(e).__name__}: {e}"
                delay = RETRY_S[min(attempt, len(RETRY_S) - 1)]
                log.exception("loading failed (attempt %d), retrying in %.0f s", attempt + 1, delay)
                await asyncio.sleep(delay)
        # Everything loaded so far (the catalog, the model, the libraries' own objects: several hundred thousand)
        # lives as long as the process. Frozen, a full collection no longer walks it: without this each one
        # stopped every request for about 80 ms on Beauty (bench/soak.py counts them).
        gc.collect()
        gc.freeze()
        log.info("%d objects frozen out of garbage collection", gc.get_freeze_count())
        assert self.rules is not None
        self._tasks.append(asyncio.create_task(self.rules.run()))
        if self.watcher is not None:
            self._tasks.append(asyncio.create_task(self.watcher.run(self.settings.reload_interval_s)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.store is not None:
            self.store.close()

    def readiness(self) -> tuple[bool, dict[str, object]]:
        index, rules = self.index, self.rules
        ready = index is not None and rules is not None
        body: dict[str, object] = {
            "ready": ready,
            "status": "loading" if index is None or rules is None else "ok" if rules.fresh else "degraded",
            "model": None
            if index is None
            else {
                "version": index.version,
                "source": index.source,
                "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(index.loaded_at)),
            },
            "rules": None
            if rules is None
            else {
                "state": "fresh" if rules.fresh else "stale",
                "fresh": rules.fresh,
                "age_s": round(rules.age_s, 3),
                "count": rules.current.count,
                "reads": rules.reads,
                "error": rules.last_error,
            },
            "products": self.catalog.n if self.catalog is not None else None,
            "refused": dict(self.watcher.refused) if self.watcher is not None else {},
            "error": self.error,
        }
        return ready, body


class GraphQLApp(GraphQL):
    """strawberry's ASGI view with our context, our GraphiQL page, and errors as GraphQL JSON, not plain text."""

    def __init__(self, serving: Serving) -> None:
        super().__init__(
            build_schema(serving.settings, serving.metrics),
            graphql_ide="graphiql" if serving.settings.graphiql else None,
        )
        self.serving = serving
        self.page = (GRAPHIQL / "index.html").read_text()
        size = serving.settings.response_cache_size
        self.cache = ResponseCache(size) if size > 0 else None
        self.fast = (
            FastPath(self.schema, serving.settings, serving.metrics) if serving.settings.fast_path else None
        )
        m = serving.metrics  # labelled children resolved once: labels() costs microseconds per call
        self._counted = {
            "hit": m.response_cache.labels("hit"),
            "miss": m.response_cache.labels("miss"),
            "answered": m.fast_path.labels("answered"),
            "declined": m.fast_path.labels("declined"),
        }

    async def get_context(self, request: Request, response: Response) -> Context:  # type: ignore[override]
        return Context(self.serving, self.serving.auth.caller(request.headers), request)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(self.page)

    def decode_json(self, data: str | bytes) -> object:
        """JSON that is an operation (an object) or a batch (a list of them); anything else is a 400.

        strawberry answers 400 only for a JSONDecodeError: bytes that are not UTF-8, nesting past the recursion
        limit, or JSON of another shape (``false``, ``[1]``) would each be a 500.
        """
        try:
            value = json.loads(data)
        except (UnicodeDecodeError, RecursionError) as e:
            raise json.JSONDecodeError(f"{type(e).__name__}: {e}", "", 0) from e
        if isinstance(value, dict) or (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            return value
        raise HTTPException(400, "expected a JSON object (one operation) or a list of them (a batch)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        cache, serving, fast = self.cache, self.serving, self.fast
        cached = None
        if (
            (cache is not None or fast is not None)
            and scope["method"] == "POST"
            and serving.index is not None
            and serving.rules
            and request.headers.get("content-type", "").startswith("application/json")
        ):
            body = await request.body()  # starlette keeps it: strawberry's own read gets the same bytes
            decoded = decode(body)
            caller = serving.auth.caller(request.headers)
            owner = (serving.index, serving.rules.current)
            if cache is not None and cacheable(decoded):
                hit = cache.get(owner, caller, body)
                self._counted["hit" if hit is not None else "miss"].inc()
                if hit is not None:
                    await Response(hit, media_type="application/json")(scope, receive, send)
                    return
                cached = (owner, caller, body)
            if fast is not None and isinstance(decoded, dict) and isinstance(decoded.get("query"), str):
                name = decoded.get("operationName")
                plan = fast.plan(decoded["query"], name) if name is None or isinstance(name, str) else None
                answer = None
                if plan is not None and "multipart" not in request.headers.get("accept", ""):
                    answer = fast.answer(plan, decoded.get("variables"), Context(serving, caller, request))
                self._counted["answered" if answer is not None else "declined"].inc()
                if answer is not None:
                    if cached is not None:
                        cache.put(*cached, answer)
                    await Response(answer, media_type="application/json")(scope, receive, send)
                    return
        try:
            response = await self.run(request)
            if cached is not None and response.status_code == 200:
                cache.put(*cached, bytes(response.body))
        except HTTPException as e:
            message = e.reason
            if message == "Too many operations":
                message = f"too many operations in one batch: at most {self.serving.settings.max_batch}"
            response = JSONResponse({"errors": [{"message": message}]}, status_code=e.status_code)
        await response(scope, receive, send)


def create_app(settings: Settings, store: GraphStore | None = None) -> Starlette:
    """The application; `store` given (tests) is used instead of opening ``settings.store``."""
    serving = Serving(settings, store)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def readyz(request: Request) -> JSONResponse:
        ready, body = serving.readiness()
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        return Response(serving.metrics.render(), media_type=serving.metrics.content_type)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        unwatch_gc = serving.metrics.watch_gc()  # the server's process: its collections are ours to time
        loading = asyncio.create_task(serving.start())
        try:
            yield
        finally:
            unwatch_gc()
            loading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loading
            await serving.stop()

    middleware = [Middleware(MetricsMiddleware, metrics=serving.metrics)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["content-type", "x-api-key", "authorization"],
            )
        )
    # after CORS, so a browser can read a 429; before routing, so a refused request costs no parsing
    limit = rate_limit(settings, serving.auth)
    if limit is not None:
        middleware.append(limit)
    middleware.append(Middleware(BodyLimit, max_bytes=settings.max_body_bytes))
    app = Starlette(
        routes=[
            Route("/graphql", GraphQLApp(serving)),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Mount("/graphiql", StaticFiles(directory=GRAPHIQL)),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.serving = serving
    return app
