"""The trained model as a :class:`~gnn.scoring.Scorer`, so evaluation ranks it with the same code as the baselines.

The scorer embeds every product once over the graph it is given (a split's train graph for evaluation, the
store's whole graph for serving), then scores a block of queries against the whole catalog exactly: the decoder
of the relation on the embeddings plus the structural term on the pair features of that block. Any snapshot of
the same schema will do: a product the model never saw is embedded from its title and category.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import HeteroData

from gnn.data import encoder_inputs, to_hetero
from gnn.features import FeaturePipeline
from gnn.model import LinkModel
from gnn.pair_features import PAIR_FEATURES, PairFeatures
from gnn.registry import CONFIG_FILE, FEATURES_FILE, MODEL_FILE, ArtifactError, Registry
from gnn.signals import StepAside, model_steps_aside
from gnn.sparse import SparseRows
from gnn.text import titles_of
from graph.snapshot import Snapshot


@dataclass
class Prepared:
    """One snapshot's model inputs: what both training and scoring derive from a graph and a pipeline."""

    snap: Snapshot
    tfidf: SparseRows
    text: np.ndarray  # float32 [n_products, text_dim]
    category: np.ndarray  # int64 [n_products]
    category_nodes: np.ndarray  # int64 [n_categories]

    @staticmethod
    def of(snap: Snapshot, pipeline: FeaturePipeline) -> Prepared:
        tfidf = pipeline.tfidf(titles_of(snap))
        return Prepared(
            snap, tfidf, pipeline.text(tfidf), pipeline.category_index(snap), pipeline.category_nodes(snap)
        )

    def graph(self, snap: Snapshot | None = None) -> HeteroData:
        """The message-passing graph of `snap` (default: this one), which must share this one's node ids."""
        return to_hetero(snap or self.snap, self.text, self.category, self.category_nodes)

    def pair_features(self, snap: Snapshot | None = None) -> PairFeatures:
        return PairFeatures(snap or self.snap, self.tfidf, self.category)


class GNNScorer:
    """Scores of a :class:`~gnn.model.LinkModel` over one graph; see the module docstring.

    Args:
        model: the trained model (put in eval mode here).
        data: the message-passing graph (:meth:`Prepared.graph`).
        pairs: pair features over the same graph (:meth:`Prepared.pair_features`).
        device: where the model runs.
        cells: pair-feature cells of one query block (``queries * n_products * features``), which bounds the
            scorer's memory (about 12 bytes per cell, with the structural term's hidden units).
        stepped_aside: the model's features that are constant on this catalog (:func:`gnn.signals.model_steps_aside`),
            which a report prints beside the scores.

    What the scorer read stays inspectable, so a test (or an audit) can check that no held-out pair reached it:
    ``graph`` is the message graph the embeddings ``z`` were passed over, ``pairs`` the pair features' arrays.
    """

    name = "gnn"

    def __init__(
        self,
        model: LinkModel,
        data: HeteroData,
        pairs: PairFeatures,
        device: torch.device | str = "cpu",
        cells: int = 1 << 24,
        stepped_aside: Sequence[StepAside] = (),
    ) -> None:
        self.model = model.eval()
        self.pairs = pairs
        self.device = torch.device(device)
        self.cells = cells
        self.stepped_aside = list(stepped_aside)
        self.graph = data.to(self.device)
        with torch.no_grad():
            self.z = model.encoder(**encoder_inputs(self.graph, sparse=True))

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        queries = np.asarray(queries, np.int64)
        out = np.empty((len(queries), self.pairs.n), np.float32)
        chunk = max(1, self.cells // (self.pairs.n * len(PAIR_FEATURES[relation])))
        with torch.no_grad():
            for lo in range(0, len(queries), chunk):
                q = queries[lo : lo + chunk]
                f = torch.from_numpy(self.pairs.all_targets(relation, q)).to(self.device)
                s = self.model(relation, self.z[torch.from_numpy(q).to(self.device)], self.z, f, pairs=False)
                out[lo : lo + len(q)] = s.float().cpu().numpy()
        return out


def build_model(config: dict, pipeline: FeaturePipeline, brands: bool) -> LinkModel:
    """A fresh model of `config` (a :class:`gnn.config.TrainConfig` as a dict) over the pipeline's features."""
    from gnn.data import POPULARITY, metadata
    from gnn.model import HeteroSAGE

    _, edge_types = metadata(brands)
    encoder = HeteroSAGE(
        edge_types,
        text_dim=pipeline.text_dim,
        pop_dim=len(POPULARITY),
        n_categories=len(pipeline.categories),
        hidden=config["hidden"],
        layers=config["layers"],
        dropout=config["dropout"],
    )
    return LinkModel(
        encoder,
        len(PAIR_FEATURES["complement"]),
        len(PAIR_FEATURES["substitute"]),
        out=config["out_dim"],
        pair_hidden=config["pair_hidden"],
    )


def load_model(registry: Registry, version: str | None) -> tuple[str, LinkModel, FeaturePipeline, dict]:
    """(version, model, pipeline, config) of a run, checksums verified; `version` None means the promoted one."""
    version = version or registry.promoted()
    if version is None:
        raise ArtifactError(f"no version given and none promoted in {registry.root}")
    registry.verify(version)
    run = registry.runs / version
    try:
        config = json.loads((run / CONFIG_FILE).read_text())
        pipeline = FeaturePipeline.load(run / FEATURES_FILE)
        saved = torch.load(run / MODEL_FILE, map_location="cpu", weights_only=True)
        model = build_model(config, pipeline, brands=bool(saved["brands"]))
        model.load_state_dict(saved["state"])
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        raise ArtifactError(f"run {version!r}: cannot load the model: {type(e).__name__}: {e}") from e
    return version, model, pipeline, config


def load_scorer(registry: Registry, version: str | None, snap: Snapshot) -> GNNScorer:
    """The scorer of run `version` (None: the promoted one) over the graph `snap` (e.g. a split's train)."""
    _, model, pipeline, _ = load_model(registry, version)
    prepared = Prepared.of(snap, pipeline)
    return GNNScorer(
        model, prepared.graph(), prepared.pair_features(), stepped_aside=model_steps_aside(pipeline, snap)
    )
