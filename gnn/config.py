"""The training configuration: everything a run depends on besides the data, stored with the run.

Read from a TOML file (keys at the top level or under ``[train]``) with command-line overrides on top; an unknown
key is an error, so a typo does not silently train with a default.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    """Everything a run depends on besides the data; stored with the run. Defaults are tuned on Beauty."""

    # model
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.1
    out_dim: int = 64
    pair_hidden: int = 16
    text_dim: int = 64
    # optimisation
    epochs: int = 12
    lr: float = 0.005
    weight_decay: float = 1e-5
    steps_per_epoch: int = 24
    step_positives: int = 2048  # positives per relation and step, drawn from the epoch's
    encoder_every: int = 3  # steps per encoder pass with gradients (see gnn.train.Trainer)
    negatives: int = 32
    # shares of uniform, same-category, popular and two-hop negatives (gnn.sampler.HardNegatives)
    negative_mix: list[float] = field(default_factory=lambda: [0.5, 0.125, 0.125, 0.25])
    max_positives: int = 8000  # supervision pairs per relation and epoch (a sample of the episode's)
    direction_weight: float = 2.0
    patience: int = 3
    # episodes: the fractions of products whose pairs an epoch holds out, as the test split does
    episode_warm: float = 0.3
    episode_cold: float = 0.03
    episode_new: float = 0.03
    # data
    seed: int = 0
    split_seed: int = 0
    # mini-batches (0: full-batch); fanout per hop of the neighbour sampler
    batch_size: int = 0
    num_neighbors: list[int] = field(default_factory=lambda: [10, 5])
    # validation: warm queries per relation (a quarter as many cold and new ones), and the shares of products
    # carved out of the train graph as cold and new validation queries
    validate: bool = True
    valid_queries: int = 200
    valid_cold: float = 0.02
    valid_new: float = 0.02
    top_k: int = 100
    device: str = "auto"
    # one thread: on a shared CPU, two threads of one process spend much of their time waiting for each other
    threads: int = 1

    @staticmethod
    def from_toml(path: Path | None, **overrides: Any) -> TrainConfig:
        """Defaults, then the TOML file's keys (top level or under ``[train]``), then `overrides` not None."""
        values: dict[str, Any] = {}
        if path is not None:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
            values.update(doc.get("train", doc))
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; known: {sorted(known)}")
        return TrainConfig(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
