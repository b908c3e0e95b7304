"""Ranking evaluation on the held-out pairs of a :class:`~gnn.split.Split`, every method through one code path.

For each held-out pair (query q, partner p) of a relation, a method's scores for q rank *all* products; q itself
and q's other known partners in that relation (in the full graph: its train partners, its other held-out ones,
pairs removed because their partner went cold) are filtered out first, so a method is not punished for ranking
another true partner above p (the "filtered" setting of Bordes et al., NIPS 2013). Ties are broken uniformly at
random *in expectation*: with g candidates scored above p and e tied with it, p's rank is uniform on
``g+1 .. g+e+1``, and each metric is its exact mean over that range. A constant scorer therefore gets chance
figures, not the best or worst rank.

Metrics per (relation, population, method), averaged over held-out pairs:

- ``hit@k``: p ranked in the top k; ``ndcg@k``: 1/log2(1+rank) when rank <= k (one relevant item, so the ideal
  DCG is 1); ``mrr``: 1/rank;
- ``auc``: the probability that p outscores a negative, ties half (ROC-AUC of one positive against
  ``n_negatives`` products drawn uniformly, seeded, among the unfiltered candidates; every method sees the same
  negatives);
- ``n``: the number of pairs;
- complements only: ``direction``, the share of held-out pairs a->b listed one way only (b->a not listed) for
  which score(a->b) > score(b->a), ties half, and ``n_direction``. The method ``in-degree`` carries only these:
  it orders each pair by the train in-degree of its ends (the more-listed product is the target).

:func:`evaluate` returns ``{relation: {population: {method: {metric: value}}}}``, e.g.
``results["complement"]["warm"]["popularity"]["ndcg@10"]``; :func:`write_report` renders it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from gnn.scoring import Scorer
from gnn.split import POPULATIONS, Split
from graph.schema import LABEL_TYPE, RELATIONS

Results = dict[str, dict[str, dict[str, dict[str, float]]]]
IN_DEGREE = "in-degree"
# score-matrix cells per batch (16 MiB of float32, a few times that in temporaries), whatever the catalog size
_CELLS = 1 << 22


def known_partners(split: Split, relation: str) -> sp.csr_matrix:
    """Boolean ``[n, n]``: row q marks q itself and every partner q lists in `relation` in the full graph."""
    csr = split.full.rel(LABEL_TYPE[relation])
    n = split.full.n("Product")
    src, dst = csr.coo()
    rows = np.concatenate([src, np.arange(n)])
    cols = np.concatenate([dst, np.arange(n)])
    return sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n, n))


def rank_metrics(
    scorer: Scorer,
    relation: str,
    pairs: np.ndarray,
    known: sp.csr_matrix,
    k: int = 10,
    n_negatives: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """Filtered ranking metrics of `scorer` on `pairs` (int64 ``[m, 2]``), as the module docstring defines them.

    `known` is :func:`known_partners` of the relation (the filter). Also what a trainer calls on
    ``split.valid[relation]`` for early stopping.
    """
    n = known.shape[1]
    m = len(pairs)
    if m == 0:
        return {
            f"hit@{k}": float("nan"),
            f"ndcg@{k}": float("nan"),
            "mrr": float("nan"),
            "auc": float("nan"),
            "n": 0,
        }
    negatives = np.random.default_rng(seed).integers(0, n, size=(m, n_negatives))
    greater = np.empty(m, dtype=np.int64)
    equal = np.empty(m, dtype=np.int64)
    auc = np.empty(m, dtype=np.float64)
    queries, pair_row = np.unique(pairs[:, 0], return_inverse=True)
    for lo, hi in _batches(len(queries), n):
        scores = scorer.scores(relation, queries[lo:hi])
        filtered = known[queries[lo:hi]]
        free = ~filtered.toarray()
        in_batch = np.flatnonzero((pair_row >= lo) & (pair_row < hi))
        for plo, phi in _batches(len(in_batch), n):
            idx = in_batch[plo:phi]
            row, partner = pair_row[idx] - lo, pairs[idx, 1]
            s_p = scores[row, partner][:, None]
            # count over every product, then take the filtered ones (a few dozen per query) back out
            s = scores[row]
            above = np.count_nonzero(s > s_p, axis=1)
            tied = np.count_nonzero(s == s_p, axis=1) - 1  # the partner itself
            f = filtered[row]
            f_row = np.repeat(np.arange(len(idx)), np.diff(f.indptr))
            f_score = scores[row[f_row], f.indices]
            f_other = f.indices != partner[f_row]
            greater[idx] = above - np.bincount(f_row, f_score > s_p[f_row, 0], len(idx)).astype(np.int64)
            equal[idx] = tied - np.bincount(f_row, (f_score == s_p[f_row, 0]) & f_other, len(idx)).astype(
                np.int64
            )
            neg = negatives[idx]
            neg_free = free[row[:, None], neg]
            neg_s = scores[row[:, None], neg]
            wins = (s_p > neg_s) + 0.5 * (s_p == neg_s)
            auc[idx] = (wins * neg_free).sum(axis=1) / np.maximum(neg_free.sum(axis=1), 1)
    hit, ndcg, mrr = _expected_rank_metrics(greater, equal, k)
    return {
        f"hit@{k}": float(hit.mean()),
        f"ndcg@{k}": float(ndcg.mean()),
        "mrr": float(mrr.mean()),
        "auc": float(auc.mean()),
        "n": int(m),
    }


def _expected_rank_metrics(
    greater: np.ndarray, equal: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact means of hit@k, ndcg@k and reciprocal rank over a rank uniform on ``g+1 .. g+e+1``.

    Prefix sums over positions make each mean a difference of two lookups: no sampling, no Python loop.
    """
    top = int((greater + equal).max()) + 1
    pos = np.arange(1, top + 1, dtype=np.float64)
    gain = np.where(pos <= k, 1.0 / np.log2(pos + 1.0), 0.0)
    dcg = np.concatenate([[0.0], np.cumsum(gain)])
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / pos)])
    width = equal + 1.0
    hit = np.clip(k - greater, 0, equal + 1) / width
    ndcg = (dcg[greater + equal + 1] - dcg[greater]) / width
    mrr = (harmonic[greater + equal + 1] - harmonic[greater]) / width
    return hit, ndcg, mrr


