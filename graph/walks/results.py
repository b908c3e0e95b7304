"""What walks return: raw paths, one query's candidates, and a batch's candidates per query product."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WalkPaths:
    """Raw walks: ``nodes[w, 0]`` is walker w's start, ``nodes[w, t+1]`` where step t took it (-1: no step).

    ``restarted[w, t]`` says the walker jumped back to its start before step t, so step t traversed the edge
    ``(start if restarted else nodes[w, t]) -> nodes[w, t+1]``.
    """

    nodes: np.ndarray  # int32 [walkers, steps + 1]
    restarted: np.ndarray  # bool [walkers, steps]


@dataclass(frozen=True)
class Candidates:
    """The answer to one query: product ids (dense snapshot ids) best first, with their scores."""

    products: np.ndarray  # int64 [<= k]
    scores: np.ndarray  # float32 [<= k]: boosted, degree-normalized visit counts
    steps: int  # steps walked
    stopped_early: bool


@dataclass(frozen=True)
class BatchCandidates:
    """Top-k candidates of many query products: row i answers ``queries[i]``; -1 pads short rows."""

    queries: np.ndarray  # int64 [n]
    candidates: np.ndarray  # int32 [n, k]
    counts: np.ndarray  # float32 [n, k]
    steps: int  # steps walked in all
