"""The model watcher: polls the registry for a newly promoted run and swaps its serving index in.

A promoted run serves only after its artifact is loaded, validated against the catalog (api/index.py
:func:`model_index`) and smoke-tested; a run that fails any check is refused with its reason, and the index
already serving keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from api.catalog import Catalog
from api.index import ServingIndex, model_index
from gnn.registry import ArtifactError, Registry

log = logging.getLogger(__name__)


class ModelWatcher:
    """Polls the registry's PROMOTED and hands a newly promoted, validated, smoke-tested index to `swap`.

    A run that fails any check is refused with its reason logged, and not retried until PROMOTED is rewritten;
    the index already serving keeps serving. Loading runs in a worker thread so requests keep flowing.
    """

    def __init__(
        self,
        registry: Registry,
        catalog: Catalog,
        swap: Callable[[ServingIndex], None],
        on_refuse: Callable[[str, str], None] = lambda version, reason: None,
    ) -> None:
        self.registry = registry
        self.catalog = catalog
        self.swap = swap
        self.on_refuse = on_refuse
        self.current: str | None = None
        self.refused: dict[str, str] = {}
        self._refused_stamp: dict[str, int] = {}

    def load(self, version: str) -> ServingIndex:
        """Load, validate and smoke-test `version` (blocking; raises ArtifactError with the reason)."""
        index = model_index(version, self.registry.load_serving(version), self.catalog)
        index.smoke_test(self.catalog)
        return index

    def _stamp(self) -> int:
        try:
            return (Path(self.registry.root) / "PROMOTED").stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    async def check(self) -> bool:
        """Load the promoted run if it is new; True when an index was swapped in."""
        version = await asyncio.to_thread(self.registry.promoted)
        if version is None or version == self.current:
            return False
        stamp = self._stamp()
        if self._refused_stamp.get(version) == stamp:
            return False
        try:
            index = await asyncio.to_thread(self.load, version)
        except (ArtifactError, OSError, ValueError) as e:
            reason = str(e)
            self.refused[version] = reason
            self._refused_stamp[version] = stamp
            log.error("model %s refused, still serving %s: %s", version, self.current, reason)
            self.on_refuse(version, reason)
            return False
        self.current = version
        self.refused.pop(version, None)
        self.swap(index)
        log.info("model %s is serving", version)
        return True

    async def run(self, interval_s: float) -> None:
        """Check forever, every `interval_s`; an unexpected error is logged and the loop goes on."""
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("model watcher: unexpected error; will retry")
            await asyncio.sleep(interval_s)
