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
from typing import Any

import numpy as np
import torch
from torch_geometric.data import HeteroData

from gnn.data import encoder_inputs, to_hetero
from gnn.features import FeaturePipeline
from gnn.model import LinkModel, PairTerm
from gnn.pair_features import PAIR_FEATURES, PairFeatures
from gnn.registry import CONFIG_FILE, FEATURES_FILE, MODEL_FILE, ArtifactError, Registry
from gnn.signals import StepAside, model_steps_aside
from gnn.sparse import SparseRows
from gnn.text import titles_of, word_tfidf
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


@dataclass(frozen=True)
class Distinct:
    """What a complement list is not: the query's own substitutes and near-duplicates (see :mod:`gnn.labels`).

    Scoring complements, the scorer pushes down by `penalty` each candidate among the query's top
    `exclude_similar` substitutes by the same model, and each candidate whose word TF-IDF title cosine to the
    query's is above `near_duplicate` (:func:`gnn.text.word_tfidf`; 1 or more: off). A penalty larger than any
    score gap (the default) is an exclusion that keeps the order among the excluded.
    """

    exclude_similar: int = 10
    near_duplicate: float = 0.5
    penalty: float = 1e4

    @staticmethod
    def of(config: dict) -> Distinct:
        """The run config's ``bundle_*`` keys (a run from before them: the defaults)."""
        d = Distinct()
        return Distinct(
            int(config.get("bundle_exclude_similar", d.exclude_similar)),
            float(config.get("bundle_near_duplicate", d.near_duplicate)),
            float(config.get("bundle_penalty", d.penalty)),
        )


PARTS = ("decoder", "pair")


