"""Training: link prediction of complements and substitutes on episodes that replay the held-out protocol.

Why episodes. The model is tested on pairs that :func:`gnn.split.make_split` removed from every list, both ways,
for warm products (one partner gone), cold ones (all lists gone, reviews kept) and new ones (nothing but title
and category). So each epoch draws such a split *of the train graph* (fresh seed, no validation share): its train
graph is the epoch's message graph, its held-out pairs the epoch's supervision. A supervision pair is therefore
never a message of the step it supervises, in either direction or list (PyG's ``disjoint_train_ratio`` idea, cut
the way the test is cut), and the model sees cold and new queries in the state they will be tested in, which is
what lets it learn to rank from title and category alone (DropoutNet, Volkovs et al., NeurIPS 2017, trains for
cold start the same way).

Objective: for each positive (a, b), a softmax over b and ``negatives`` hard negatives (:class:`HardNegatives`),
known partners of a masked; for complements also a pairwise direction loss, softplus(s(b->a) - s(a->b)) on pairs
listed one way only, since the direction is part of what is learned.

Full-batch message passing when the graph fits (Beauty: every step embeds the whole graph); with ``batch_size``
mini-batches through PyG's :class:`~torch_geometric.loader.LinkLoader` and :class:`HeteroNeighborSampler`.
Early stopping watches the evaluation's own filtered NDCG@10 on ``split.valid`` (warm) and on cold and new
products carved out of the train graph for the purpose (warm validation alone stops long before cold and new
queries are learned); checkpoints after each epoch let ``--resume`` continue a run that was cut off.

tqdm and matplotlib are imported where used and optional: the GPU machine trains without them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import resource
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gnn.data import encoder_inputs
from gnn.features import FeaturePipeline
from gnn.model import LinkModel
from gnn.model_scorer import CONFIG_FILE, FEATURES_FILE, MODEL_FILE, GNNScorer, Prepared, build_model
from gnn.pair_features import PairFeatures
from gnn.registry import SERVING_FILE, Registry
from gnn.sampler import HardNegatives, HeteroNeighborSampler
from gnn.sparse import SparseRows
from gnn.split import Split, make_split
from graph.schema import LABEL_TYPE, RELATIONS
from graph.snapshot import Snapshot

log = logging.getLogger(__name__)

# the product -> product edge type a relation's supervision pairs are typed as in a LinkLoader batch
SUPERVISION_EDGE = {
    "complement": ("product", "also_bought", "product"),
    "substitute": ("product", "also_viewed", "product"),
}


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
    encoder_every: int = 3  # steps per encoder pass with gradients (see Trainer._fullbatches)
    negatives: int = 32
    negative_mix: list[float] = field(default_factory=lambda: [0.5, 0.125, 0.125, 0.25])  # see HardNegatives
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


@dataclass
class TrainResult:
    model: LinkModel
    pipeline: FeaturePipeline
    split: Split
    config: TrainConfig
    history: list[dict[str, float]]
    best_epoch: int
    valid: dict[str, dict[str, dict[str, float]]]
    timings: dict[str, float]
    brands: bool


def data_fingerprint(snap: Snapshot) -> str:
    """sha256 (16 hex digits) of the product ids and every relationship's arrays: what the run was trained on."""
    h = hashlib.sha256()
    for asin in snap.ids["Product"]:
        h.update(str(asin).encode() + b"\0")
    for type_ in sorted(snap.rels):
        csr = snap.rels[type_]
        h.update(type_.encode())
        h.update(np.ascontiguousarray(csr.indptr).tobytes())
        h.update(np.ascontiguousarray(csr.indices).tobytes())
    return h.hexdigest()[:16]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# one optimisation step: how to embed its graph, its (relation, examples) parts, global id -> row of z (None: same)
_Step = tuple[Callable[[], torch.Tensor], list[tuple[str, "_Examples"]], np.ndarray | None]


@dataclass
class _Examples:
    """One relation's supervision of a step: positives, their negatives and pair features (global ids)."""

    a: np.ndarray  # int64 [m]
    b: np.ndarray  # int64 [m]
    neg: np.ndarray  # int64 [m, k]
    valid: torch.Tensor  # bool [m, k]: False where the negative is a known partner of a (or a itself)
    f_pos: torch.Tensor  # [m, F]
    f_neg: torch.Tensor  # [m, k, F]
    f_rev: torch.Tensor | None  # [m, F] features of (b, a): complements
    one_way: torch.Tensor | None  # bool [m]: b -> a is not listed, so the direction is defined

    def take(self, idx: np.ndarray) -> _Examples:
        t = torch.from_numpy(idx).to(self.valid.device)
        return _Examples(
            self.a[idx],
            self.b[idx],
            self.neg[idx],
            self.valid[t],
            self.f_pos[t],
            self.f_neg[t],
            None if self.f_rev is None else self.f_rev[t],
            None if self.one_way is None else self.one_way[t],
        )


