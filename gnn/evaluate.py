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

Labels follow the rule of :mod:`gnn.labels`: the ``complement`` table scores the *pure* held-out complement pairs
(co-bought, co-viewed in neither direction) with pure partners filtered, so a method that ranks the query's
co-viewed co-purchases (its substitutes) above a pure partner pays for it; ``complement_all`` scores every
held-out also_bought pair with every also_bought partner filtered, as before the rule. ``distinct`` says how much
each method's top complements repeat the product (:func:`distinctness`), the observed lists included.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from gnn.labels import complement_labels, pure_pairs, viewed_keys
from gnn.scoring import Scorer
from gnn.sparse import SparseRows
from gnn.split import POPULATIONS, Split
from gnn.text import titles_of, word_tfidf
from graph.schema import LABEL_TYPE, RELATIONS

Results = dict[str, dict[str, dict[str, dict[str, float]]]]
IN_DEGREE = "in-degree"
# score-matrix cells per batch (16 MiB of float32, a few times that in temporaries), whatever the catalog size
_CELLS = 1 << 22


def known_partners(split: Split, relation: str, pure: bool = False) -> sp.csr_matrix:
    """Boolean ``[n, n]``: row q marks q itself and every partner q lists in `relation` in the full graph.

    With `pure` (complements), only q's partners that are complements by the label rule (:mod:`gnn.labels`): a
    co-viewed co-purchase is then a wrong answer to rank below a pure partner, not a true one to filter.
    """
    n = split.full.n("Product")
    if pure and relation == "complement":
        src, dst = complement_labels(split.full)
    else:
        src, dst = split.full.rel(LABEL_TYPE[relation]).coo()
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
    if len(pairs) == 0:
        return pairs.reshape(0, 2)
    reverse = np.asarray(known[pairs[:, 1], pairs[:, 0]]).ravel().astype(bool)
    return pairs[~reverse]


def direction_accuracy(scorer: Scorer, pairs: np.ndarray, n_products: int) -> float:
    """Share of `pairs` (a, b) with score(a->b) > score(b->a), ties half; complements only.

    A scorer with ``raw_scores`` (the GNN) is compared on those: the direction is what the model's pair score
    says, before a list pushes down the query's own substitutes (:class:`gnn.model_scorer.Distinct`), which
    is a property of each end's list and not of the pair."""
    if len(pairs) == 0:
        return float("nan")
    forward = _pair_scores(scorer, pairs, n_products)
    backward = _pair_scores(scorer, pairs[:, ::-1], n_products)
    return float(((forward > backward) + 0.5 * (forward == backward)).mean())


def in_degree_direction(split: Split, pairs: np.ndarray) -> float:
    """The heuristic beside :func:`direction_accuracy`: the end listed more often in train is the target."""
    return in_degree_share(split.train, pairs)


def in_degree_share(graph: Any, pairs: np.ndarray) -> float:
    """:func:`in_degree_direction` over the in-degrees of `graph` (a snapshot): what validation compares with."""
    if len(pairs) == 0:
        return float("nan")
    indeg = np.bincount(graph.rel(LABEL_TYPE["complement"]).indices, minlength=graph.n("Product"))
    a, b = indeg[pairs[:, 0]], indeg[pairs[:, 1]]
    return float(((b > a) + 0.5 * (b == a)).mean())


def _pair_scores(scorer: Scorer, pairs: np.ndarray, n_products: int) -> np.ndarray:
    """score(a->b) for each pair, scoring each distinct query once (raw scores where the scorer has them), or
    through the scorer's ``pair_scores(relation, a, b)`` where it scores pairs without ranking whole rows."""
    if hasattr(scorer, "pair_scores"):
        return np.asarray(scorer.pair_scores("complement", pairs[:, 0], pairs[:, 1]), np.float64)
    queries, row = np.unique(pairs[:, 0], return_inverse=True)
    out = np.empty(len(pairs), dtype=np.float64)
    score = getattr(scorer, "raw_scores", scorer.scores)
    for lo, hi in _batches(len(queries), n_products):
        idx = np.flatnonzero((row >= lo) & (row < hi))
        scores = score("complement", queries[lo:hi])
        out[idx] = scores[row[idx] - lo, pairs[idx, 1]]
    return out


