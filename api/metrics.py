"""Prometheus metrics: HTTP and GraphQL request counts and latencies, the model serving, reloads, rules age and reads.

Each app gets its own CollectorRegistry (not the process-global one), so tests can build several apps in one
process. Label values come from a fixed set (route names, the schema's root fields), never from the request, so
a client cannot blow up the series count.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from graphql import FieldNode, OperationDefinitionNode
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ROUTES = ("/graphql", "/healthz", "/readyz", "/metrics")


class CountOf:
    """A counter whose value another object keeps (``set_function``, as a Gauge has): the rules keeper counts its
    own reads, so the count is never kept twice."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self._value: Callable[[], float] = lambda: 0.0
        registry.register(self)

    def set_function(self, value: Callable[[], float]) -> None:
        self._value = value

    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily(self.name, self.documentation, value=self._value())


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "kgrec_http_requests", "HTTP requests", ["route", "method", "status"], registry=self.registry
        )
        self.http_latency = Histogram(
            "kgrec_http_request_seconds",
            "HTTP request latency, first byte in to last byte out",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.operations = Counter(
            "kgrec_graphql_operations",
            "GraphQL operations by their first root field",
            ["field", "outcome"],
            registry=self.registry,
        )
        self.operation_latency = Histogram(
            "kgrec_graphql_operation_seconds",
            "GraphQL operation latency (parse to result)",
            ["field"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model = Info("kgrec_model", "the model serving", registry=self.registry)
        self.reloads = Counter(
            "kgrec_model_reloads", "promoted models seen", ["outcome"], registry=self.registry
        )
        self.rules_age = Gauge(
            "kgrec_rules_age_seconds", "seconds since the rules were read", registry=self.registry
        )
        self.rules_reads = CountOf(
            "kgrec_rules_reads", "successful reads of the rules from the store", registry=self.registry
        )
        self.sessions = Gauge("kgrec_sessions", "sessions held in memory", registry=self.registry)
        self.gc_pause = Histogram(
            "kgrec_gc_pause_seconds",
            "Python garbage collections (every request waits while one runs), by generation",
            ["generation"],
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0),
            registry=self.registry,
        )
        self.response_cache = Counter(
            "kgrec_response_cache",
            "cacheable GraphQL requests by outcome",
            ["result"],
            registry=self.registry,
        )
        self.fast_path = Counter(
            "kgrec_fast_path",
            "JSON POSTs the direct executor answered (api/fastpath.py) or left to GraphQL execution",
            ["result"],
            registry=self.registry,
        )

    def watch_gc(self) -> Callable[[], None]:
        """Time every garbage collection into :attr:`gc_pause` (a callback costs well under a microsecond), and
        freeze what survives each full collection (``gc.freeze``); returns the function that stops both.

        Frozen, the serving state built since the last full collection (cached lists and answers, sessions:
        hundreds of thousands of objects) is never walked again, so the next full collection scans only what came
        after, and a pause of tens of milliseconds becomes a few. Nothing leaks by it: right after a full
        collection every unreachable cycle is gone, and what is frozen is still freed by reference counting when
        dropped (the caches and sessions hold no cycles; the soak's memory check in bench/soak.py watches for
        the contrary).
        """
        started = [0.0]
        children = {g: self.gc_pause.labels(str(g)) for g in range(3)}

        def callback(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
                return
            children[info["generation"]].observe(time.perf_counter() - started[0])
            if info["generation"] == 2:
                gc.freeze()

        gc.callbacks.append(callback)
        return lambda: gc.callbacks.remove(callback)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def set_model(self, version: str, source: str) -> None:
        self.model.info({"version": version, "source": source})

    def extension(self, root_fields: frozenset[str]) -> Callable[[], SchemaExtension]:
        """A factory for the schema extension that times each operation (no per-field hook: it stays cheap),
        labelled by its first root field among `root_fields` (the schema's own)."""
        metrics = self

        class OperationMetrics(SchemaExtension):
            def on_operation(self) -> Iterator[None]:
                start = time.perf_counter()
                yield
                ctx = self.execution_context
                doc = ctx.graphql_document
                op = None
                if doc is not None:
                    op = next((d for d in doc.definitions if isinstance(d, OperationDefinitionNode)), None)
                field = _operation_field(op, root_fields)
                errors = ctx.result.errors if ctx.result is not None else ctx.pre_execution_errors
                metrics.operations.labels(field, "error" if errors else "ok").inc()
                metrics.operation_latency.labels(field).observe(time.perf_counter() - start)

        return OperationMetrics


def _operation_field(operation: OperationDefinitionNode | None, root_fields: frozenset[str]) -> str:
    if operation is not None:
        for sel in operation.selection_set.selections:
            if isinstance(sel, FieldNode):
                name = sel.name.value
                return name if name in root_fields else "other"
    return "none"


class MetricsMiddleware:
    """Counts and times every HTTP request; pure ASGI (BaseHTTPMiddleware would add a task per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = scope["path"]
            route = path if path in ROUTES else "other"
            key = (route, scope["method"], status)
            children = self._children.get(key)
            if children is None:  # labels() costs microseconds: resolve each combination once (a bounded few)
                children = (
                    self.metrics.http_requests.labels(route, scope["method"], str(status)),
                    self.metrics.http_latency.labels(route),
                )
                if len(self._children) < 256:
                    self._children[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - start)