def _examples(
    relation: str,
    pairs: PairFeatures,
    known: SparseRows,
    a: np.ndarray,
    b: np.ndarray,
    neg: np.ndarray,
    device: torch.device,
) -> _Examples:
    k = neg.shape[1]
    rep = np.repeat(a, k)
    valid = (known.lookup(rep, neg.ravel()) == 0).reshape(-1, k) & (neg != a[:, None])
    f_neg = pairs.pairs(relation, rep, neg.ravel()).reshape(len(a), k, -1)
    f_rev = one_way = None
    if relation == "complement":
        f_rev = torch.from_numpy(pairs.pairs(relation, b, a)).to(device)
        one_way = torch.from_numpy(known.lookup(b, a) == 0).to(device)
    return _Examples(
        a,
        b,
        neg,
        torch.from_numpy(valid).to(device),
        torch.from_numpy(pairs.pairs(relation, a, b)).to(device),
        torch.from_numpy(f_neg).to(device),
        f_rev,
        one_way,
    )


def _loss(
    model: LinkModel,
    relation: str,
    z: torch.Tensor,
    ex: _Examples,
    local: np.ndarray | None,
    direction_weight: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(ranking loss, direction loss) of `ex`; `local` maps global product ids to rows of `z` (None: identity)."""
    device = z.device

    def rows(ids: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(ids if local is None else local[ids]).to(device)

    za, zb = z[rows(ex.a)], z[rows(ex.b)]
    s_pos = model(relation, za, zb, ex.f_pos)
    s_neg = model(relation, za[:, None, :], z[rows(ex.neg)], ex.f_neg)
    logits = torch.cat([s_pos[:, None], s_neg.masked_fill(~ex.valid, float("-inf"))], dim=1)
    rank = F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=device))
    direction = torch.zeros((), device=device)
    if ex.f_rev is not None and ex.one_way is not None and bool(ex.one_way.any()):
        s_rev = model(relation, zb, za, ex.f_rev)
        direction = F.softplus(s_rev - s_pos)[ex.one_way].mean() * direction_weight
    return rank, direction


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
        self.brands = split.train.n("Brand") > 0
        torch.manual_seed(config.seed)
        self.model = build_model(config.to_dict(), self.pipeline, self.brands).to(self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.rng = np.random.default_rng(config.seed)
        self.epoch = 0
        self.history: list[dict[str, float]] = []
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
            self.valid_pairs = {
                rel: {
                    "warm": _sample_queries(pick, split.valid[rel], config.valid_queries),
                    "cold": _sample_queries(pick, carved.heldout[rel]["cold"], config.valid_queries // 4),
                    "new": _sample_queries(pick, carved.heldout[rel]["new"], config.valid_queries // 4),
                }
                for rel in RELATIONS
            }

    # -- one epoch -------------------------------------------------------------------------------------------------

    def _episode(self) -> tuple[Snapshot, dict[str, tuple[np.ndarray, np.ndarray]], dict[str, SparseRows]]:
        """The epoch's message graph, supervision pairs per relation, and known partners (train + supervision)."""
        c = self.config
        inner = make_split(
            self.graph,
            seed=int(self.rng.integers(1 << 31)),
            warm_frac=c.episode_warm,
            cold_frac=c.episode_cold,
            new_frac=c.episode_new,
            valid_frac=0.0,
        )
        n = self.split.train.n("Product")
        supervision, known = {}, {}
        for rel in RELATIONS:
            pos = np.concatenate([inner.heldout[rel][p] for p in inner.heldout[rel]])
            train_src, train_dst = self.graph.rel(LABEL_TYPE[rel]).coo()
            known[rel] = SparseRows.from_coo(
                np.concatenate([train_src, pos[:, 0]]), np.concatenate([train_dst, pos[:, 1]]), n, n
            )
            if len(pos) > c.max_positives:
                pos = pos[self.rng.choice(len(pos), c.max_positives, replace=False)]
            supervision[rel] = (pos[:, 0], pos[:, 1])
        return inner.train, supervision, known

    def _negatives(self, message: Snapshot, pairs: PairFeatures) -> dict[str, HardNegatives]:
        both = SparseRows.from_coo(
            np.concatenate([pairs.bs.rows(), pairs.vs.rows()]),
            np.concatenate([pairs.bs.indices, pairs.vs.indices]),
            pairs.n,
            pairs.n,
        )
        n = message.n("Product")
        return {
            rel: HardNegatives(
                self.prepared.category,
                np.bincount(message.rel(LABEL_TYPE[rel]).indices, minlength=n),
                both,
                tuple(self.config.negative_mix),
            )
            for rel in RELATIONS
        }

    def train_epoch(self, max_steps: int | None = None) -> dict[str, float]:
        """One episode: its message graph and features (``setup_s``), then its optimisation steps (``steps_s``).

        `max_steps` stops early (benchmarks time a part of an epoch); ``epoch_steps`` is what a whole one takes.
        Losses are means per relation and step.
        """
        c = self.config
        self.model.train()
        t0 = time.perf_counter()
        message, supervision, known = self._episode()
        pairs = self.prepared.pair_features(message)
        negatives = self._negatives(message, pairs)
        if c.batch_size:
            batches = self._minibatches(message, supervision, negatives, pairs, known)
            epoch_steps = sum(-(-len(a) // c.batch_size) for a, _ in supervision.values())
        else:
            batches = self._fullbatches(message, supervision, negatives, pairs, known)
            epoch_steps = c.steps_per_epoch
        t1 = time.perf_counter()
        totals = {"loss": 0.0, "direction": 0.0}
        terms = steps = 0
        for z_of, parts, local in batches:
            z = z_of()
            loss = torch.zeros((), device=self.device)
            for rel, ex in parts:
                rank, direction = _loss(self.model, rel, z, ex, local, c.direction_weight)
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
        self, message: Snapshot, supervision: dict, negatives: dict, pairs: PairFeatures, known: dict
    ) -> Iterator[_Step]:
        """Steps over the whole message graph: the epoch's examples are built once, each step draws a batch.

        Only every ``encoder_every``-th step embeds the graph with gradients; the steps between reuse that
        embedding, detached, to train the decoders and structural terms (which need many more updates than the
        encoder, for a hundredth of its cost).
        """
        c = self.config
        inputs = encoder_inputs(self.prepared.graph(message).to(self.device), sparse=True)
        examples = {
            rel: _examples(
                rel, pairs, known[rel], a, b, negatives[rel].sample(self.rng, a, b, c.negatives), self.device
            )
            for rel, (a, b) in supervision.items()
            if len(a)
        }
        last: list[torch.Tensor] = []

        def fresh() -> torch.Tensor:
            z = self.model.encoder(**inputs)
            last[:] = [z.detach()]
            return z

        for step in range(c.steps_per_epoch):
            parts = [
                (rel, ex.take(self.rng.integers(0, len(ex.a), min(c.step_positives, len(ex.a)))))
                for rel, ex in examples.items()
            ]
            yield (fresh if step % c.encoder_every == 0 else lambda: last[0]), parts, None

    def _minibatches(
        self, message: Snapshot, supervision: dict, negatives: dict, pairs: PairFeatures, known: dict
    ) -> Iterator[_Step]:
        """Sampled subgraphs around each batch of positives and their negatives (PyG's LinkLoader). The samplers
        are built here, before the first step, so that an epoch's setup and its steps are timed apart."""
        from torch_geometric.loader import LinkLoader
        from torch_geometric.sampler import NegativeSampling

        data = self.prepared.graph(message)
        loaders = []
        for rel, (a, b) in supervision.items():
            if len(a) == 0:
                continue
            sampler = HeteroNeighborSampler(
                data, self.config.num_neighbors, negatives[rel], seed=int(self.rng.integers(1 << 31))
            )
            loader = LinkLoader(
                data,
                sampler,
                edge_label_index=(SUPERVISION_EDGE[rel], torch.from_numpy(np.stack([a, b]))),
                neg_sampling=NegativeSampling("triplet", amount=self.config.negatives),
                batch_size=self.config.batch_size,
                shuffle=True,
            )
            loaders.append((rel, loader))
        return self._steps_of(loaders, pairs, known, message.n("Product"))

    def _steps_of(self, loaders: list, pairs: PairFeatures, known: dict, n: int) -> Iterator[_Step]:
        for rel, loader in loaders:
            for batch in loader:
                p = batch["product"]
                n_id = p.n_id.numpy()
                local = np.full(n, -1, np.int64)
                local[n_id] = np.arange(len(n_id))
                a, b, neg = (n_id[t.numpy()] for t in (p.src_index, p.dst_pos_index, p.dst_neg_index))
                ex = _examples(rel, pairs, known[rel], a, b, neg, self.device)
                batch = batch.to(self.device)
                yield (lambda batch=batch: self.model.encoder(**encoder_inputs(batch))), [(rel, ex)], local

    # -- validation, checkpoints, the loop ---------------------------------------------------------------------------

    def scorer(self, snap: Snapshot | None = None) -> GNNScorer:
        """The current model as a scorer over `snap` (default: the split's train graph), which must have the
        split's node ids: product features are computed once, for those ids."""
        return GNNScorer(
            self.model, self.prepared.graph(snap), self.prepared.pair_features(snap), self.device
        )

    def validate(self) -> dict[str, dict[str, dict[str, float]]]:
        """Filtered ranking metrics of the validation pairs, relation -> population -> metric."""
        from gnn.evaluate import known_partners, rank_metrics

        scorer = self.scorer(self.graph)
        out: dict[str, dict[str, dict[str, float]]] = {}
        for rel, pops in self.valid_pairs.items():
            known = known_partners(self.split, rel)
            out[rel] = {
                pop: rank_metrics(scorer, rel, pairs, known) for pop, pairs in pops.items() if len(pairs)
            }
        return out

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
            k
            for k in mine
            if k not in ("epochs", "patience", "device", "threads") and saved.get(k) != mine[k]
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
                for rel, pops in valid.items():
                    for pop, metrics in pops.items():
                        row[f"valid_{rel}_{pop}_ndcg@10"] = metrics["ndcg@10"]
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
        valid = self.validate() if c.validate else {}
        epochs = [r["train_s"] for r in self.history]
        timings = {
            "train_s": time.perf_counter() - started,
            "epochs": len(self.history),
            "epoch_train_s_mean": float(np.mean(epochs)) if epochs else 0.0,
            "epoch_s_mean": float(np.mean([r["epoch_s"] for r in self.history])) if self.history else 0.0,
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


def save_checkpoint(path: Path, state: dict[str, Any], pipeline: FeaturePipeline) -> None:
    """Write atomically, so a run killed mid-write resumes from the previous epoch, not a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pipeline.save(path.with_suffix(".features.npz"))
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> tuple[dict[str, Any], FeaturePipeline]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state, FeaturePipeline.load(path.with_suffix(".features.npz"))


def _progress(it: range, enabled: bool, **kwargs: Any):
    if not enabled:
        return it
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return it
    return tqdm(it, desc="train", unit="epoch", **kwargs)


def plot_curves(history: list[dict[str, float]], path: Path) -> bool:
    """Loss and validation NDCG@10 per epoch as a PNG; False where matplotlib is absent (the GPU machine)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = [r["epoch"] for r in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(epochs, [r["loss"] for r in history], label="ranking loss")
    left.plot(epochs, [r["direction"] for r in history], label="direction loss")
    left.set_xlabel("epoch")
    left.legend()
    for key in sorted({k for r in history for k in r if k.startswith("valid_")}):
        label = "mean" if key == "valid_ndcg@10" else key[6:].removesuffix("_ndcg@10").replace("_", " ")
        right.plot(epochs, [r.get(key, np.nan) for r in history], marker="o", label=label)
    right.set_xlabel("epoch")
    right.set_ylabel("valid NDCG@10")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_run(
    registry: Registry,
    result: TrainResult,
    snap: Snapshot,
    version: str | None = None,
    progress: bool = False,
) -> str:
    """Write `result` as a versioned run: weights, config, feature pipeline, split, history, curves and the
    serving artifact (scored over `snap`, the whole graph the split was cut from); returns the version."""
    from gnn.infer import serving_artifact

    version = version or registry.new_version()
    t0 = time.perf_counter()
    prepared = Prepared.of(snap, result.pipeline)
    scorer = GNNScorer(
        result.model, prepared.graph(), prepared.pair_features(), next(result.model.parameters()).device
    )
    art = serving_artifact(scorer, snap, k=result.config.top_k, progress=progress)
    serving_s = time.perf_counter() - t0

    def files(d: Path) -> None:
        torch.save({"state": result.model.state_dict(), "brands": result.brands}, d / MODEL_FILE)
        (d / CONFIG_FILE).write_text(json.dumps(result.config.to_dict(), indent=2, sort_keys=True))
        result.pipeline.save(d / FEATURES_FILE)
        result.split.save(d / "split.npz")
        (d / "history.json").write_text(json.dumps(result.history, indent=1))
        plot_curves(result.history, d / "curves.png")
        art.save(d / SERVING_FILE)

    manifest = {
        "kind": "gnn",
        "config": result.config.to_dict(),
        "data_fingerprint": data_fingerprint(snap),
        "counts": snap.counts(),
        "split_seed": result.split.seed,  # what `kgrec evaluate` re-cuts the split with, and checks
        "split_fingerprint": result.split.fingerprint(),
        "metrics": {"valid": result.valid, "best_epoch": result.best_epoch},
        "timings": {**result.timings, "serving_s": serving_s, "peak_rss_gib": peak_rss_gib()},
        "device": str(next(result.model.parameters()).device),
    }
    registry.write_run(version, manifest, files)
    return version