def _batches(count: int, width: int) -> Iterable[tuple[int, int]]:
    """``[lo, hi)`` ranges of rows such that ``rows x width`` stays within :data:`_CELLS`."""
    step = max(1, _CELLS // max(width, 1))
    return ((lo, min(lo + step, count)) for lo in range(0, count, step))


def labelled_pairs(
    split: Split, relation: str, population: str, viewed: np.ndarray | None = None
) -> np.ndarray:
    """The held-out pairs of `population` that are `relation`'s labels by the rule of :mod:`gnn.labels`.

    ``complement``: the pure ones (co-bought, co-viewed in neither direction); ``complement_all``: every held-out
    also_bought pair; ``substitute``: every held-out also_viewed pair.
    """
    if relation == ALL_COMPLEMENTS:
        return split.heldout["complement"][population]
    pairs = split.heldout[relation][population]
    return pure_pairs(split.full, pairs, viewed) if relation == "complement" else pairs


def evaluate(
    split: Split,
    scorers: list[Scorer],
    k: int = 10,
    n_negatives: int = 100,
    seed: int = 0,
    progress: bool = False,
) -> Results:
    """Score every method on every relation and population of `split`; see the module docstring for the layout.

    Tables: ``complement`` (pure pairs: the label rule), ``substitute``, ``complement_all`` (every also_bought
    pair, as labelled before the rule) and ``distinct`` (:func:`distinctness`).
    """
    from tqdm import tqdm

    tables_ = (*RELATIONS, ALL_COMPLEMENTS)
    jobs = [(table, pop, s) for table in tables_ for pop in POPULATIONS for s in scorers]
    results: Results = {table: {pop: {} for pop in POPULATIONS} for table in tables_}
    known = {relation: known_partners(split, relation, pure=True) for relation in RELATIONS}
    known[ALL_COMPLEMENTS] = known_partners(split, "complement")
    viewed = viewed_keys(split.full)
    pairs = {(t, pop): labelled_pairs(split, t, pop, viewed) for t in tables_ for pop in POPULATIONS}
    # one-way: the reverse is not co-bought at all (a pure pair whose reverse is a co-viewed co-purchase has one)
    one_way = {
        (t, pop): one_way_pairs(known[ALL_COMPLEMENTS], pairs[(t, pop)])
        for t in ("complement", ALL_COMPLEMENTS)
        for pop in POPULATIONS
    }
    n = split.full.n("Product")
    bar = tqdm(total=len(jobs), desc="evaluate", disable=not progress)
    for scorer in scorers:
        for pop in POPULATIONS:
            # both complement tables rank the same queries: score them once (when the block fits in memory)
            memo = _Memo(scorer, pairs[(ALL_COMPLEMENTS, pop)][:, 0], "complement", n)
            for table in tables_:
                relation = "complement" if table == ALL_COMPLEMENTS else table
                ranker = memo if relation == "complement" else scorer
                row: dict[str, float] = rank_metrics(
                    ranker, relation, pairs[(table, pop)], known[table], k, n_negatives, seed
                )
                if relation == "complement":
                    row["direction"] = direction_accuracy(scorer, one_way[(table, pop)], n)
                    row["n_direction"] = len(one_way[(table, pop)])
                results[table][pop][scorer.name] = row
                bar.update(1)
    bar.close()
    for table in ("complement", ALL_COMPLEMENTS):
        for pop in POPULATIONS:
            results[table][pop][IN_DEGREE] = {
                "direction": in_degree_direction(split, one_way[(table, pop)]),
                "n_direction": len(one_way[(table, pop)]),
            }
    results[DISTINCT] = distinctness(split, scorers, k=k, seed=seed)
    return results


class _Memo:
    """A scorer's rows for a fixed set of queries of one relation, scored once, then read back by any subset.

    Used where two tables rank the same queries; when the rows would not fit in :data:`MEMO_BYTES`, or a query
    or relation outside them is asked, it scores afresh."""

    def __init__(self, scorer: Scorer, queries: np.ndarray, relation: str, n: int) -> None:
        self.scorer, self.relation, self.name = scorer, relation, scorer.name
        self.queries = np.unique(queries)
        self.rows: np.ndarray | None = None
        if 0 < len(self.queries) * n * 4 <= MEMO_BYTES:
            parts = [
                scorer.scores(relation, self.queries[lo:hi]) for lo, hi in _batches(len(self.queries), n)
            ]
            self.rows = np.concatenate(parts)

    def scores(self, relation: str, queries: np.ndarray) -> np.ndarray:
        if self.rows is not None and relation == self.relation:
            at = np.searchsorted(self.queries, queries)
            at = np.minimum(at, len(self.queries) - 1)
            if (self.queries[at] == queries).all():
                return self.rows[at]
        return self.scorer.scores(relation, queries)


MEMO_BYTES = 1 << 30  # the most one memo holds (Beauty's largest population: ~60 MB)

# the evaluation's tables besides the two relations
ALL_COMPLEMENTS = "complement_all"
DISTINCT = "distinct"
OBSERVED = "observed lists"
NEAR_DUPLICATE_COSINE = 0.5
DISTINCT_QUERIES = 400


def distinctness(
    split: Split,
    scorers: list[Scorer],
    k: int = 10,
    queries: int = DISTINCT_QUERIES,
    seed: int = 0,
) -> dict[str, dict[str, dict[str, float]]]:
    """How much a method's complements repeat the product, per population and method (``observed lists`` too).

    For up to `queries` held-out complement query products of each population (a seeded sample), a method's
    top `k` complements and top `k` substitutes (the query itself excluded, nothing else filtered: what a shopper
    would be shown) give:

    - ``overlap@k``: the share of complement items that are also among the substitutes (a bundle repeating
      `similar`);
    - ``near_dup@k``: the share of complement items whose title TF-IDF cosine to the query's title is above
      :data:`NEAR_DUPLICATE_COSINE`, over items where both titles exist (NaN, with ``n_titled`` 0, without titles).

    ``observed lists`` reads the first `k` entries of the query's also_bought and also_viewed lists in the full
    graph. Shares are pooled over items (sum of hits over sum of items).
    """
    rng = np.random.default_rng(seed)
    vectors, titled = _title_vectors(split.full)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for pop in POPULATIONS:
        q = np.unique(split.heldout["complement"][pop][:, 0])
        if len(q) > queries:
            q = np.sort(rng.choice(q, queries, replace=False))
        rows: dict[str, dict[str, float]] = {}
        if len(q) == 0:
            out[pop] = rows
            continue
        observed = {rel: _first_listed(split.full, rel, q, k) for rel in RELATIONS}
        rows[OBSERVED] = _distinct_row(q, observed["complement"], observed["substitute"], vectors, titled)
        for scorer in scorers:
            lists = {rel: _top(scorer, rel, q, k) for rel in RELATIONS}
            rows[scorer.name] = _distinct_row(q, lists["complement"], lists["substitute"], vectors, titled)
        out[pop] = rows
    return out


def _top(scorer: Scorer, relation: str, queries: np.ndarray, k: int) -> np.ndarray:
    """int64 ``[q, k]`` each query's top `k` products by `scorer` (itself excluded), best first."""
    n_products = None
    out = []
    for lo, hi in _batches(len(queries), 1 << 14):
        s = np.array(scorer.scores(relation, queries[lo:hi]), dtype=np.float32, copy=True)
        n_products = s.shape[1]
        s[np.arange(hi - lo), queries[lo:hi]] = -np.inf
        kk = min(k, n_products - 1)
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
        out.append(np.take_along_axis(part, order, axis=1))
    return np.concatenate(out) if out else np.empty((0, k), np.int64)


def _first_listed(snap: Any, relation: str, queries: np.ndarray, k: int) -> np.ndarray:
    """int64 ``[q, k]`` the first `k` products of each query's observed `relation` list (-1 pads)."""
    csr = snap.rel(LABEL_TYPE[relation])
    out = np.full((len(queries), k), -1, np.int64)
    for i, qi in enumerate(queries.tolist()):
        row = csr.indices[csr.indptr[qi] : csr.indptr[qi + 1]][:k]
        out[i, : len(row)] = row
    return out


def _distinct_row(
    queries: np.ndarray,
    bundle: np.ndarray,
    similar: np.ndarray,
    vectors: tuple[SparseRows, SparseRows] | None,
    titled: np.ndarray,
) -> dict[str, float]:
    k = bundle.shape[1]
    valid = bundle >= 0
    in_similar = np.zeros_like(valid)
    for i in range(len(queries)):
        sim = similar[i][similar[i] >= 0]
        in_similar[i] = np.isin(bundle[i], sim) & valid[i]
    items = int(valid.sum())
    row: dict[str, float] = {
        f"overlap@{k}": float(in_similar.sum() / items) if items else float("nan"),
        "n_items": items,
    }
    if vectors is None:
        row[f"near_dup@{k}"] = float("nan")
        row["n_titled"] = 0
        return row
    qi = np.repeat(queries, k)[valid.ravel()]
    bi = bundle.ravel()[valid.ravel()]
    both = titled[qi] & titled[bi]
    rows, rows_t = vectors
    cos = rows.pair_paths(rows_t, qi[both], bi[both])
    row[f"near_dup@{k}"] = float((cos > NEAR_DUPLICATE_COSINE).mean()) if both.any() else float("nan")
    row["n_titled"] = int(both.sum())
    return row


def _title_vectors(snap: Any) -> tuple[tuple[SparseRows, SparseRows] | None, np.ndarray]:
    """Word TF-IDF rows of the titles and their transpose (:func:`gnn.text.word_tfidf`), and which products have
    a title with a word; (None, all False) when none has."""
    rows = word_tfidf(titles_of(snap))
    titled = np.diff(rows.indptr) > 0
    if not titled.any():
        return None, titled
    return (rows, rows.transpose()), titled


def aggregate(runs: list[Results]) -> Results:
    """One table of several runs (one per split seed): each cell the mean over the runs, with the sample standard
    deviation beside it as ``<metric>_sd`` (counts such as ``n`` are averaged and have no spread), and ``runs``
    the number of runs the cell averages. A method or metric missing from a run (stepped aside there) is left out
    of that run's mean, never counted as zero."""
    if not runs:
        raise ValueError("nothing to aggregate: no runs")
    out: Results = {}
    for table, pops in runs[0].items():
        out[table] = {}
        for pop, methods in pops.items():
            out[table][pop] = {}
            for method in methods:
                rows = [r[table][pop][method] for r in runs if method in r.get(table, {}).get(pop, {})]
                cell: dict[str, float] = {}
                for metric in rows[0]:
                    values = [float(row[metric]) for row in rows if metric in row]
                    if metric in _COUNTS:
                        cell[metric] = int(round(float(np.mean(values))))
                        continue
                    finite = [v for v in values if not np.isnan(v)]
                    cell[metric] = float(np.mean(finite)) if finite else float("nan")
                    cell[f"{metric}{SPREAD}"] = (
                        float(np.std(finite, ddof=1)) if len(finite) > 1 else float("nan")
                    )
                cell["runs"] = len(rows)
                out[table][pop][method] = cell
    return out


# the spread's key beside a metric's (aggregate); counts, averaged without one
SPREAD = "_sd"
_COUNTS = frozenset({"n", "n_direction", "n_items", "n_titled"})


METRICS = ("hit@{k}", "ndcg@{k}", "mrr", "auc", "direction", "n", "overlap@{k}", "near_dup@{k}", "n_items")


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
                cells = (_cell(row.get(m), row.get(f"{m}{SPREAD}")) for m in shown)
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
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
            shown = [f"overlap@{k}", f"near_dup@{k}"] if relation == DISTINCT else plotted
            _bar_plot(plt, methods, shown, out_dir / f"{relation}_{pop}.png")
    report = out_dir / "report.md"
    header = "# Held-out evaluation\n\nFiltered ranking over all products, per held-out pair; see `gnn/evaluate.py`.\n\n"
    report.write_text(header + tables(results, k, images=True, notes=notes))
    return report


def _cell(value: Any, spread: Any = None) -> str:
    """A metric as the table shows it: ``–`` where it does not apply, ``mean ± sd`` over split seeds."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, int):
        return str(value)
    if spread is None or (isinstance(spread, float) and np.isnan(spread)):
        return f"{value:.3f}"
    return f"{value:.3f} ± {spread:.3f}"


def _bar_plot(plt: Any, methods: dict[str, dict[str, float]], metrics: list[str], path: Path) -> None:
    ranked = {name: row for name, row in methods.items() if all(m in row for m in metrics)}
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(metrics), 3.2))
    width = 0.8 / max(len(ranked), 1)
    for i, (name, row) in enumerate(ranked.items()):
        spread = [row.get(f"{m}{SPREAD}", np.nan) for m in metrics]  # over split seeds, where aggregated
        yerr = None if np.isnan(spread).all() else np.nan_to_num(spread)
        ax.bar(np.arange(len(metrics)) + i * width, [row[m] for m in metrics], width, yerr=yerr, label=name)
    ax.set_xticks(np.arange(len(metrics)) + 0.4 - width / 2, metrics)
    ax.set_ylim(0, 1)
    ax.set_title(path.stem.replace("_", " / "))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
