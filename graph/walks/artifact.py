"""The batch candidates artifact: one ``.npz`` file per relation, loadable without pickle."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from graph.walks.results import BatchCandidates


def save_candidates(
    path: str | Path, result: BatchCandidates, product_ids: np.ndarray, meta: Mapping[str, Any] | None = None
) -> None:
    """Write the batch artifact: ``product_ids`` [P] str, ``queries`` [n] int64 (row i answers
    ``product_ids[queries[i]]``), ``candidates`` [n, K] int32 indexing ``product_ids`` (-1 padded), ``counts``
    [n, K] float32, and ``meta`` (a JSON string: relation, backend, parameters...). Loads without pickle."""

    np.savez(
        path,
        product_ids=np.asarray(product_ids, dtype=str),
        queries=result.queries,
        candidates=result.candidates,
        counts=result.counts,
        meta=np.asarray(json.dumps(dict(meta or {}) | {"steps": result.steps})),
    )


def load_candidates(path: str | Path) -> tuple[BatchCandidates, np.ndarray, dict[str, Any]]:
    """(result, product_ids, meta) from an artifact written by :func:`save_candidates`."""

    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        result = BatchCandidates(
            queries=z["queries"], candidates=z["candidates"], counts=z["counts"], steps=int(meta["steps"])
        )
        return result, z["product_ids"], meta
