"""The message-passing graph of a (train) snapshot, as a PyG ``HeteroData``.

Node types: ``product`` (title features ``x_text``, category ``x_cat``, popularity ``x_pop``), ``customer``,
``category``, and ``brand`` when the catalog has brands. Edge types: customer -> product interactions
(``reviewed``/``purchased``/``viewed``), product -> category (``in_category``), product -> brand (``made_by``),
the observed product lists (``also_bought``/``also_viewed``/``bought_together``), each with a ``rev_`` reverse
type so that messages flow both ways (a lens learns from the cameras that list it).

Only what the given snapshot holds goes in: the split's train snapshot has the held-out pairs removed from every
list in both directions, so neither an edge nor its reverse can carry a test label into a message. The trainer
removes each step's supervision pairs the same way before building the graph (see :mod:`gnn.objective`).

Popularity is computed here, from the edges of the graph being built, and not frozen in the feature pipeline: a
product whose edges a training step removes must look exactly like a product that has none.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch_geometric.data import HeteroData

from graph.schema import INTERACTION_TYPES, LABEL_TYPE
from graph.snapshot import Snapshot

# snapshot relationship -> (source node type, edge name, target node type)
EDGE_TYPES: dict[str, tuple[str, str, str]] = {
    "REVIEWED": ("customer", "reviewed", "product"),
    "PURCHASED": ("customer", "purchased", "product"),
    "VIEWED": ("customer", "viewed", "product"),
    "IN_CATEGORY": ("product", "in_category", "category"),
    "MADE_BY": ("product", "made_by", "brand"),
    "ALSO_BOUGHT": ("product", "also_bought", "product"),
    "ALSO_VIEWED": ("product", "also_viewed", "product"),
    "BOUGHT_TOGETHER": ("product", "bought_together", "product"),
}
# the popularity columns of `product.x_pop`, in order
POPULARITY = ("bought_in", "bought_out", "viewed_in", "viewed_out", "interactions")


def reverse(edge_type: tuple[str, str, str]) -> tuple[str, str, str]:
    src, name, dst = edge_type
    return (dst, f"rev_{name}", src)


def popularity(snap: Snapshot) -> np.ndarray:
    """float32 ``[n_products, len(POPULARITY)]``: log1p of list in/out degrees and of interaction counts."""
    n = snap.n("Product")
    cols = []
    for type_ in LABEL_TYPE.values():
        csr = snap.rel(type_)
        cols.append(np.bincount(csr.indices, minlength=n))
        cols.append(csr.degree())
    cols.append(np.add.reduce([np.bincount(snap.rel(t).indices, minlength=n) for t in INTERACTION_TYPES]))
    return np.log1p(np.stack(cols, axis=1).astype(np.float32))


def to_hetero(
    snap: Snapshot, text: np.ndarray, category: np.ndarray, category_nodes: np.ndarray
) -> HeteroData:
    """Build the message-passing graph of `snap`.

    Args:
        snap: the graph to pass messages over (a train snapshot, or a step's message graph).
        text: float32 ``[n_products, d]`` title features (:meth:`gnn.features.FeaturePipeline.text`).
        category: int64 ``[n_products]`` each product's category position (``FeaturePipeline.category_index``).
        category_nodes: int64 ``[n_categories]`` each Category node's position (``FeaturePipeline.category_nodes``).
    """
    data = HeteroData()
    data["product"].x_text = torch.from_numpy(np.ascontiguousarray(text, dtype=np.float32))
    data["product"].x_cat = torch.from_numpy(np.asarray(category, dtype=np.int64))
    data["product"].x_pop = torch.from_numpy(popularity(snap))
    data["product"].num_nodes = snap.n("Product")
    data["customer"].num_nodes = snap.n("Customer")
    data["category"].num_nodes = snap.n("Category")
    data["category"].x_cat = torch.from_numpy(np.asarray(category_nodes, dtype=np.int64))
    if snap.n("Brand"):
        data["brand"].num_nodes = snap.n("Brand")
    for type_, edge_type in EDGE_TYPES.items():
        csr = snap.rels.get(type_)
        if (
            csr is None
            or csr.nnz == 0
            or edge_type[0] not in data.node_types
            or edge_type[2] not in data.node_types
        ):
            continue
        src, dst = csr.coo()
        index = torch.from_numpy(np.stack([src, dst]))
        data[edge_type].edge_index = index
        data[reverse(edge_type)].edge_index = index.flip(0)
    return data


def metadata(brands: bool) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Every node and edge type a model over this schema may meet, so one model serves any snapshot of it.

    A snapshot without (say) purchases simply has no such edges; the model keeps the (unused) weights.
    """
    nodes = ["product", "customer", "category"] + (["brand"] if brands else [])
    edges = []
    for edge_type in EDGE_TYPES.values():
        if edge_type[0] in nodes and edge_type[2] in nodes:
            edges += [edge_type, reverse(edge_type)]
    return nodes, edges


def encoder_inputs(data: HeteroData, sparse: bool = False) -> dict[str, object]:
    """The keyword arguments of :meth:`gnn.model.HeteroSAGE.forward` for a (full or sampled) graph.

    With `sparse`, edges go as transposed CSR adjacencies, which ``SAGEConv`` aggregates with one sparse-dense
    product instead of a scatter: about twice as fast on CPU for a whole graph, worth building once per graph.
    """
    edges = data.edge_index_dict
    if sparse:
        edges = {et: _adj_t(e, data[et[0]].num_nodes, data[et[2]].num_nodes) for et, e in edges.items()}
    return {
        "x_text": data["product"].x_text,
        "cat": data["product"].x_cat,
        "pop": data["product"].x_pop,
        "num_nodes": {t: data[t].num_nodes for t in data.node_types},
        "category_cat": data["category"].x_cat,
        "edge_index_dict": edges,
    }


def _adj_t(edge_index: torch.Tensor, n_src: int, n_dst: int) -> torch.Tensor:
    """``[n_dst, n_src]`` CSR of ones (duplicate edges count twice, as in the scatter)."""
    src, dst = edge_index
    order = torch.argsort(dst * n_src + src)
    crow = torch.zeros(n_dst + 1, dtype=torch.long, device=edge_index.device)
    crow[1:] = torch.cumsum(torch.bincount(dst, minlength=n_dst), 0)
    values = torch.ones(len(src), device=edge_index.device)
    return sparse_csr(crow, src[order], values, (n_dst, n_src))


def sparse_csr(
    crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """A torch CSR tensor, without the per-call warning that torch's CSR support is in beta."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, size, check_invariants=False)