def one_way_pairs(known: sp.csr_matrix, pairs: np.ndarray) -> np.ndarray:
    """The pairs a->b whose reverse b->a `known` (:func:`known_partners` of complements) does not list."""
    reverse = np.asarray(known[pairs[:, 1], pairs[:, 0]]).ravel().astype(bool)
    return pairs[~reverse]


def direction_accuracy(scorer: Scorer, pairs: np.ndarray, n_products: int) -> float:
    """Share of `pairs` (a, b) with score(a->b) > score(b->a), ties half; complements only."""
    if len(pairs) == 0:
        return float("nan")
    forward = _pair_scores(scorer, pairs, n_products)
    backward = _pair_scores(scorer, pairs[:, ::-1], n_products)
    return float(((forward > backward) + 0.5 * (forward == backward)).mean())


def in_degree_direction(split: Split, pairs: np.ndarray) -> float:
    """The heuristic beside :func:`direction_accuracy`: the end listed more often in train is the target."""
    if len(pairs) == 0:
        return float("nan")
    indeg = np.bincount(split.train.rel(LABEL_TYPE["complement"]).indices, minlength=split.train.n("Product"))
    a, b = indeg[pairs[:, 0]], indeg[pairs[:, 1]]
    return float(((b > a) + 0.5 * (b == a)).mean())


def _pair_scores(scorer: Scorer, pairs: np.ndarray, n_products: int) -> np.ndarray:
    """score(a->b) for each pair, scoring each distinct query once."""
    queries, row = np.unique(pairs[:, 0], return_inverse=True)
    out = np.empty(len(pairs), dtype=np.float64)
    for lo, hi in _batches(len(queries), n_products):
        idx = np.flatnonzero((row >= lo) & (row < hi))
        scores = scorer.scores("complement", queries[lo:hi])
        out[idx] = scores[row[idx] - lo, pairs[idx, 1]]
    return out


