"""Inference: the serving artifact of a model (top-K complements and substitutes of every product, embeddings),
and the learned ``COMPLEMENT``/``SUBSTITUTE`` edges it writes back into the graph store on promotion.

Top-K is exact: every product is scored against the whole catalog (a few seconds per thousand products on one CPU
thread for Beauty's 12k). At catalog sizes where that stops being affordable, the random-walk candidates of
``graph/`` are what the model should rank instead (PinSage style); serving reads the same artifact either way.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import torch

from gnn.model_scorer import Distinct, GNNScorer, Prepared
from gnn.registry import Registry, ServingArtifact, TrainResult, save_run
from gnn.text import titles_of
from gnn.train import peak_rss_gib
from graph.schema import INTERACTION_TYPES, LEARNED_TYPE, RELATIONS
from graph.snapshot import Snapshot
from graph.store import GraphStore


def top_k(
    scorer: GNNScorer,
    relations: tuple[str, ...] = RELATIONS,
    k: int = 100,
    chunk: int = 256,
    progress: bool = False,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per relation, (int32 ``[n, k]`` neighbours, float32 ``[n, k]`` scores), best first, a product never its own
    neighbour; ``-1`` pads when the catalog has fewer than ``k`` other products. One pass over query blocks: the
    substitute scores of a block serve both its substitutes and its complements' push-down of them."""
    n = scorer.pairs.n
    k_eff = min(k, n - 1)
    out = {r: (np.full((n, k), -1, np.int32), np.full((n, k), -np.inf, np.float32)) for r in relations}
    blocks = range(0, n, chunk)
    if progress:
        try:
            from tqdm.auto import tqdm

            blocks = tqdm(blocks, desc=f"top-{k} {' and '.join(relations)}", unit="block")
        except ImportError:
            pass
    for lo in blocks:
        q = np.arange(lo, min(lo + chunk, n))
        sub = scorer.raw_scores("substitute", q) if "substitute" in relations else None
        for relation in relations:
            ranked = scorer.scores(relation, q, substitute=sub)
            s = torch.from_numpy(ranked.copy() if ranked is sub else ranked)  # sub is read by the others
            s[torch.arange(len(q)), torch.from_numpy(q)] = float("-inf")
            if k_eff > 0:
                best = torch.topk(s, k_eff, dim=1)
                idx, val = out[relation]
                idx[lo : lo + len(q), :k_eff] = best.indices.numpy()
                val[lo : lo + len(q), :k_eff] = best.values.numpy()
    for idx, val in out.values():
        val[idx < 0] = 0.0  # padding carries no score; validate() checks finiteness only where idx >= 0
    return out


def serving_artifact(
    scorer: GNNScorer, snap: Snapshot, k: int = 100, progress: bool = False
) -> ServingArtifact:
    """The artifact the API serves, scored over `snap` (the store's whole graph: what is known now)."""
    ranked = top_k(scorer, RELATIONS, k, progress=progress)
    neighbors = {relation: ranked[relation][0] for relation in RELATIONS}
    scores = {relation: ranked[relation][1] for relation in RELATIONS}
    embeddings = scorer.z.detach().float().cpu().numpy()
    art = ServingArtifact(
        product_ids=np.asarray(snap.ids["Product"], dtype=object),
        neighbors=neighbors,
        scores=scores,
        embeddings=embeddings,
        groups=purpose_groups(embeddings),
    )
    art.validate()
    return art


