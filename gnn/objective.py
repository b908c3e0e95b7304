"""The training objective: what supervises a step, and the losses it is scored by.

Episodes. The model is tested on pairs that :func:`gnn.split.make_split` removed from every list, both ways,
for warm products (one partner gone), cold ones (all lists gone, reviews kept) and new ones (nothing but title
and category). So each epoch draws such a split *of the train graph* (:func:`episode`; fresh seed, no validation
share): its train graph is the epoch's message graph, its held-out pairs the epoch's supervision. A supervision
pair is therefore never a message of the step it supervises, in either direction or list (PyG's
``disjoint_train_ratio`` idea, cut the way the test is cut), and the model sees cold and new queries in the state
they will be tested in, which is what lets it learn to rank from title and category alone (DropoutNet, Volkovs
et al., NeurIPS 2017, trains for cold start the same way).

Losses (:func:`losses`): for each positive (a, b), a softmax over b and ``negatives`` hard negatives
(:func:`hard_negatives`), known partners of a masked; for complements also a pairwise direction loss,
softplus(s(b->a) - s(a->b)) on pairs listed one way only, since the direction is part of what is learned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from gnn.labels import pure_mask, pure_pairs, viewed_keys
from gnn.model import LinkModel
from gnn.pair_features import PairFeatures
from gnn.sampler import HardNegatives
from gnn.sparse import SparseRows
from gnn.split import make_split
from graph.schema import LABEL_TYPE, RELATIONS
from graph.snapshot import Snapshot


@dataclass
class Episode:
    """One epoch's supervision: the graph its messages pass over, and what they must predict."""

    message: Snapshot  # the train graph with the supervision pairs removed, both ways, from every list
    supervision: dict[str, tuple[np.ndarray, np.ndarray]]  # relation -> (a, b) positives, int64 [m] each
    known: dict[str, SparseRows]  # relation -> partners known in train or supervision (masked as negatives)


def episode(
    graph: Snapshot,
    rng: np.random.Generator,
    warm: float,
    cold: float,
    new: float,
    max_positives: int,
) -> Episode:
    """Hold out the pairs of `warm`, `cold` and `new` shares of the products of `graph`, as the test split does,
    keeping at most `max_positives` of each relation's (a seeded sample).

    Labels follow :mod:`gnn.labels`: complement positives and known partners are the pure also_bought pairs, so
    a co-viewed co-purchase of a query is a complement negative (its substitute), never masked as a partner."""
    inner = make_split(
        graph,
        seed=int(rng.integers(1 << 31)),
        warm_frac=warm,
        cold_frac=cold,
        new_frac=new,
        valid_frac=0.0,
    )
    n = graph.n("Product")
    viewed = viewed_keys(graph)
    supervision, known = {}, {}
    for relation in RELATIONS:
        pos = np.concatenate([inner.heldout[relation][p] for p in inner.heldout[relation]])
        train_src, train_dst = graph.rel(LABEL_TYPE[relation]).coo()
        if (
            relation == "complement"
        ):  # the label rule: a co-viewed co-purchase is a substitute, not a complement
            pos = pure_pairs(graph, pos, viewed)
            keep = pure_mask(graph, train_src, train_dst, viewed)
            train_src, train_dst = train_src[keep], train_dst[keep]
        known[relation] = SparseRows.from_coo(
            np.concatenate([train_src, pos[:, 0]]), np.concatenate([train_dst, pos[:, 1]]), n, n
        )
        if len(pos) > max_positives:
            pos = pos[rng.choice(len(pos), max_positives, replace=False)]
        supervision[relation] = (pos[:, 0], pos[:, 1])
    return Episode(inner.train, supervision, known)


def substitutes_of(graph: Snapshot) -> SparseRows:
    """Product -> its co-viewed products, either way: a complement's hardest negatives (:func:`hard_negatives`)."""
    src, dst = graph.rel(LABEL_TYPE["substitute"]).coo()
    n = graph.n("Product")
    return SparseRows.from_coo(np.concatenate([src, dst]), np.concatenate([dst, src]), n, n)


def hard_negatives(
    message: Snapshot,
    pairs: PairFeatures,
    category: np.ndarray,
    mix: Sequence[float],
    substitutes: SparseRows | None = None,
    substitute_share: float = 0.0,
) -> dict[str, HardNegatives]:
    """Each relation's negative sampler over the message graph: uniform, from b's category, by popularity in the
    relation's lists, and two hops from a in either list, in the shares of `mix` (see
    :class:`~gnn.sampler.HardNegatives`). Complements also draw `substitute_share` of their negatives among
    a's substitutes (`substitutes`: product -> its co-viewed products, either way): what a bundle must not be."""
    both = SparseRows.from_coo(
        np.concatenate([pairs.bs.rows(), pairs.vs.rows()]),
        np.concatenate([pairs.bs.indices, pairs.vs.indices]),
        pairs.n,
        pairs.n,
    )
    n = message.n("Product")
    return {
        relation: HardNegatives(
            category,
            np.bincount(message.rel(LABEL_TYPE[relation]).indices, minlength=n),
            both,
            mix,
            substitutes=substitutes if relation == "complement" else None,
            substitute_share=substitute_share if relation == "complement" else 0.0,
        )
        for relation in RELATIONS
    }


@dataclass
class Examples:
    """One relation's supervision of a step: positives, their negatives and pair features (global ids)."""

    a: np.ndarray  # int64 [m]
    b: np.ndarray  # int64 [m]
    neg: np.ndarray  # int64 [m, k]
    valid: torch.Tensor  # bool [m, k]: False where the negative is a known partner of a (or a itself)
    f_pos: torch.Tensor  # [m, F]
    f_neg: torch.Tensor  # [m, k, F]
    f_rev: torch.Tensor | None  # [m, F] features of (b, a): complements
    one_way: torch.Tensor | None  # bool [m]: b -> a is not listed, so the direction is defined

    @staticmethod
    def of(
        relation: str,
        pairs: PairFeatures,
        known: SparseRows,
        a: np.ndarray,
        b: np.ndarray,
        neg: np.ndarray,
        device: torch.device,
    ) -> Examples:
        """The examples of positives (a, b) and negatives `neg` ``[m, k]``, features over `pairs`' graph."""
        k = neg.shape[1]
        rep = np.repeat(a, k)
        valid = (known.lookup(rep, neg.ravel()) == 0).reshape(-1, k) & (neg != a[:, None])
        f_neg = pairs.pairs(relation, rep, neg.ravel()).reshape(len(a), k, -1)
        f_rev = one_way = None
        if relation == "complement":
            f_rev = torch.from_numpy(pairs.pairs(relation, b, a)).to(device)
            one_way = torch.from_numpy(known.lookup(b, a) == 0).to(device)
        return Examples(
            a,
            b,
            neg,
            torch.from_numpy(valid).to(device),
            torch.from_numpy(pairs.pairs(relation, a, b)).to(device),
            torch.from_numpy(f_neg).to(device),
            f_rev,
            one_way,
        )

    def take(self, idx: np.ndarray) -> Examples:
        """The examples at positions `idx` (a step's batch of the epoch's)."""
        t = torch.from_numpy(idx).to(self.valid.device)
        return Examples(
            self.a[idx],
            self.b[idx],
            self.neg[idx],
            self.valid[t],
            self.f_pos[t],
            self.f_neg[t],
            None if self.f_rev is None else self.f_rev[t],
            None if self.one_way is None else self.one_way[t],
        )


def losses(
    model: LinkModel,
    relation: str,
    z: torch.Tensor,
    ex: Examples,
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
