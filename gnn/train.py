"""Training: the loop that fits a :class:`~gnn.model.LinkModel` on episodes that replay the held-out protocol.

Each epoch draws an episode (:func:`gnn.objective.episode`: a split of the train graph, cut the way the test is
cut), builds its message graph and pair features, and takes optimisation steps on the objective of
:mod:`gnn.objective`. Full-batch message passing when the graph fits (Beauty: every step embeds the whole graph);
with ``batch_size`` mini-batches through PyG's :class:`~torch_geometric.loader.LinkLoader` and
:class:`~gnn.sampler.HeteroNeighborSampler`. Early stopping watches the evaluation's own filtered NDCG@10 on
``split.valid`` (warm) and on cold and new products carved out of the train graph for the purpose (warm validation
alone stops long before cold and new queries are learned); checkpoints after each epoch
(:func:`gnn.registry.save_checkpoint`) let ``--resume`` continue a run that was cut off.

tqdm is imported where used and optional: the GPU machine trains without it.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gnn.config import RUN_ONLY_KEYS, TrainConfig
from gnn.data import EDGE_TYPES, encoder_inputs
from gnn.features import FeaturePipeline
from gnn.labels import pure_pairs, viewed_keys
from gnn.model_scorer import Distinct, GNNScorer, Prepared, build_model, title_words
from gnn.objective import Episode, Examples, episode, hard_negatives, losses, substitutes_of
from gnn.pair_features import PairFeatures
from gnn.registry import TrainResult, data_fingerprint, save_checkpoint
from gnn.sampler import HardNegatives, HeteroNeighborSampler
from gnn.signals import model_steps_aside
from gnn.sparse import SparseRows
from gnn.split import Split, make_split
from gnn.text import titles_of
from graph.schema import LABEL_TYPE, RELATIONS
from graph.snapshot import Snapshot

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto``: the GPU where there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# one optimisation step: how to embed its graph, its (relation, examples) parts, global id -> row of z (None: same)
_Step = tuple[Callable[[], torch.Tensor], list[tuple[str, Examples]], np.ndarray | None]


class Trainer:
    """Fits a :class:`LinkModel` on the train graph of a :class:`Split` (see the module docstring)."""

    def __init__(self, split: Split, config: TrainConfig, pipeline: FeaturePipeline | None = None) -> None:
        self.split = split
        self.config = config
        self.device = resolve_device(config.device)
        self.pipeline = pipeline or FeaturePipeline.fit(
            split.train, text_dim=config.text_dim, seed=config.seed
        )
        self.prepared = Prepared.of(split.train, self.pipeline)
        self._parts: tuple[Snapshot, Any, Any] | None = None  # see scorer()
        self._words: tuple[Any] | None = None
        for note in model_steps_aside(
            self.pipeline, split.train
        ):  # a catalog without titles, categories, ...
            log.info("stepped_aside what=%r why=%r", note.what, note.why)
        self.brands = split.train.n("Brand") > 0
        torch.manual_seed(config.seed)
        self.model = build_model(config.to_dict(), self.pipeline, self.brands).to(self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.rng = np.random.default_rng(config.seed)
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.distinct_tuning: dict[int, float] = {}  # validation NDCG per bundle_exclude_similar tried
        self.best: tuple[float, int, dict[str, torch.Tensor]] = (float("-inf"), -1, {})
        self.bad_epochs = 0
        # Validation: split.valid (warm), and cold and new products carved out of the train graph here, so that
        # early stopping watches every population; training draws its episodes from what is left.
        self.graph = split.train
        self.valid_pairs: dict[str, dict[str, np.ndarray]] = {}
        if config.validate:
            carved = make_split(
                split.train,
                seed=config.seed + 1,
                warm_frac=0.0,
                cold_frac=config.valid_cold,
                new_frac=config.valid_new,
                valid_frac=0.0,
            )
            self.graph = carved.train
            pick = np.random.default_rng(config.seed)
            viewed = viewed_keys(split.full)

            def labelled(relation: str, pairs: np.ndarray) -> np.ndarray:
                return pure_pairs(split.full, pairs, viewed) if relation == "complement" else pairs

            self.valid_pairs = {
                relation: {
                    "warm": _sample_queries(
                        pick, labelled(relation, split.valid[relation]), config.valid_queries
                    ),
                    "cold": _sample_queries(
                        pick, labelled(relation, carved.heldout[relation]["cold"]), config.valid_queries // 4
                    ),
                    "new": _sample_queries(
                        pick, labelled(relation, carved.heldout[relation]["new"]), config.valid_queries // 4
                    ),
                }
                for relation in RELATIONS
            }

        # a complement's substitutes (co-viewed either way, supervision pairs included): its hardest negatives
        self.substitutes = substitutes_of(self.graph)

    # -- one epoch -------------------------------------------------------------------------------------------------

    def train_epoch(self, max_steps: int | None = None) -> dict[str, float]:
        """One episode: its message graph and features (``setup_s``), then its optimisation steps (``steps_s``).

        `max_steps` stops early (benchmarks time a part of an epoch); ``epoch_steps`` is what a whole one takes.
        Losses are means per relation and step.
        """
        c = self.config
        self.model.train()
        t0 = time.perf_counter()
        ep = episode(self.graph, self.rng, c.episode_warm, c.episode_cold, c.episode_new, c.max_positives)
        pairs = self.prepared.pair_features(ep.message)
        negatives = hard_negatives(
            ep.message,
            pairs,
            self.prepared.category,
            c.negative_mix,
            self.substitutes,
            c.substitute_negatives,
        )
        if c.batch_size:
            batches = self._minibatches(ep, negatives, pairs)
            epoch_steps = sum(-(-len(a) // c.batch_size) for a, _ in ep.supervision.values())
        else:
            batches = self._fullbatches(ep, negatives, pairs)
            epoch_steps = c.steps_per_epoch
        if (
            self.device.type == "cuda"
        ):  # the copies to the device are setup: wait for them before the steps' clock
            torch.cuda.synchronize(self.device)
        t1 = time.perf_counter()
        totals = {"loss": 0.0, "direction": 0.0}
        terms = steps = 0
        for z_of, parts, local in batches:
            z = z_of()
            loss = torch.zeros((), device=self.device)
            for relation, ex in parts:
                rank, direction = losses(self.model, relation, z, ex, local, c.direction_weight)
                loss = loss + rank + direction
                totals["loss"] += float(rank.detach())
                totals["direction"] += float(direction.detach())
                terms += 1
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return {
            **{k: v / max(terms, 1) for k, v in totals.items()},
            "steps": steps,
            "epoch_steps": epoch_steps,
            "setup_s": t1 - t0,
            "steps_s": time.perf_counter() - t1,
        }

    def _fullbatches(
        self, ep: Episode, negatives: dict[str, HardNegatives], pairs: PairFeatures
    ) -> Iterator[_Step]:
        """Steps over the whole message graph: the epoch's examples are built once, each step draws a batch.

        Only every ``encoder_every``-th step embeds the graph with gradients; the steps between reuse that
        embedding, detached, to train the decoders and structural terms (which need many more updates than the
        encoder, for a hundredth of its cost). The graph and the examples are put on the device here, before the
        first step (this is not a generator), so that they are booked as the epoch's setup, not as its first step.
        """
        c = self.config
        inputs = encoder_inputs(self.prepared.graph(ep.message).to(self.device), sparse=True)
        examples = {
            relation: Examples.of(
                relation,
                pairs,
                ep.known[relation],
                a,
                b,
                negatives[relation].sample(self.rng, a, b, c.negatives),
                self.device,
            )
            for relation, (a, b) in ep.supervision.items()
            if len(a)
        }
        last: list[torch.Tensor] = []

        def fresh() -> torch.Tensor:
            z = self.model.encoder(**inputs)
            last[:] = [z.detach()]
            return z

        def steps() -> Iterator[_Step]:
            for step in range(c.steps_per_epoch):
                parts = [
                    (relation, ex.take(self.rng.integers(0, len(ex.a), min(c.step_positives, len(ex.a)))))
                    for relation, ex in examples.items()
                ]
                yield (fresh if step % c.encoder_every == 0 else lambda: last[0]), parts, None

        return steps()

    def _minibatches(
        self, ep: Episode, negatives: dict[str, HardNegatives], pairs: PairFeatures
    ) -> Iterator[_Step]:
        """Sampled subgraphs around each batch of positives and their negatives (PyG's LinkLoader). The samplers
        are built here, before the first step, so that an epoch's setup and its steps are timed apart."""
        from torch_geometric.loader import LinkLoader
        from torch_geometric.sampler import NegativeSampling

        data = self.prepared.graph(ep.message)
        loaders = []
        for relation, (a, b) in ep.supervision.items():
            if len(a) == 0:
                continue
            sampler = HeteroNeighborSampler(
                data, self.config.num_neighbors, negatives[relation], seed=int(self.rng.integers(1 << 31))
            )
            loader = LinkLoader(
                data,
                sampler,
                edge_label_index=(EDGE_TYPES[LABEL_TYPE[relation]], torch.from_numpy(np.stack([a, b]))),
                neg_sampling=NegativeSampling("triplet", amount=self.config.negatives),
                batch_size=self.config.batch_size,
                shuffle=True,
            )
            loaders.append((relation, loader))
        return self._steps_of(loaders, pairs, ep.known, ep.message.n("Product"))

    def _steps_of(
        self, loaders: list, pairs: PairFeatures, known: dict[str, SparseRows], n: int
    ) -> Iterator[_Step]:
        for relation, loader in loaders:
            for batch in loader:
                p = batch["product"]
                n_id = p.n_id.numpy()
                local = np.full(n, -1, np.int64)
                local[n_id] = np.arange(len(n_id))
                a, b, neg = (n_id[t.numpy()] for t in (p.src_index, p.dst_pos_index, p.dst_neg_index))
                ex = Examples.of(relation, pairs, known[relation], a, b, neg, self.device)
                on_device = batch.to(self.device)

                def embed(batch: Any = on_device) -> torch.Tensor:
                    return self.model.encoder(**encoder_inputs(batch))

                yield embed, [(relation, ex)], local

    # -- validation, checkpoints, the loop ---------------------------------------------------------------------------

    def scorer(self, snap: Snapshot | None = None) -> GNNScorer:
        """The current model as a scorer over `snap` (default: the split's train graph), which must have the
        split's node ids: product features are computed once, for those ids. What depends on the graph alone (its
        message graph, pair features and title words) is kept for the last graph asked for: validation asks for
        the same one after every epoch."""
        snap = snap if snap is not None else self.split.train
        if self._parts is None or self._parts[0] is not snap:
            self._parts = (snap, self.prepared.graph(snap), self.prepared.pair_features(snap))
        if self._words is None:
            self._words = (title_words(titles_of(self.split.train)),)
        _, graph, pairs = self._parts
        return GNNScorer(
            self.model,
            graph,
            pairs,
            self.device,
            distinct=Distinct.of(self.config.to_dict()),
            words=self._words[0],
        )

    def validate(
        self, relations: tuple[str, ...] = RELATIONS, direction: bool = False
    ) -> dict[str, dict[str, dict[str, float]]]:
        """Filtered ranking metrics of the validation pairs, relation -> population -> metric; with `direction`,
        also the test's complement direction accuracy (``direction``, on the pairs listed one way only) beside
        the in-degree heuristic's on the same pairs and validation graph (``direction_in_degree``)."""
        from gnn.evaluate import (
            direction_accuracy,
            in_degree_share,
            known_partners,
            one_way_pairs,
            rank_metrics,
        )

        scorer = self.scorer(self.graph)
        out: dict[str, dict[str, dict[str, float]]] = {}
        every = known_partners(self.split, "complement")
        n = self.graph.n("Product")
        for relation, pops in self.valid_pairs.items():
            if relation not in relations:
                continue
            known = known_partners(self.split, relation, pure=True)
            out[relation] = {
                pop: rank_metrics(scorer, relation, pairs, known) for pop, pairs in pops.items() if len(pairs)
            }
            if not direction or relation != "complement":
                continue
            for pop, row in out[relation].items():
                one_way = one_way_pairs(every, pops[pop])
                row["direction"] = direction_accuracy(scorer, one_way, n)
                row["direction_in_degree"] = in_degree_share(self.graph, one_way)
                row["n_direction"] = len(one_way)
        return out

    def tune_distinct(self, candidates: tuple[int, ...] = (10, 3, 0), tolerance: float = 0.02) -> int:
        """Choose how many of a query's own top substitutes its complements push down (``bundle_exclude_similar``)
        on the validation pairs: the most of `candidates` whose mean complement NDCG@10 over warm, cold and new
        validation queries is within `tolerance` of the best. A catalog whose substitute lists are rich (Beauty)
        keeps its bundles clear of them; one whose substitutes are few and noisy (Cell Phones: 12,930 also_view
        pairs) would lose true complements to a poor similar list, and keeps fewer out. Sets the config (stored
        with the run); returns the choice."""
        scores = {}
        for n in candidates:
            self.config.bundle_exclude_similar = n
            valid = self.validate(("complement",))["complement"]
            scores[n] = float(np.mean([m["ndcg@10"] for m in valid.values()]))
        best = max(scores.values())
        chosen = max(n for n, v in scores.items() if v >= (1.0 - tolerance) * best)
        self.config.bundle_exclude_similar = chosen
        log.info(
            "bundle_exclude_similar=%d %s",
            chosen,
            " ".join(f"valid_complement_ndcg@10[{n}]={v:.4f}" for n, v in scores.items()),
        )
        self.distinct_tuning = scores
        return chosen

    def state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "best_score": self.best[0],
            "best_epoch": self.best[1],
            "best_state": self.best[2],
            "bad_epochs": self.bad_epochs,
            "history": json.dumps(self.history),
            "rng": json.dumps(self.rng.bit_generator.state),
            "config": json.dumps(self.config.to_dict(), sort_keys=True),
            "fingerprint": data_fingerprint(self.split.full),
            "split": self.split.fingerprint(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if (
            state["fingerprint"] != data_fingerprint(self.split.full)
            or state["split"] != self.split.fingerprint()
        ):
            raise ValueError("the checkpoint was made on other data or another split; cannot resume")
        saved = json.loads(state["config"])
        mine = self.config.to_dict()
        differs = sorted(
            k for k in mine if k not in (*RUN_ONLY_KEYS, "epochs", "patience") and saved.get(k) != mine[k]
        )
        if differs:
            raise ValueError(
                f"the checkpoint was made with another config ({', '.join(differs)}); cannot resume"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.best = (float(state["best_score"]), int(state["best_epoch"]), state["best_state"])
        self.bad_epochs = int(state["bad_epochs"])
        self.history = json.loads(state["history"])
        self.rng.bit_generator.state = json.loads(state["rng"])

    def fit(self, checkpoint: Path | None = None, progress: bool = True) -> TrainResult:
        """Train until `epochs` or early stopping; after each epoch, write `checkpoint` (and pipeline) if given."""
        c = self.config
        bar = _progress(range(self.epoch, c.epochs), progress, initial=self.epoch, total=c.epochs)
        started = time.perf_counter()
        for _ in bar:
            t0 = time.perf_counter()
            row: dict[str, float] = {"epoch": self.epoch + 1, **self.train_epoch()}
            row["train_s"] = time.perf_counter() - t0
            score = -row["loss"]
            if c.validate:
                valid = self.validate()
                for relation, pops in valid.items():
                    for pop, metrics in pops.items():
                        row[f"valid_{relation}_{pop}_ndcg@10"] = metrics["ndcg@10"]
                score = float(np.mean([m["ndcg@10"] for pops in valid.values() for m in pops.values()]))
                row["valid_ndcg@10"] = score
            row["epoch_s"] = time.perf_counter() - t0
            self.history.append(row)
            self.epoch += 1
            if score > self.best[0]:
                state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                self.best = (score, self.epoch, state)
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{row['loss']:.3f}", valid=f"{score:.3f}", best=self.best[1])
            log.info("epoch=%d %s", self.epoch, " ".join(f"{k}={v:.4g}" for k, v in row.items()))
            if checkpoint is not None:
                save_checkpoint(checkpoint, self.state(), self.pipeline)
            if self.bad_epochs >= c.patience:
                log.info("early stop at epoch %d (best %d)", self.epoch, self.best[1])
                break
        if self.best[2]:
            self.model.load_state_dict(self.best[2])
        if c.validate and c.bundle_tune:
            self.tune_distinct()
        valid = self.validate(direction=True) if c.validate else {}

        def mean(key: str) -> float:
            return float(np.mean([r[key] for r in self.history])) if self.history else 0.0

        timings = {
            "train_s": time.perf_counter() - started,
            "epochs": len(self.history),
            # an epoch's train_s is its setup (episode, message graph and examples on the device) plus its steps
            "epoch_train_s_mean": mean("train_s"),
            "epoch_setup_s_mean": mean("setup_s"),
            "epoch_steps_s_mean": mean("steps_s"),
            "epoch_s_mean": mean("epoch_s"),
            "peak_rss_gib": peak_rss_gib(),
        }
        if self.device.type == "cuda":
            timings["peak_cuda_gib"] = torch.cuda.max_memory_allocated(self.device) / 2**30
        return TrainResult(
            self.model, self.pipeline, self.split, c, self.history, self.best[1], valid, timings, self.brands
        )


def _sample_queries(rng: np.random.Generator, pairs: np.ndarray, queries: int) -> np.ndarray:
    """All pairs of at most `queries` distinct query products (a fixed sample: early stopping needs a trend)."""
    chosen = np.unique(pairs[:, 0])
    if len(chosen) > queries:
        chosen = rng.choice(chosen, queries, replace=False)
    return pairs[np.isin(pairs[:, 0], chosen)]


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _progress(it: range, enabled: bool, **kwargs: Any):
    if not enabled:
        return it
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return it
    return tqdm(it, desc="train", unit="epoch", **kwargs)
