"""Serving state: what the server holds in memory to answer, the tasks that keep it current, one request's view.

:class:`Serving` loads in the background (store -> snapshot -> catalog -> rules -> model), so a large catalog
never makes a liveness probe fail, then keeps the rules and the model current. Each field that changes is
replaced whole, never mutated, so readers need no lock. :class:`Context` is what resolvers read: the state taken
once when a request arrives, so one request sees one model and one rule set even if a reload lands meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from strawberry.dataloader import DataLoader

from api.auth import Authenticator, Caller
from api.caches import ListCache, ProductCache
from api.catalog import Catalog
from api.index import ServingIndex, observed_index
from api.limits import ClientError
from api.metrics import Metrics
from api.rules import RuleSet, RulesKeeper
from api.sessions import SessionStore
from api.settings import Settings
from api.types import Product
from api.watcher import ModelWatcher
from gnn.registry import Registry
from graph.store import GraphStore
from graph.stores import open_store

log = logging.getLogger(__name__)

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
        self.metrics = Metrics()
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


@dataclass
class Context:
    """What resolvers read: one consistent view of the serving state, taken when the request arrived."""

    serving: Serving
    caller: Caller
    request: Request
    settings: Settings = field(init=False)
    index: ServingIndex | None = field(init=False)
    rules: RuleSet | None = field(init=False)
    _loader: DataLoader[str, Product | None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.settings = self.serving.settings
        self.index = self.serving.index
        self.rules = self.serving.rules.current if self.serving.rules is not None else None

    def ready(self) -> tuple[Catalog, ServingIndex, RuleSet, ProductCache]:
        s = self.serving
        if self.index is None or s.catalog is None or self.rules is None or s.products is None:
            raise ClientError("the server is still loading the catalog and model; retry in a few seconds")
        return s.catalog, self.index, self.rules, s.products

    @property
    def loader(self) -> DataLoader[str, Product | None]:
        if self._loader is None:
            catalog, _, _, products = self.ready()

            async def load(ids: list[str]) -> list[Product | None]:
                positions = catalog.positions(ids).tolist()
                return [products.get(p) if p >= 0 else None for p in positions]

            self._loader = DataLoader(load_fn=load)
        return self._loader
