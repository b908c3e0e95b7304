"""Inference: the serving artifact of a model (top-K complements and substitutes of every product, embeddings),
and the learned ``COMPLEMENT``/``SUBSTITUTE`` edges it writes back into the graph store on promotion.

Top-K is exact: every product is scored against the whole catalog (a few seconds per thousand products on one CPU
thread for Beauty's 12k). At catalog sizes where that stops being affordable, the random-walk candidates of
``graph/`` are what the model should rank instead (PinSage style); serving reads the same artifact either way.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import torch

from gnn.model_scorer import GNNScorer
from gnn.registry import RELATIONS, Registry, ServingArtifact
from graph.snapshot import Snapshot
from graph.store import GraphStore

LEARNED_TYPE = {"complement": "COMPLEMENT", "substitute": "SUBSTITUTE"}


def top_k(
    scorer: GNNScorer, relation: str, k: int = 100, chunk: int = 256, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(int32 ``[n, k]`` neighbours, float32 ``[n, k]`` scores), best first, a product never its own neighbour;
    ``-1`` pads when the catalog has fewer than ``k`` other products."""
    n = scorer.pairs.n
    k_eff = min(k, n - 1)
    idx = np.full((n, k), -1, np.int32)
    val = np.full((n, k), -np.inf, np.float32)
    blocks = range(0, n, chunk)
    if progress:
        try:
            from tqdm.auto import tqdm

            blocks = tqdm(blocks, desc=f"top-{k} {relation}", unit="block")
        except ImportError:
            pass
    for lo in blocks:
        q = np.arange(lo, min(lo + chunk, n))
        s = torch.from_numpy(scorer.scores(relation, q))
        s[torch.arange(len(q)), torch.from_numpy(q)] = float("-inf")
        best = torch.topk(s, k_eff, dim=1) if k_eff > 0 else None
        if best is not None:
            idx[lo : lo + len(q), :k_eff] = best.indices.numpy()
            val[lo : lo + len(q), :k_eff] = best.values.numpy()
    val[idx < 0] = 0.0  # padding carries no score; validate() checks finiteness only where idx >= 0
    return idx, val


def serving_artifact(
    scorer: GNNScorer, snap: Snapshot, k: int = 100, progress: bool = False
) -> ServingArtifact:
    """The artifact the API serves, scored over `snap` (the store's whole graph: what is known now)."""
    neighbors, scores = {}, {}
    for rel in RELATIONS:
        neighbors[rel], scores[rel] = top_k(scorer, rel, k, progress=progress)
    art = ServingArtifact(
        product_ids=np.asarray(snap.ids["Product"], dtype=object),
        neighbors=neighbors,
        scores=scores,
        embeddings=scorer.z.detach().float().cpu().numpy(),
    )
    art.validate()
    return art


def learned_edges(art: ServingArtifact, relation: str) -> pa.Table:
    """The artifact's lists of `relation` as a table of (src, dst, score, rank), rank 1 = best."""
    idx, sc = art.neighbors[relation], art.scores[relation]
    rows, pos = np.nonzero(idx >= 0)
    ids = art.product_ids.astype(str)
    return pa.table(
        {
            "src": pa.array(ids[rows]),
            "dst": pa.array(ids[idx[rows, pos]]),
            "score": pa.array(sc[rows, pos], pa.float32()),
            "rank": pa.array(pos + 1, pa.int32()),
        }
    )


def write_learned(store: GraphStore, art: ServingArtifact, version: str) -> dict[str, int]:
    """Replace the store's learned edges with the artifact's; returns edges written per type."""
    return {
        LEARNED_TYPE[rel]: store.replace_learned(LEARNED_TYPE[rel], learned_edges(art, rel), model=version)
        for rel in RELATIONS
    }


def promote(registry: Registry, version: str, store: GraphStore | None = None) -> dict[str, int]:
    """Promote `version` (refused if its artifact does not verify and load), then, given a store, write its
    learned edges there, so Neo4j Browser and the API agree on what the promoted model says."""
    registry.promote(version)
    if store is None:
        return {}
    return write_learned(store, registry.load_serving(version), version)