def purpose_groups(
    embeddings: np.ndarray, n_groups: int | None = None, iterations: int = 20, seed: int = 0
) -> np.ndarray:
    """int32 ``[n]``: a spherical k-means of the (L2-normalized) product embeddings, what each product is for
    as the model sees it; `n_groups` defaults to about sqrt(n) (110 on Beauty, at most 1,024).

    ``bundle(diverse: true)`` spreads over these rather than over category ids, which may be coarse or
    anonymous (Beauty's 38): five nail polishes share a group and are not a bundle. Lloyd's iterations in
    torch, a block of products at a time (bounded memory at catalog scale), from k-means++ seeds.
    """
    x = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))
    n = len(x)
    if n == 0:
        return np.zeros(0, np.int32)
    x = torch.nn.functional.normalize(x, dim=1)
    k = max(1, min(n_groups or int(round(np.sqrt(n))), 1024, n))
    g = torch.Generator().manual_seed(seed)
    block = max(1, (1 << 24) // k)
    # k-means++ seeding (Arthur and Vassilvitskii, SODA 2007): each next centre drawn in proportion to its
    # distance from the nearest one so far (1 - cosine, squared)
    first = int(torch.randint(0, n, (1,), generator=g))
    centres = torch.empty((k, x.shape[1]), dtype=x.dtype)
    centres[0] = x[first]
    nearest = (x @ x[first]).clamp(max=1.0)
    for c in range(1, k):
        weight = (1.0 - nearest).clamp(min=0.0) ** 2
        pick = int(torch.multinomial(weight, 1, generator=g)) if float(weight.sum()) > 0 else c % n
        centres[c] = x[pick]
        nearest = torch.maximum(nearest, x @ x[pick])
    assign = torch.zeros(n, dtype=torch.long)
    for _ in range(iterations):
        for lo in range(0, n, block):
            assign[lo : lo + block] = (x[lo : lo + block] @ centres.T).argmax(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k)
        empty = counts == 0
        centres = torch.nn.functional.normalize(sums, dim=1)
        if bool(empty.any()):  # an empty cluster restarts at a random product
            centres[empty] = x[torch.randint(0, n, (int(empty.sum()),), generator=g)]
    return assign.numpy().astype(np.int32)


# the observed lists that back a learned pair, per relation: (type, walked both ways)
EVIDENCE_TYPES = {
    "complement": (("ALSO_BOUGHT", False), ("BOUGHT_TOGETHER", False)),
    "substitute": (("ALSO_VIEWED", True),),
}
EVIDENCE_CHUNK = 1_000_000  # pairs per vectorized pass: bounds the memory of the shared-customer count


def _pair_keys(src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    return src.astype(np.int64) * n + dst.astype(np.int64)


def evidence(snap: Snapshot, relation: str, src: np.ndarray, dst: np.ndarray) -> list[str]:
    """Why the graph supports each learned pair (src[i] -> dst[i], product positions), in words a merchandiser
    reads in Browser: the observed list that has it ("also_bought", "also_viewed", "bought_together"), the
    customers both products share, and a shared (deepest) category; "model only" where none of these holds
    (the model inferred it from titles, categories and the neighbourhood)."""
    n = snap.n("Product")
    parts: list[np.ndarray] = []  # a string per pair per kind of evidence ("" where absent)
    keys = _pair_keys(src, dst, n)
    for type_, both in EVIDENCE_TYPES[relation]:
        s, d = snap.rel(type_).coo()
        known = np.unique(
            np.concatenate([_pair_keys(s, d, n), _pair_keys(d, s, n)]) if both else _pair_keys(s, d, n)
        )
        parts.append(np.where(np.isin(keys, known), type_.lower(), ""))
    # customers who interacted with both: a row-wise dot product of the product x customer incidence matrix
    import scipy.sparse as sp

    c_src, c_dst = [], []
    for type_ in INTERACTION_TYPES:
        cs, ps = snap.rel(type_).coo()  # customer -> product
        c_src.append(ps)
        c_dst.append(cs)
    ps, cs = np.concatenate(c_src), np.concatenate(c_dst)
    inc = sp.csr_matrix((np.ones(len(ps), np.float32), (ps, cs)), shape=(n, snap.n("Customer")))
    inc.sum_duplicates()
    inc.data[:] = 1.0
    shared = np.zeros(len(src), np.int64)
    for lo in range(0, len(src), EVIDENCE_CHUNK):
        a, b = src[lo : lo + EVIDENCE_CHUNK], dst[lo : lo + EVIDENCE_CHUNK]
        shared[lo : lo + len(a)] = np.asarray(inc[a].multiply(inc[b]).sum(axis=1)).ravel().astype(np.int64)
    parts.append(
        np.where(
            shared > 0,
            np.char.add(shared.astype(str), np.where(shared == 1, " shared customer", " shared customers")),
            "",
        )
    )
    cat = snap.product_category()
    parts.append(np.where((cat[src] >= 0) & (cat[src] == cat[dst]), "same category", ""))
    out = []
    for row in zip(*(p.tolist() for p in parts), strict=True):
        text = "; ".join(x for x in row if x)
        out.append(text or "model only")
    return out


def learned_edges(art: ServingArtifact, relation: str, snap: Snapshot | None = None) -> pa.Table:
    """The artifact's lists of `relation` as a table of (src, dst, score, rank), rank 1 = best, with each
    pair's :func:`evidence` when the snapshot they were scored over is given."""
    idx, sc = art.neighbors[relation], art.scores[relation]
    rows, pos = np.nonzero(idx >= 0)
    ids = art.product_ids.astype(str)
    columns = {
        "src": pa.array(ids[rows]),
        "dst": pa.array(ids[idx[rows, pos]]),
        "score": pa.array(sc[rows, pos], pa.float32()),
        "rank": pa.array(pos + 1, pa.int32()),
    }
    if snap is not None:
        at = snap.index("Product")
        position = np.fromiter((at.get(p, -1) for p in ids), np.int64, len(ids))  # artifact row -> snapshot
        src, dst = position[rows], position[idx[rows, pos]]
        known = (src >= 0) & (dst >= 0)
        text = np.full(len(rows), None, dtype=object)
        if known.any():
            text[known] = evidence(snap, relation, src[known], dst[known])
        columns["evidence"] = pa.array(text.tolist(), pa.string())
    return pa.table(columns)


def write_learned(
    store: GraphStore, art: ServingArtifact, version: str, snap: Snapshot | None = None
) -> dict[str, int]:
    """Replace the store's learned edges with the artifact's (with evidence from `snap`, default: the store's
    own snapshot); returns edges written per type."""
    snap = snap if snap is not None else store.snapshot()
    return {
        LEARNED_TYPE[relation]: store.replace_learned(
            LEARNED_TYPE[relation], learned_edges(art, relation, snap), model=version
        )
        for relation in RELATIONS
    }


def promote(
    registry: Registry, version: str, store: GraphStore | None = None, snap: Snapshot | None = None
) -> dict[str, int]:
    """Promote `version` (refused if its artifact does not verify and load), then, given a store, write its
    learned edges there, so Neo4j Browser and the API agree on what the promoted model says. `snap` is the
    store's snapshot when the caller holds it already (the evidence is read from it; else the store is read)."""
    registry.promote(version)
    if store is None:
        return {}
    return write_learned(store, registry.load_serving(version), version, snap)


def write_run(
    registry: Registry,
    result: TrainResult,
    snap: Snapshot,
    version: str | None = None,
    progress: bool = False,
) -> str:
    """Score `result`'s serving artifact over `snap` (the whole graph its split was cut from) and save the run
    with it (:func:`gnn.registry.save_run`); returns the version."""
    t0 = time.perf_counter()
    prepared = Prepared.of(snap, result.pipeline)
    device = next(result.model.parameters()).device
    scorer = GNNScorer(
        result.model,
        prepared.graph(),
        prepared.pair_features(),
        device,
        distinct=Distinct.of(result.config.to_dict()),
        titles=titles_of(snap),
    )
    art = serving_artifact(scorer, snap, k=result.config.top_k, progress=progress)
    timings = {"serving_s": time.perf_counter() - t0, "peak_rss_gib": peak_rss_gib()}
    return save_run(registry, result, snap, art, timings, version)