class GNNScorer:
    """Scores of a :class:`~gnn.model.LinkModel` over one graph; see the module docstring.

    Args:
        model: the trained model (put in eval mode here).
        data: the message-passing graph (:meth:`Prepared.graph`).
        pairs: pair features over the same graph (:meth:`Prepared.pair_features`).
        device: where the model runs.
        cells: pair-feature cells of one query block (``queries * n_products * features``), which bounds the
            scorer's memory (about 12 bytes per cell, with the structural term's hidden units).
        distinct: what complement scores push down (:class:`Distinct`); None: raw decoder scores.
        titles: the products' titles, for `distinct`'s near-duplicates (None: none).
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
        distinct: Distinct | None = None,
        titles: np.ndarray | None = None,
        name: str = "gnn",
        stepped_aside: Sequence[StepAside] = (),
        words: tuple[SparseRows, SparseRows] | None = None,
    ) -> None:
        self.model = model.eval()
        self.pairs = pairs
        self.device = torch.device(device)
        self.cells = cells
        self.distinct = distinct
        self.name = name
        near_duplicates = distinct is not None and distinct.near_duplicate < 1.0
        self.words = (words if words is not None else title_words(titles)) if near_duplicates else None
        self.stepped_aside = list(stepped_aside)
        self.part: str | None = None  # see only()
        self.graph = data.to(self.device)
        with torch.no_grad():
            self.z = model.encoder(**encoder_inputs(self.graph, sparse=True))

    def without_distinct(self, name: str = "gnn (no exclusion)") -> GNNScorer:
        """The same model and embeddings with raw complement scores (the ablation of :class:`Distinct`)."""
        other = object.__new__(GNNScorer)
        other.__dict__.update(self.__dict__)
        other.distinct, other.words, other.name = None, None, name
        return other

    def scores(self, relation: str, queries: np.ndarray, substitute: np.ndarray | None = None) -> np.ndarray:
        """Scores of `queries` against every product; `substitute`: the raw substitute scores of the same
        queries when the caller has them (serving scores both relations), so complements do not score them again.
        """
        if relation == "substitute" and substitute is not None:
            return substitute
        s = self.raw_scores(relation, queries)
        d = self.distinct
        if relation != "complement" or d is None:
            return s
        if d.exclude_similar > 0 and substitute is None:
            substitute = self.raw_scores("substitute", queries)
        return push_down(s, queries, d, substitute, self.words)

    def only(self, part: str, name: str) -> GNNScorer:
        """The same trained model scoring with one of its two parts (the ablation): ``"decoder"``, the decoders
        on the GraphSAGE embeddings, or ``"pair"``, the structural term on the pair features; the push-down
        as the model's, from that part's own substitute scores."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, not {part!r}")
        other = object.__new__(GNNScorer)
        other.__dict__.update(self.__dict__)
        other.part, other.name = part, name
        return other

    def raw_scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        """The model's scores, with no :class:`Distinct` push-down."""
        queries = np.asarray(queries, np.int64)
        if self.part == "decoder":
            with torch.no_grad():
                z_q = self.z[torch.from_numpy(queries).to(self.device)]
                return self.model.decoders[relation](z_q, self.z, pairs=False).float().cpu().numpy()
        out = np.empty((len(queries), self.pairs.n), np.float32)
        count = pair_feature_count(self.model, relation)
        chunk = max(1, self.cells // (self.pairs.n * count))
        buffer = None
        with torch.no_grad():
            for lo in range(0, len(queries), chunk):
                q = queries[lo : lo + chunk]
                buffer = self.pairs.all_targets(relation, q, count, feature_major=True, out=buffer)
                f = torch.from_numpy(buffer).to(self.device)
                z_q = self.z[torch.from_numpy(q).to(self.device)]
                if self.part == "pair":
                    term = self.model.pair_terms[relation]
                    assert isinstance(term, PairTerm)
                    s = term.feature_major(f)
                else:
                    s = self.model(relation, z_q, self.z, f, pairs=False, feature_major=True)
                out[lo : lo + len(q)] = s.float().cpu().numpy()
        return out


def push_down(
    s: np.ndarray,
    queries: np.ndarray,
    distinct: Distinct,
    substitute: np.ndarray | None,
    words: tuple[SparseRows, SparseRows] | None,
) -> np.ndarray:
    """Complement scores `s` of `queries` (changed in place and returned) with what :class:`Distinct` pushes
    down: each query's top ``exclude_similar`` products by `substitute` (the same method's substitute scores of
    the same queries; not changed) and, with `words` (:func:`title_words`), its near-duplicate titles."""
    q = np.asarray(queries, np.int64)
    rows = np.arange(len(q))
    if distinct.exclude_similar > 0 and substitute is not None:
        sub = substitute.copy()
        sub[rows, q] = -np.inf
        t = min(distinct.exclude_similar, sub.shape[1] - 1)
        if t > 0:
            top = np.argpartition(-sub, t - 1, axis=1)[:, :t]
            s[rows[:, None], top] -= distinct.penalty
    if words is not None and distinct.near_duplicate < 1.0:
        w, w_t = words
        s[w.row_paths(w_t, q) > distinct.near_duplicate] -= distinct.penalty
    return s


class DistinctScorer:
    """Another method's scores with the GNN's complement push-down (:func:`push_down`) from that method's own
    substitute scores: a learned rival ranks bundles under the same rule as the model it is compared with."""

    def __init__(self, base: Any, distinct: Distinct, words: tuple[SparseRows, SparseRows] | None) -> None:
        self.base, self.distinct, self.words, self.name = base, distinct, words, base.name
        if hasattr(base, "pair_scores"):
            self.pair_scores = base.pair_scores

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        s = self.base.scores(relation, queries)
        if relation != "complement":
            return s
        sub = self.base.scores("substitute", queries) if self.distinct.exclude_similar > 0 else None
        return push_down(s, queries, self.distinct, sub, self.words)


def title_words(titles: np.ndarray | None) -> tuple[SparseRows, SparseRows] | None:
    """Word TF-IDF rows of `titles` and their transpose, what :class:`Distinct` finds near-duplicates with; None
    when no title has a word. ``GNNScorer(words=...)`` takes them precomputed (validation scores often)."""
    if titles is None:
        return None
    words = word_tfidf(titles)
    return (words, words.transpose()) if len(words.indices) else None


def pair_feature_count(model: LinkModel, relation: str) -> int:
    """How many of :data:`~gnn.pair_features.PAIR_FEATURES` the model's structural term of `relation` reads: all
    of them for a model of this code, the first ones for a run saved before later rows were appended."""
    term = model.pair_terms[relation]
    assert isinstance(term, PairTerm)
    return term.lin1.in_features


def build_model(
    config: dict, pipeline: FeaturePipeline, brands: bool, features: dict[str, int] | None = None
) -> LinkModel:
    """A fresh model of `config` (a :class:`gnn.config.TrainConfig` as a dict) over the pipeline's features;
    `features` the pair feature count per relation (default: every row of the table)."""
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
    counts = {relation: len(rows) for relation, rows in PAIR_FEATURES.items()} | (features or {})
    return LinkModel(
        encoder,
        counts["complement"],
        counts["substitute"],
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
        state = saved["state"]
        features = {
            relation: int(state[f"pair_terms.{relation}.lin1.weight"].shape[1]) for relation in PAIR_FEATURES
        }
        model = build_model(config, pipeline, brands=bool(saved["brands"]), features=features)
        model.load_state_dict(state)
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        raise ArtifactError(f"run {version!r}: cannot load the model: {type(e).__name__}: {e}") from e
    return version, model, pipeline, config


def load_scorer(registry: Registry, version: str | None, snap: Snapshot) -> GNNScorer:
    """The scorer of run `version` (None: the promoted one) over the graph `snap` (e.g. a split's train), with
    the run's :class:`Distinct` settings."""
    _, model, pipeline, config = load_model(registry, version)
    prepared = Prepared.of(snap, pipeline)
    return GNNScorer(
        model,
        prepared.graph(),
        prepared.pair_features(),
        distinct=Distinct.of(config),
        titles=titles_of(snap),
        stepped_aside=model_steps_aside(pipeline, snap),
    )