def _batches(count: int, width: int) -> Iterable[tuple[int, int]]:
    """``[lo, hi)`` ranges of rows such that ``rows x width`` stays within :data:`_CELLS`."""
    step = max(1, _CELLS // max(width, 1))
    return ((lo, min(lo + step, count)) for lo in range(0, count, step))


def evaluate(
    split: Split,
    scorers: list[Scorer],
    k: int = 10,
    n_negatives: int = 100,
    seed: int = 0,
    progress: bool = False,
) -> Results:
    """Score every method on every relation and population of `split`; see the module docstring for the layout."""
    from tqdm import tqdm

    jobs = [(relation, pop, s) for relation in RELATIONS for pop in POPULATIONS for s in scorers]
    results: Results = {relation: {pop: {} for pop in POPULATIONS} for relation in RELATIONS}
    known = {relation: known_partners(split, relation) for relation in RELATIONS}
    one_way = {
        pop: one_way_pairs(known["complement"], split.heldout["complement"][pop]) for pop in POPULATIONS
    }
    for relation, pop, scorer in tqdm(jobs, desc="evaluate", disable=not progress):
        pairs = split.heldout[relation][pop]
        row: dict[str, float] = rank_metrics(scorer, relation, pairs, known[relation], k, n_negatives, seed)
        if relation == "complement":
            row["direction"] = direction_accuracy(scorer, one_way[pop], split.full.n("Product"))
            row["n_direction"] = len(one_way[pop])
        results[relation][pop][scorer.name] = row
    for pop in POPULATIONS:
        results["complement"][pop][IN_DEGREE] = {
            "direction": in_degree_direction(split, one_way[pop]),
            "n_direction": len(one_way[pop]),
        }
    return results


METRICS = ("hit@{k}", "ndcg@{k}", "mrr", "auc", "direction", "n")


def tables(results: Results, k: int = 10, images: bool = False, notes: Iterable[object] = ()) -> str:
    """Markdown: one table per relation and population, methods as rows (``–`` where a metric does not apply),
    after one line per note (the methods and features that stepped aside, :class:`gnn.signals.StepAside`)."""
    metrics = [m.format(k=k) for m in METRICS]
    lines = [f"- {note}" for note in notes]
    lines += [""] if lines else []
    for relation, pops in results.items():
        for pop, methods in pops.items():
            shown = [m for m in metrics if any(m in row for row in methods.values())]
            lines += [f"## {relation} / {pop}", "", "| method | " + " | ".join(shown) + " |"]
            lines.append("|---" * (len(shown) + 1) + "|")
            for method, row in methods.items():
                lines.append(f"| {method} | " + " | ".join(_cell(row.get(m)) for m in shown) + " |")
            lines += ["", f"![{relation} {pop}]({relation}_{pop}.png)", ""] if images else [""]
    return "\n".join(lines)


def write_report(results: Results, out_dir: Path, k: int = 10, notes: Iterable[object] = ()) -> Path:
    """Write ``report.md`` (:func:`tables`, `notes` first) and a bar plot ``<relation>_<population>.png`` of each;
    returns the .md."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plotted = [f"hit@{k}", f"ndcg@{k}", "mrr", "auc"]
    for relation, pops in results.items():
        for pop, methods in pops.items():
            _bar_plot(plt, methods, plotted, out_dir / f"{relation}_{pop}.png")
    report = out_dir / "report.md"
    header = "# Held-out evaluation\n\nFiltered ranking over all products, per held-out pair; see `gnn/evaluate.py`.\n\n"
    report.write_text(header + tables(results, k, images=True, notes=notes))
    return report


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return str(value) if isinstance(value, int) else f"{value:.3f}"


def _bar_plot(plt: Any, methods: dict[str, dict[str, float]], metrics: list[str], path: Path) -> None:
    ranked = {name: row for name, row in methods.items() if all(m in row for m in metrics)}
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(metrics), 3.2))
    width = 0.8 / max(len(ranked), 1)
    for i, (name, row) in enumerate(ranked.items()):
        ax.bar(np.arange(len(metrics)) + i * width, [row[m] for m in metrics], width, label=name)
    ax.set_xticks(np.arange(len(metrics)) + 0.4 - width / 2, metrics)
    ax.set_ylim(0, 1)
    ax.set_title(path.stem.replace("_", " / "))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
