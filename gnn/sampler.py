"""Mini-batch sampling for graphs too large for full-batch training, and the negatives every step draws.

:class:`HeteroNeighborSampler` is a :class:`torch_geometric.sampler.BaseSampler` for PyG's
:class:`~torch_geometric.loader.LinkLoader` (and ``NodeLoader``): GraphSAGE's fixed-fanout neighbourhood sampling
(Hamilton et al., NeurIPS 2017), heterogeneous, in numpy over CSC arrays, because PyG's own ``NeighborSampler``
needs pyg-lib or torch-sparse, which this project cannot install. Differences from PyG's sampler, each on purpose:

- a node with more neighbours than the fanout gets ``fanout`` draws *with* replacement, deduplicated (so possibly
  fewer distinct ones): one vectorised draw per hop, no per-node loop;
- edges between the two ends of a seed pair are never sampled, in any product-to-product type and either
  direction: the pair a step is supervised on is not a message of that step (the link-prediction leak that PyG's
  ``disjoint_train_ratio`` guards against in full-batch splits).

:class:`HardNegatives` draws the negatives of a positive pair (a, b): uniform products, products of b's category,
popular products (by in-degree, to the 3/4 power as word2vec does), and products two hops from a (what the
structural features alone would rank high): the hard negatives that teach a model more than random ones (Ying et
al., "PinSage", KDD 2018).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch_geometric.data import HeteroData
from torch_geometric.sampler import (
    BaseSampler,
    EdgeSamplerInput,
    HeteroSamplerOutput,
    NegativeSampling,
    NodeSamplerInput,
)

from gnn.sparse import SparseRows

EdgeType = tuple[str, str, str]


class HardNegatives:
    """Negatives for positive pairs, drawn uniformly, from b's category, by popularity and two hops from a.

    Mostly uniform by default: the test ranks a partner against the whole catalog, and a model that only ever
    sees hard negatives learns that what they share with positives (a category, popularity) does not matter.

    Args:
        category: int64 ``[n]`` category of each product.
        in_degree: ``[n]`` in-degree of each product in the relation's lists (popularity).
        neighbours: product -> product adjacency (both directions, all lists) for two-hop draws.
        mix: shares of (uniform, category, popular, two-hop) negatives.
        substitutes: product -> products it must not be paired with in this relation (a complement's substitutes:
            its co-viewed products), drawn as `substitute_share` of each positive's negatives, the four shares
            of `mix` scaled to the rest; uniform where a product has none.
    """

    def __init__(
        self,
        category: np.ndarray,
        in_degree: np.ndarray,
        neighbours: SparseRows,
        mix: Sequence[float] = (0.5, 0.125, 0.125, 0.25),
        substitutes: SparseRows | None = None,
        substitute_share: float = 0.0,
    ) -> None:
        if len(mix) != 4 or min(mix) < 0 or sum(mix) <= 0:
            raise ValueError(f"mix takes four shares >= 0 (uniform, category, popular, two-hop), not {mix}")
        if not 0.0 <= substitute_share < 1.0:
            raise ValueError(f"substitute_share is a share in [0, 1), not {substitute_share}")
        share = substitute_share if substitutes is not None else 0.0
        self.mix = np.append(np.asarray(mix, np.float64) / sum(mix) * (1.0 - share), share)
        self.substitutes = substitutes
        self.n = len(category)
        self.order = np.argsort(category, kind="stable")
        sorted_cat = category[self.order]
        self.cat_start = np.searchsorted(sorted_cat, category, side="left")
        self.cat_count = np.searchsorted(sorted_cat, category, side="right") - self.cat_start
        weight = np.power(np.asarray(in_degree, np.float64) + 1.0, 0.75)
        self.popular_cdf = np.cumsum(weight) / weight.sum()
        self.neighbours = neighbours

    def sample(self, rng: np.random.Generator, a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
        """int64 ``[len(a), k]`` negatives for the pairs ``(a[i], b[i])`` (may hit true partners: mask them)."""
        m = len(a)
        bounds = np.round(np.cumsum(self.mix) * k).astype(np.int64)
        parts = np.split(np.arange(k), bounds[:-1])
        out = np.empty((m, k), np.int64)
        out[:, parts[0]] = rng.integers(0, self.n, (m, len(parts[0])))
        r = rng.random((m, len(parts[1])))
        out[:, parts[1]] = self.order[
            self.cat_start[b][:, None] + (r * self.cat_count[b][:, None]).astype(np.int64)
        ]
        out[:, parts[2]] = np.minimum(
            np.searchsorted(self.popular_cdf, rng.random((m, len(parts[2])))), self.n - 1
        )
        out[:, parts[3]] = self._two_hop(rng, np.repeat(a, len(parts[3]))).reshape(m, len(parts[3]))
        if len(parts[4]) and self.substitutes is not None:
            rep = np.repeat(a, len(parts[4]))
            x = _random_neighbour(rng, self.substitutes, rep)
            out[:, parts[4]] = np.where(x >= 0, x, rng.integers(0, self.n, len(rep))).reshape(
                m, len(parts[4])
            )
        return out

    def _two_hop(self, rng: np.random.Generator, a: np.ndarray) -> np.ndarray:
        """A random neighbour of a random neighbour of each `a`; uniform where there is none."""
        x = _random_neighbour(rng, self.neighbours, a)
        y = _random_neighbour(rng, self.neighbours, np.where(x >= 0, x, 0))
        return np.where((x >= 0) & (y >= 0), y, rng.integers(0, self.n, len(a)))


def _random_neighbour(rng: np.random.Generator, adj: SparseRows, rows: np.ndarray) -> np.ndarray:
    start = adj.indptr[rows]
    count = adj.indptr[rows + 1] - start
    pick = start + (rng.random(len(rows)) * count).astype(np.int64)
    return np.where(count > 0, adj.indices[np.minimum(pick, max(len(adj.indices) - 1, 0))], -1)


class HeteroNeighborSampler(BaseSampler):
    """Fixed-fanout heterogeneous neighbour sampling over a :class:`~torch_geometric.data.HeteroData`.

    Args:
        data: the message-passing graph (it must not hold the pairs that training will be tested on).
        num_neighbors: fanout per hop, the same for every edge type (e.g. ``[15, 10]``).
        negatives: hard negatives for ``"triplet"`` negative sampling of product pairs; without it, PyG's
            :class:`~torch_geometric.sampler.NegativeSampling` draws them (uniform or by its weights).
        seed: seeds the sampler's generator.
    """

    def __init__(
        self,
        data: HeteroData,
        num_neighbors: list[int],
        negatives: HardNegatives | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.num_neighbors = list(num_neighbors)
        self.negatives = negatives
        self.rng = np.random.default_rng(seed)
        self.num_nodes = {t: int(data[t].num_nodes) for t in data.node_types}
        # per edge type, sources grouped by target (CSC): colptr [n_dst + 1], source ids and edge ids in that order
        self.csc: dict[EdgeType, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for et in data.edge_types:
            src, dst = (t.numpy() for t in data[et].edge_index)
            order = np.argsort(dst, kind="stable")
            colptr = np.zeros(self.num_nodes[et[2]] + 1, np.int64)
            np.cumsum(np.bincount(dst, minlength=self.num_nodes[et[2]]), out=colptr[1:])
            self.csc[et] = (colptr, src[order].astype(np.int64), order.astype(np.int64))

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs: object) -> HeteroSamplerOutput:
        seeds = {index.input_type: index.node.numpy().astype(np.int64)}
        out = self._sample(seeds, exclude=np.empty(0, np.int64))
        out.metadata = (index.input_id, None)
        return out

    def sample_from_edges(
        self, index: EdgeSamplerInput, neg_sampling: NegativeSampling | None = None
    ) -> HeteroSamplerOutput:
        src_type, _, dst_type = index.input_type
        src = index.row.numpy().astype(np.int64)
        dst = index.col.numpy().astype(np.int64)
        n_dst = self.num_nodes[dst_type]
        negatives = None
        if neg_sampling is not None and neg_sampling.is_triplet():
            k = int(neg_sampling.amount)
            if self.negatives is not None:
                negatives = self.negatives.sample(self.rng, src, dst, k)
            else:
                negatives = neg_sampling.sample(len(src) * k, "dst", n_dst).numpy().reshape(len(src), k)
        elif neg_sampling is not None:  # binary: random pairs labelled 0
            k = max(1, round(len(src) * neg_sampling.amount))
            src = np.concatenate([src, neg_sampling.sample(k, "src", self.num_nodes[src_type]).numpy()])
            dst = np.concatenate([dst, neg_sampling.sample(k, "dst", n_dst).numpy()])
        ends = [dst] if negatives is None else [dst, negatives.ravel()]
        if src_type == dst_type:
            seeds = {src_type: np.concatenate([src, *ends])}
        else:
            seeds = {src_type: src, dst_type: np.concatenate(ends)}
        # the seed pairs themselves (positives only: a negative pair is no edge to leak)
        n_pos = len(index.row)
        exclude = _pair_key(src[:n_pos], dst[:n_pos]) if src_type == dst_type else np.empty(0, np.int64)
        out = self._sample(seeds, exclude)
        local = self._local
        if negatives is not None:
            out.metadata = (
                index.input_id,
                torch.from_numpy(local[src_type][src]),
                torch.from_numpy(local[dst_type][dst]),
                torch.from_numpy(local[dst_type][negatives]),
                index.time,
            )
        else:
            label = index.label if index.label is not None else torch.ones(n_pos)
            if len(src) > n_pos:
                label = torch.cat([label, torch.zeros(len(src) - n_pos, dtype=label.dtype)])
            edge_label_index = torch.from_numpy(np.stack([local[src_type][src], local[dst_type][dst]]))
            out.metadata = (index.input_id, edge_label_index, label, index.time)
        return out

    def _sample(self, seeds: dict[str, np.ndarray], exclude: np.ndarray) -> HeteroSamplerOutput:
        """Nodes (seeds first, in the order given, deduplicated) and the edges sampled into them, hop by hop."""
        nodes: dict[str, np.ndarray] = {}
        frontier: dict[str, np.ndarray] = {}
        for t, ids in seeds.items():
            uniq, first = np.unique(ids, return_index=True)
            nodes[t] = uniq[np.argsort(first)]
            frontier[t] = nodes[t]
        edges: dict[EdgeType, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {et: [] for et in self.csc}
        for fanout in self.num_neighbors:
            found: dict[str, list[np.ndarray]] = {}
            for et, (colptr, row, eid) in self.csc.items():
                targets = frontier.get(et[2])
                if targets is None or len(targets) == 0:
                    continue
                pos = _draw(self.rng, colptr, targets, fanout)
                src, dst, e = row[pos], _column_of(colptr, pos), eid[pos]
                if len(exclude) and et[0] == et[2] == "product":
                    keep = ~np.isin(_pair_key(src, dst), exclude)
                    src, dst, e = src[keep], dst[keep], e[keep]
                edges[et].append((src, dst, e))
                found.setdefault(et[0], []).append(src)
            frontier = {}
            for t, lists in found.items():
                cand = np.unique(np.concatenate(lists))
                new = cand[~np.isin(cand, nodes.get(t, np.empty(0, np.int64)))]
                nodes[t] = np.concatenate([nodes.get(t, np.empty(0, np.int64)), new])
                frontier[t] = new
        # global -> local ids
        self._local = {}
        for t, ids in nodes.items():
            local = np.full(self.num_nodes[t], -1, np.int64)
            local[ids] = np.arange(len(ids))
            self._local[t] = local
        row_out, col_out, edge_out = {}, {}, {}
        for et, parts in edges.items():
            if not parts:
                continue
            src = np.concatenate([p[0] for p in parts])
            dst = np.concatenate([p[1] for p in parts])
            e = np.concatenate([p[2] for p in parts])
            e, first = np.unique(e, return_index=True)  # an edge reached from two hops counts once
            row_out[et] = torch.from_numpy(self._local[et[0]][src[first]])
            col_out[et] = torch.from_numpy(self._local[et[2]][dst[first]])
            edge_out[et] = torch.from_numpy(e)
        return HeteroSamplerOutput(
            node={t: torch.from_numpy(ids) for t, ids in nodes.items()},
            row=row_out,
            col=col_out,
            edge=edge_out,
        )


def _draw(rng: np.random.Generator, colptr: np.ndarray, targets: np.ndarray, fanout: int) -> np.ndarray:
    """Positions (into the CSC arrays) of up to `fanout` incoming edges of each target."""
    start = colptr[targets]
    count = colptr[targets + 1] - start
    small = count <= fanout
    s_start, s_count = start[small], count[small]
    offsets = np.cumsum(s_count) - s_count
    every = np.repeat(s_start, s_count) + np.arange(int(s_count.sum())) - np.repeat(offsets, s_count)
    b_start, b_count = np.repeat(start[~small], fanout), np.repeat(count[~small], fanout)
    drawn = np.unique(b_start + (rng.random(len(b_start)) * b_count).astype(np.int64))
    return np.concatenate([every, drawn])


def _column_of(colptr: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The target node (CSC column) of each position."""
    return (np.searchsorted(colptr, pos, side="right") - 1).astype(np.int64)


def _pair_key(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One int64 per unordered pair, as the split keys its held-out pairs."""
    a, b = a.astype(np.int64), b.astype(np.int64)
    return np.minimum(a, b) * (1 << 31) + np.maximum(a, b)
