"""Merchandiser rules: pins and blocks read from the graph store and applied at query time.

The store is the system of record (Neo4j where configured, so an edit made in Neo4j Browser counts), and it is
re-read in the background every few seconds; the API's own pin/block mutations write through the store and then
re-read at once, so their effect is visible to the very next request. A :class:`RuleSet` is immutable and
swapped whole, like the serving index.

Meaning of a rule ``(kind, product, other, relation)``, relation ``all`` standing for both lists:

- PINNED with `other`: `other` comes first in `product`'s list (pins in the order they were made).
- BLOCKED with `other`: `other` never appears in `product`'s list.
- BLOCKED alone (`other` null): `product` never appears in any list of that relation, nor in session
  recommendations (a product blocked from any list is hidden there, since a session has no relation).
- PINNED alone has no place to go in a ranked list and is ignored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from graph.schema import RELATIONS, RULE_KINDS, RULE_RELATIONS
from graph.store import GraphStore

log = logging.getLogger(__name__)

SESSION = "session"  # the blocked mask that session recommendations apply


@dataclass(frozen=True)
class RuleSet:
    """Rules resolved to catalog positions: what :meth:`ServingIndex.related` needs, by dict lookups."""

    pins: Mapping[tuple[str, int], tuple[int, ...]]
    blocked_pairs: Mapping[tuple[str, int], np.ndarray]
    blocked: Mapping[str, np.ndarray]  # relation or SESSION -> bool mask over the catalog
    count: int = 0

    @staticmethod
    def empty(n: int) -> RuleSet:
        return RuleSet.from_table(None, {}, n)

    @staticmethod
    def from_table(table: pa.Table | None, position: Mapping[str, int], n: int) -> RuleSet:
        """Resolve a rules table; rules naming products outside the catalog are skipped (they cannot apply)."""
        pins: dict[tuple[str, int], list[int]] = {}
        pairs: dict[tuple[str, int], list[int]] = {}
        blocked = {relation: np.zeros(n, dtype=bool) for relation in RELATIONS}
        rows = table.to_pylist() if table is not None else []
        for r in rows:
            product = position.get(r["product"])
            other = position.get(r["other"]) if r["other"] is not None else None
            kind, relation = str(r["kind"]).upper(), str(r["relation"]).lower()
            if product is None or (r["other"] is not None and other is None):
                continue
            if kind not in RULE_KINDS or relation not in RULE_RELATIONS:
                continue  # hand-edited in Neo4j Browser with a typo: it cannot mean anything here
            for served in RELATIONS if relation == "all" else (relation,):
                if other is None:
                    if kind == "BLOCKED":  # a product blocked alone; a pin needs another product
                        blocked[served][product] = True
                else:
                    (pairs if kind == "BLOCKED" else pins).setdefault((served, product), []).append(other)
        blocked[SESSION] = np.logical_or.reduce([blocked[relation] for relation in RELATIONS])
        return RuleSet(
            pins={key: tuple(dict.fromkeys(v)) for key, v in pins.items()},
            blocked_pairs={key: np.asarray(v, dtype=np.int64) for key, v in pairs.items()},
            blocked=blocked,
            count=len(rows),
        )


class RulesKeeper:
    """Holds the current :class:`RuleSet`; refreshes it from the store and writes rules through to it.

    Reads and writes take one lock, so a background refresh that started before a write can never overwrite the
    write's effect with an older table. An unchanged table keeps the same RuleSet object, so caches keyed on it
    (the schema's list cache) survive refreshes that change nothing.
    """

    def __init__(self, store: GraphStore, position: Mapping[str, int], n: int, interval_s: float) -> None:
        self.store = store
        self.position = position
        self.n = n
        self.interval_s = interval_s
        self.current = RuleSet.empty(n)
        self.checked_at = time.monotonic()
        self.last_error: str | None = None
        # Successful reads of the store's rules, refreshes and writes alike: an event a caller can wait for
        # (two more reads after a change in the store mean a whole read began after it) instead of a clock.
        self.reads = 0
        self._table: pa.Table | None = None
        self._lock = asyncio.Lock()

    @property
    def age_s(self) -> float:
        """Seconds since the store's rules were last read successfully."""
        return time.monotonic() - self.checked_at

    def _take(self, table: pa.Table) -> None:
        if self._table is None or not table.equals(self._table):
            self.current = RuleSet.from_table(table, self.position, self.n)
            self._table = table
        self.checked_at = time.monotonic()
        self.last_error = None
        self.reads += 1

    @property
    def fresh(self) -> bool:
        """Re-read within two intervals (plus a second of slack): changes made in the store are showing."""
        return self.last_error is None and self.age_s <= 2 * self.interval_s + 1.0

    async def refresh(self) -> None:
        async with self._lock:
            self._take(await asyncio.to_thread(self.store.rules))

    async def set_rule(self, kind: str, product: str, other: str | None, relation: str, on: bool) -> bool:
        """Write one rule to the store, then re-read, so the next request sees it; False: unknown product."""
        async with self._lock:
            ok = await asyncio.to_thread(self.store.set_rule, kind, product, other, relation, on)
            self._take(await asyncio.to_thread(self.store.rules))
        return ok

    async def run(self) -> None:
        """Refresh forever; a failing store is logged and leaves the last good rules in force (marked stale)."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.refresh()
            except Exception as e:
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("rules refresh failed, keeping the last good rules: %s", self.last_error)
