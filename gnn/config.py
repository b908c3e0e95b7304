"""The training configuration: everything a run depends on besides the data, stored with the run.

Read from a TOML file (keys at the top level or under ``[train]``) with command-line overrides on top; an unknown
key is an error, so a typo does not silently train with a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph.settings import list_of, load, setting, to_bool, to_float, to_int, to_str


@dataclass
class TrainConfig:
    """Everything a run depends on besides the data; stored with the run. Defaults are tuned on Beauty."""

    # model
    hidden: int = setting(64, cast=to_int, help="GraphSAGE hidden width")
    layers: int = setting(2, cast=to_int, help="message-passing layers")
    dropout: float = setting(0.1, cast=to_float, help="dropout between layers")
    out_dim: int = setting(64, cast=to_int, help="product embedding width")
    pair_hidden: int = setting(16, cast=to_int, help="hidden width of the structural pair term")
    text_dim: int = setting(64, cast=to_int, help="title TF-IDF components kept by the SVD")
    # optimisation
    epochs: int = setting(12, cast=to_int, help="epochs at most")
    lr: float = setting(0.005, cast=to_float, help="Adam learning rate")
    weight_decay: float = setting(1e-5, cast=to_float, help="Adam weight decay")
    steps_per_epoch: int = setting(24, cast=to_int, help="optimiser steps per epoch")
    step_positives: int = setting(
        2048, cast=to_int, help="positives per relation and step, drawn from the epoch's"
    )
    encoder_every: int = setting(
        3, cast=to_int, help="steps per encoder pass with gradients (see gnn.train.Trainer)"
    )
    negatives: int = setting(32, cast=to_int, help="negatives per positive")
    negative_mix: list[float] = setting(
        default_factory=lambda: [0.5, 0.125, 0.125, 0.25],
        cast=list_of(to_float),
        help="shares of uniform, same-category, popular and two-hop negatives (gnn.sampler.HardNegatives)",
    )
    substitute_negatives: float = setting(
        0.15,
        cast=to_float,
        help="share of complement negatives drawn among the query's substitutes (co-viewed products)",
    )
    max_positives: int = setting(
        8000, cast=to_int, help="supervision pairs per relation and epoch (a sample of the episode's)"
    )
    direction_weight: float = setting(2.0, cast=to_float, help="weight of the complement direction loss")
    patience: int = setting(3, cast=to_int, help="epochs without a better validation score before stopping")
    # episodes: the fractions of products whose pairs an epoch holds out, as the test split does
    episode_warm: float = setting(0.3, cast=to_float, help="share of products an epoch holds out as warm")
    episode_cold: float = setting(0.03, cast=to_float, help="share of products an epoch holds out as cold")
    episode_new: float = setting(0.03, cast=to_float, help="share of products an epoch holds out as new")
    # data
    seed: int = setting(0, cast=to_int, help="seed of the model and the sampling")
    split_seed: int = setting(0, cast=to_int, help="seed of the held-out split")
    # mini-batches (0: full-batch); fanout per hop of the neighbour sampler
    batch_size: int = setting(0, cast=to_int, help="pairs per mini-batch (0: full-batch)")
    num_neighbors: list[int] = setting(
        default_factory=lambda: [10, 5], cast=list_of(to_int), help="neighbour sampler fanout per hop"
    )
    # validation: warm queries per relation (a quarter as many cold and new ones), and the shares of products
    # carved out of the train graph as cold and new validation queries
    validate: bool = setting(True, cast=to_bool, help="score validation pairs after each epoch")
    valid_queries: int = setting(
        200, cast=to_int, help="warm validation queries per relation (a quarter as many cold and new)"
    )
    valid_cold: float = setting(0.02, cast=to_float, help="share of products carved out as cold validation")
    valid_new: float = setting(0.02, cast=to_float, help="share of products carved out as new validation")
    # what a bundle is not (gnn.model_scorer.Distinct): applied where complements are ranked for serving and
    # evaluation
    bundle_exclude_similar: int = setting(
        10, cast=to_int, help="complements push down the query's top N substitutes by the same model (0: off)"
    )
    bundle_tune: bool = setting(
        True,
        cast=to_bool,
        help="choose bundle_exclude_similar among 10, 3, 0 on the validation pairs (needs validate)",
    )
    bundle_near_duplicate: float = setting(
        0.5, cast=to_float, help="complements push down titles with word TF-IDF cosine above this (1: off)"
    )
    bundle_penalty: float = setting(
        1e4, cast=to_float, help="how far they are pushed down (larger than any score gap: excluded)"
    )
    top_k: int = setting(100, cast=to_int, help="learned edges kept per product and relation")
    device: str = setting("auto", cast=to_str, help="auto, cpu or cuda")
    # one thread: on a shared CPU, two threads of one process spend much of their time waiting for each other
    threads: int = setting(1, cast=to_int, help="torch threads")

    @staticmethod
    def from_toml(path: Path | None, preset: str | None = None, **overrides: Any) -> TrainConfig:
        """Defaults, then the TOML file's keys (top level or under ``[train]``), then the `preset`'s (one of
        :data:`PRESETS`), then `overrides` not None: a preset is a set of flags, and a flag typed beside it wins."""
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; known: {sorted(PRESETS)}")
        typed = {k: v for k, v in overrides.items() if v is not None}
        merged = {**PRESETS.get(preset or "", {}), **typed}
        return load(
            TrainConfig,
            path,
            prefix=None,
            section="train",
            overrides=merged,
            overrides_source="preset or flags",
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Keys that say how and where a run ran, or that training itself tunes on validation: two runs that differ only
# in them are the same experiment (kgrec evaluate --seeds reuses such a run; a checkpoint may resume under other
# values of them, and of epochs and patience too).
RUN_ONLY_KEYS: tuple[str, ...] = ("device", "threads", "bundle_exclude_similar")


# Named variants of the defaults, declared once: ``kgrec train --preset NAME`` and ``kgrec demo`` read them.
# quick: the demo's run. Eight epochs at a higher learning rate, half the negatives, validation on half the
# queries (enough to keep the best epoch and tune bundle_exclude_similar; without validation that stays 10, which
# cost warm complements 18 %). Measured on Beauty, 2 CPU cores, split seed 0: train_s 107 s against 220 s for the
# defaults; test NDCG@10 against the full run's, complements warm -3.5 %, cold +24 %, new -1.5 %; substitutes
# warm -0.4 %, cold -2.3 %, new -2.1 % (six epochs at lr 0.01 without validation: warm complements -20 %; four
# epochs of 48 steps: -11 % to -12 % in four cells).
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"epochs": 8, "lr": 0.007, "negatives": 16, "valid_queries": 100},
}
