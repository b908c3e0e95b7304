"""A small synthetic catalog and tiny training configs shared by the GNN tests (seconds, not minutes)."""

from __future__ import annotations

from gnn.config import TrainConfig
from graph.snapshot import Snapshot
from loaders.synthetic import synthetic_snapshot


def small_catalog(seed: int = 1) -> Snapshot:
    """600 products in 12 categories, 6000 list edges, 300 customers: planted complement/substitute structure."""
    return synthetic_snapshot(600, 6000, n_categories=12, n_customers=300, seed=seed)


def tiny_config(**overrides: object) -> TrainConfig:
    values = {
        "hidden": 16,
        "out_dim": 16,
        "text_dim": 8,
        "pair_hidden": 8,
        "epochs": 2,
        "steps_per_epoch": 4,
        "step_positives": 256,
        "max_positives": 600,
        "negatives": 8,
        "valid_queries": 40,
        "top_k": 10,
        "device": "cpu",
    }
    values.update(overrides)
    return TrainConfig(**values)
