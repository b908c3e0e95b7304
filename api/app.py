"""The starlette application: GraphQL (and GraphiQL) at /graphql, /healthz, /readyz, /metrics.

The state resolvers read, and the background tasks that keep it current, are api/serving.py's
:class:`~api.serving.Serving`. The server answers /healthz at once while it loads in the background, so a large
catalog never makes a liveness probe fail; /readyz turns 200 when the first index serves.

/readyz stays 200 when the store cannot be read after that (``"status": "degraded"``, ``"rules": {"state":
"stale", ...}``): answers come from memory and stay right but for rule edits made since, and the rules refresh
resumes by itself when the store is back. A 503 there would make a load balancer drop every replica at once
when the shared store goes down, turning stale rules into an outage; alert on the status (or on
``kgrec_rules_age_seconds``) instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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

from api.bodylimit import BodyLimit
from api.caches import ResponseCache, ResponseKey, cacheable
from api.fastpath import FastPath
from api.metrics import MetricsMiddleware
from api.ratelimit import rate_limit
from api.schema import PURE_FIELDS, build_schema
from api.serving import Context, Serving
from api.settings import Settings
from graph.store import GraphStore

GRAPHIQL = Path(__file__).resolve().parent / "static" / "graphiql"
MAX_BODY = 8 * 1024  # a larger body is rare and not worth keying a cache or a plan on: GraphQL executes it


class GraphQLApp(GraphQL):
    """strawberry's ASGI view with our context, our GraphiQL page, and errors as GraphQL JSON, not plain text."""

    def __init__(self, serving: Serving) -> None:
        schema = build_schema(serving.settings, serving.metrics)
        super().__init__(schema, graphql_ide="graphiql" if serving.settings.graphiql else None)
        self.serving = serving
        self.page = (GRAPHIQL / "index.html").read_text()
        size = serving.settings.response_cache_size
        self.cache = ResponseCache(size) if size > 0 else None
        self.fast = (
            FastPath(schema, serving.settings, serving.metrics) if serving.settings.fast_path else None
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
            decoded = _decode(body)
            caller = serving.auth.caller(request.headers)
            index, rules = serving.index, serving.rules.current
            if cache is not None and cacheable(decoded, PURE_FIELDS):
                key = ResponseKey(caller, body)
                hit = cache.get(index, rules, key)
                self._counted["hit" if hit is not None else "miss"].inc()
                if hit is not None:
                    await Response(hit, media_type="application/json")(scope, receive, send)
                    return
                cached = (index, rules, key)
            if fast is not None and isinstance(decoded, dict) and isinstance(decoded.get("query"), str):
                name = decoded.get("operationName")
                plan = fast.plan(decoded["query"], name) if name is None or isinstance(name, str) else None
                answer = None
                if plan is not None and "multipart" not in request.headers.get("accept", ""):
                    answer = fast.answer(plan, decoded.get("variables"), Context(serving, caller, request))
                self._counted["answered" if answer is not None else "declined"].inc()
                if answer is not None:
                    if cached is not None and cache is not None:
                        cache.put(*cached, answer)
                    await Response(answer, media_type="application/json")(scope, receive, send)
                    return
        try:
            response = await self.run(request)
            if cached is not None and cache is not None and response.status_code == 200:
                cache.put(*cached, bytes(response.body))
        except HTTPException as e:
            message = e.reason
            if message == "Too many operations":
                message = f"too many operations in one batch: at most {self.serving.settings.max_batch}"
            response = JSONResponse({"errors": [{"message": message}]}, status_code=e.status_code)
        await response(scope, receive, send)


def _decode(body: bytes) -> Any:
    """The JSON of a request body, or None when it is not JSON (strawberry then answers the error itself)."""
    if not body or len(body) > MAX_BODY:
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # deep nesting: strawberry says 400
        return None


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
