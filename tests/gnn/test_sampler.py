"""The neighbour sampler: what it samples exists, and no supervised or held-out pair ever becomes a message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.loader import LinkLoader
from torch_geometric.sampler import NegativeSampling, NodeSamplerInput

from gnn.features import FeaturePipeline
from gnn.model_scorer import Prepared
from gnn.sampler import HardNegatives, HeteroNeighborSampler
from gnn.sparse import SparseRows
from gnn.split import make_split
from tests.gnn.gnn_fixture import small_catalog

PRODUCT_PAIRS = ("also_bought", "rev_also_bought", "also_viewed", "rev_also_viewed")


@pytest.fixture(scope="module")
def snap():
    return small_catalog()


@pytest.fixture(scope="module")
def data(snap):
    pipeline = FeaturePipeline.fit(snap, text_dim=8)
    return Prepared.of(snap, pipeline).graph()


def _edge_set(data, et) -> set[tuple[int, int]]:
    src, dst = data[et].edge_index.tolist()
    return set(zip(src, dst, strict=True))


def _sampled_global_edges(batch, et) -> list[tuple[int, int]]:
    src_ids, dst_ids = batch[et[0]].n_id, batch[et[2]].n_id
    src, dst = batch[et].edge_index
    return list(zip(src_ids[src].tolist(), dst_ids[dst].tolist(), strict=True))


def test_sampled_edges_exist_and_seeds_come_first(data) -> None:
    sampler = HeteroNeighborSampler(data, [5, 3], seed=0)
    seeds = torch.tensor([3, 17, 42, 17])
    out = sampler.sample_from_nodes(NodeSamplerInput(None, seeds, input_type="product"))
    assert out.node["product"][:3].tolist() == [3, 17, 42]  # deduplicated, in order
    for et, e in out.edge.items():
        src = out.node[et[0]][out.row[et]]
        dst = out.node[et[2]][out.col[et]]
        full_src, full_dst = data[et].edge_index
        assert torch.equal(full_src[e], src) and torch.equal(full_dst[e], dst), et
    assert any(len(e) for e in out.edge.values())


def test_fanout_bounds_the_incoming_edges(data) -> None:
    sampler = HeteroNeighborSampler(data, [2], seed=0)
    out = sampler.sample_from_nodes(NodeSamplerInput(None, torch.arange(50), input_type="product"))
    for et in out.edge:
        if et[2] == "product":
            counts = torch.bincount(out.col[et], minlength=50)[:50]
            assert int(counts.max()) <= 2, et


def test_link_loader_never_samples_the_supervised_pairs(data) -> None:
    """Positives that are edges of the graph: the sampler must drop them, and their reverses, from messages."""
    et = ("product", "also_bought", "product")
    pos = data[et].edge_index[:, :400]
    supervised = {(a, b) for a, b in pos.t().tolist()} | {(b, a) for a, b in pos.t().tolist()}
    sampler = HeteroNeighborSampler(data, [10, 10], seed=0)
    loader = LinkLoader(
        data, sampler, edge_label_index=(et, pos), neg_sampling=NegativeSampling("triplet", 3), batch_size=64
    )
    seen = 0
    for batch in loader:
        n_id = batch["product"].n_id
        src = n_id[batch["product"].src_index]
        dst = n_id[batch["product"].dst_pos_index]
        in_batch = {(a, b) for a, b in zip(src.tolist(), dst.tolist(), strict=True)}
        in_batch |= {(b, a) for a, b in in_batch}
        assert in_batch <= supervised
        assert batch["product"].dst_neg_index.shape == (len(src), 3)
        for name in PRODUCT_PAIRS:
            edges = set(_sampled_global_edges(batch, ("product", name, "product")))
            assert not edges & in_batch, name
            seen += len(edges)
    assert seen > 0


def test_no_held_out_pair_reaches_the_message_graph(snap) -> None:
    """The split's train graph, and so every sample of it, holds no held-out pair in any list or direction."""
    split = make_split(snap, seed=0)
    pipeline = FeaturePipeline.fit(split.train, text_dim=8)
    data = Prepared.of(split.train, pipeline).graph()
    held = np.concatenate(
        [p for pops in split.heldout.values() for p in pops.values()] + list(split.valid.values())
    )
    held_keys = {(a, b) for a, b in held.tolist()} | {(b, a) for a, b in held.tolist()}
    for name in PRODUCT_PAIRS:
        et = ("product", name, "product")
        if et in data.edge_types:
            assert not _edge_set(data, et) & held_keys, name
    sampler = HeteroNeighborSampler(data, [10, 10], seed=1)
    out = sampler.sample_from_nodes(
        NodeSamplerInput(None, torch.from_numpy(held[:, 0]), input_type="product")
    )
    for et in out.edge:
        if et[1] in PRODUCT_PAIRS:
            src = out.node[et[0]][out.row[et]].tolist()
            dst = out.node[et[2]][out.col[et]].tolist()
            assert not set(zip(src, dst, strict=True)) & held_keys


def test_hard_negatives_mix() -> None:
    n = 100
    category = np.arange(n) % 5
    adj = SparseRows.from_coo(np.arange(n), (np.arange(n) + 1) % n, n, n)
    neg = HardNegatives(category, np.arange(n), adj, mix=(0.0, 1.0, 0.0, 0.0))
    rng = np.random.default_rng(0)
    a, b = np.arange(20), (np.arange(20) + 7) % n
    out = neg.sample(rng, a, b, 6)
    assert out.shape == (20, 6) and out.min() >= 0 and out.max() < n
    assert (category[out] == category[b][:, None]).all()  # all drawn from b's category
    two_hop = HardNegatives(category, np.arange(n), adj, mix=(0.0, 0.0, 0.0, 1.0)).sample(rng, a, b, 4)
    assert (two_hop == (a[:, None] + 2) % n).all()  # the ring's only two-hop neighbour
