"""A synthetic catalog with planted structure: benchmarks at any scale, and tests that know the right answer.

Everything is drawn with numpy in whole arrays (no Python loop per edge), so 1M products and 10M edges build in
seconds. The planted rules, with the constants below:

- Products are spread evenly over `n_categories` leaf categories (``C0000``...), grouped
  :data:`CATEGORIES_PER_DEPARTMENT` to a department (``D000``...): IN_CATEGORY lists the department, then the
  leaf (last, as ``Snapshot.product_category()`` reads it); SUBCATEGORY_OF goes leaf -> department.
- Leaf category ``c`` has the complement category ``(c + 1) % n_categories`` (directional: ``c + 1``'s
  complements live in ``c + 2``). :data:`P_COMPLEMENT` of ALSO_BOUGHT edges go from a product into its complement
  category, the rest into a uniformly random category.
- :data:`P_SAME_CATEGORY` of ALSO_VIEWED edges stay inside the product's own category; each viewed pair is also
  listed reversed with probability :data:`P_RECIPROCAL`.
- Targets are drawn with power-law popularity inside their category: rank ``floor(size * u**POPULARITY_SKEW)``
  for uniform ``u``, where rank 0 is the category's lowest product id.
- ALSO_BOUGHT is :data:`SHARE_ALSO_BOUGHT` of `n_edges`, ALSO_VIEWED the rest (the Beauty set's ratio); both
  have exactly that many distinct, loop-free edges.
- Customer ``u`` has :data:`N_FAVOURITES` favourite categories and writes ``5 + Poisson(3)`` reviews (the
  Beauty set is 5-core), :data:`P_FAVOURITE` of them on products of a favourite category; repeats of a
  (customer, product) are dropped, and each customer's reviews are in time order.
- Titles are one shared word and three words of the category's own vocabulary of :data:`WORDS_PER_CATEGORY`
  words; with probability :data:`P_TITLE_NOISE` the third word comes from a random category instead.

Ids are dense numbers in a fixed width: product ``i`` is ``P0000000 + i``, customer ``U...``, leaf ``C...``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graph.schema import NODES, RELATIONSHIPS, GraphBatch
from graph.snapshot import CSR, Snapshot

SHARE_ALSO_BOUGHT = 0.6
P_COMPLEMENT = 0.9
P_SAME_CATEGORY = 0.9
P_RECIPROCAL = 0.6
POPULARITY_SKEW = 2.0
N_FAVOURITES = 2
P_FAVOURITE = 0.9
CATEGORIES_PER_DEPARTMENT = 25
WORDS_PER_CATEGORY = 8
SHARED_WORDS = 32
P_TITLE_NOISE = 0.1
TS_RANGE = (1_325_376_000, 1_514_764_800)  # 2012-01-01 .. 2018-01-01 UTC
RATING_P = (0.05, 0.05, 0.1, 0.3, 0.5)  # of 1..5 stars: reviews skew high
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


@dataclass(frozen=True)
class PlantedTruth:
    """What the generator planted, as dense ids of a synthetic snapshot."""

    product_category: np.ndarray  # int64 [n products]: the leaf category of each product
    complement_of: np.ndarray  # int64 [n leaf categories]: the category its products' complements live in


@dataclass(frozen=True)
class _Catalog:
    snapshot: Snapshot
    category_names: np.ndarray  # object, aligned with snapshot.ids["Category"]
    ratings: np.ndarray  # float32, aligned with snapshot.rels["REVIEWED"].indices


def synthetic_snapshot(
    n_products: int, n_edges: int, n_categories: int = 1000, n_customers: int | None = None, seed: int = 0
) -> Snapshot:
    """A synthetic catalog as a snapshot, built directly as CSR arrays; the same arguments give the same graph.

    `n_edges` counts ALSO_BOUGHT plus ALSO_VIEWED; `n_customers` defaults to half the products (0: no reviews).
    Raises ValueError when `n_products < n_categories` (a category would be empty) or the edges cannot be
    distinct.
    """
    return _generate(n_products, n_edges, n_categories, n_customers, seed).snapshot


def synthetic_batches(
    n_products: int,
    n_edges: int,
    n_categories: int = 1000,
    n_customers: int | None = None,
    seed: int = 0,
    batch_size: int = 500_000,
) -> Iterator[GraphBatch]:
    """The graph of :func:`synthetic_snapshot` (same arguments) as batches for a store, nodes first.

    A store's snapshot of these batches equals :func:`synthetic_snapshot`; the records also carry what a snapshot
    does not hold (category names, review ratings). Each batch holds one slice of one table.
    """
    catalog = _generate(n_products, n_edges, n_categories, n_customers, seed)
    snap = catalog.snapshot
    ids = {label: pa.array(snap.ids[label], type=pa.string()) for label in NODES}
    nodes = {
        "Product": {
            "asin": ids["Product"],
            "title": pa.array(snap.titles, pa.string()),
            "price": snap.prices,
        },
        "Category": {"id": ids["Category"], "name": pa.array(catalog.category_names, pa.string())},
        "Customer": {"id": ids["Customer"]},
    }
    for label, columns in nodes.items():
        table = pa.table(columns)
        for start in range(0, table.num_rows, batch_size):
            yield GraphBatch(nodes={label: table.slice(start, batch_size)})
    for type_, csr in snap.rels.items():
        spec = RELATIONSHIPS[type_]
        src, dst = csr.coo()
        for start in range(0, csr.nnz, batch_size):
            part = slice(start, start + batch_size)
            columns = {"src": ids[spec.src].take(src[part]), "dst": ids[spec.dst].take(dst[part])}
            if type_ == "REVIEWED" and csr.ts is not None:
                columns |= {"ts": csr.ts[part], "rating": catalog.ratings[part]}
            elif csr.weights is not None:
                columns["weight"] = csr.weights[part]
            yield GraphBatch(rels={type_: pa.table(columns)})


def planted_truth(snapshot: Snapshot) -> PlantedTruth:
    """The planted categories and complement pairs of a snapshot made by this module (leaves come first)."""
    n_leaves = int((snapshot.rel("SUBCATEGORY_OF").degree() > 0).sum())
    return PlantedTruth(
        product_category=snapshot.product_category(),
        complement_of=(np.arange(n_leaves, dtype=np.int64) + 1) % n_leaves,
    )


def _generate(
    n_products: int, n_edges: int, n_categories: int, n_customers: int | None, seed: int
) -> _Catalog:
    if n_categories < 1 or n_products < n_categories:
        raise ValueError(
            f"need n_products >= n_categories >= 1, not {n_products} products, {n_categories} categories"
        )
    if n_edges < 0:
        raise ValueError(f"n_edges must be >= 0, not {n_edges}")
    n_customers = n_products // 2 if n_customers is None else n_customers
    rng = np.random.default_rng(seed)
    n, n_cat = n_products, n_categories
    n_dept = -(-n_cat // CATEGORIES_PER_DEPARTMENT)
    category = (rng.permutation(n) % n_cat).astype(np.int64)
    members = np.argsort(category, kind="stable")  # products of category c: members[start[c]:start[c + 1]]
    size = np.bincount(category, minlength=n_cat)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])

    def pick(cats: np.ndarray) -> np.ndarray:
        """A product of each category in `cats`, popular ones (low ranks) far more often."""
        rank = (size[cats] * rng.random(len(cats)) ** POPULARITY_SKEW).astype(np.int64)
        return members[start[cats] + rank]

    def bought(k: int) -> tuple[np.ndarray, np.ndarray]:
        src = rng.integers(0, n, k)
        planted = rng.random(k) < P_COMPLEMENT
        return src, pick(np.where(planted, (category[src] + 1) % n_cat, rng.integers(0, n_cat, k)))

    def viewed(k: int) -> tuple[np.ndarray, np.ndarray]:
        pairs = int(np.ceil(k / (1 + P_RECIPROCAL)))
        src = rng.integers(0, n, pairs)
        same = rng.random(pairs) < P_SAME_CATEGORY
        dst = pick(np.where(same, category[src], rng.integers(0, n_cat, pairs)))
        keep = np.stack([np.ones(pairs, bool), rng.random(pairs) < P_RECIPROCAL], axis=1).ravel()
        return np.stack([src, dst], axis=1).ravel()[keep], np.stack([dst, src], axis=1).ravel()[keep]

    n_bought = round(n_edges * SHARE_ALSO_BOUGHT)
    also_bought = _distinct_edges(rng, bought, n_bought, n)
    also_viewed = _distinct_edges(rng, viewed, n_edges - n_bought, n)

    vocabulary = _words(n_cat * WORDS_PER_CATEGORY + SHARED_WORDS)
    word = category[:, None] * WORDS_PER_CATEGORY + rng.integers(0, WORDS_PER_CATEGORY, (n, 3))
    noisy = rng.random(n) < P_TITLE_NOISE
    word[noisy, 2] = rng.integers(0, n_cat, noisy.sum()) * WORDS_PER_CATEGORY + rng.integers(
        0, WORDS_PER_CATEGORY, noisy.sum()
    )
    shared = n_cat * WORDS_PER_CATEGORY + rng.integers(0, SHARED_WORDS, n)
    titles = pc.binary_join_element_wise(
        *(vocabulary.take(pa.array(w)) for w in (shared, word[:, 0], word[:, 1], word[:, 2])), " "
    )
    log_median = rng.uniform(np.log(3.0), np.log(300.0), n_cat)
    prices = np.round(np.exp(log_median[category] + 0.4 * rng.standard_normal(n)), 2)

    reviewed, ratings = _reviews(rng, n_customers, n, n_cat, pick)

    leaf = np.arange(n_cat, dtype=np.int64)
    department = n_cat + leaf // CATEGORIES_PER_DEPARTMENT
    rels = {
        "IN_CATEGORY": CSR(
            indptr=np.arange(0, 2 * n + 1, 2, dtype=np.int64),
            indices=np.stack([department[category], category], axis=1).ravel().astype(np.int32),
            n_cols=n_cat + n_dept,
        ),
        "SUBCATEGORY_OF": CSR(
            indptr=np.concatenate([np.arange(n_cat + 1), np.full(n_dept, n_cat)]).astype(np.int64),
            indices=department.astype(np.int32),
            n_cols=n_cat + n_dept,
        ),
        "ALSO_BOUGHT": also_bought,
        "ALSO_VIEWED": also_viewed,
        "REVIEWED": reviewed,
    }
    snap = Snapshot(
        ids={
            "Product": _ids("P", n, 7),
            "Category": np.concatenate([_ids("C", n_cat, 4), _ids("D", n_dept, 3)]),
            "Brand": np.empty(0, dtype=object),
            "Customer": _ids("U", n_customers, 7),
        },
        rels=rels,
        titles=titles.to_numpy(zero_copy_only=False),
        prices=prices,
    )
    leaf_names = vocabulary.take(pa.array(leaf * WORDS_PER_CATEGORY)).to_numpy(zero_copy_only=False)
    dept_names = np.array([f"Department {d}" for d in range(n_dept)], dtype=object)
    return _Catalog(snap, np.concatenate([leaf_names, dept_names]), ratings)


def _distinct_edges(
    rng: np.random.Generator, sample: Callable[[int], tuple[np.ndarray, np.ndarray]], want: int, n: int
) -> CSR:
    """Exactly `want` distinct, loop-free edges (each row's neighbours in id order), weight 1.

    Draws again for what loops and repeats took, then drops a uniform random surplus. Edges are kept as sorted
    ``src * n + dst`` keys, which dedupes them and orders them by row at once: no argsort per edge list.
    """
    if want > n * (n - 1):
        raise ValueError(f"{want} distinct edges do not fit {n} products")
    keys = np.empty(0, np.int64)
    for _ in range(64):
        if len(keys) >= want:
            keys = keys[np.sort(rng.choice(len(keys), want, replace=False))]
            weights = np.ones(want, np.float32)
            return CSR(_indptr(keys // n, n), (keys % n).astype(np.int32), n, weights=weights)
        src, dst = sample(int((want - len(keys)) * 1.05) + 16)
        keys = _sorted_unique(np.concatenate([keys, (src * n + dst)[src != dst]]))
    raise ValueError(f"could not draw {want} distinct edges over {n} products: the graph is too dense")


def _reviews(
    rng: np.random.Generator,
    n_customers: int,
    n_products: int,
    n_cat: int,
    pick: Callable[[np.ndarray], np.ndarray],
) -> tuple[CSR, np.ndarray]:
    """REVIEWED as a CSR with timestamps (each customer's rows in time order), and the ratings aligned with it."""
    per_customer = 5 + rng.poisson(3, n_customers)
    customer = np.repeat(np.arange(n_customers, dtype=np.int64), per_customer)
    favourite = rng.integers(0, n_cat, (n_customers, N_FAVOURITES))
    chosen = favourite[customer, rng.integers(0, N_FAVOURITES, len(customer))]
    planted = rng.random(len(customer)) < P_FAVOURITE
    product = pick(np.where(planted, chosen, rng.integers(0, n_cat, len(customer))))
    keys = _sorted_unique(customer * n_products + product)  # drops repeats and sorts by customer
    customer, product = keys // n_products, keys % n_products
    # times drawn independently of products, so sorting them within each customer's rows is a fair draw too
    span = TS_RANGE[1] - TS_RANGE[0]
    ts = np.sort(customer * span + rng.integers(0, span, len(keys))) - customer * span + TS_RANGE[0]
    ratings = rng.choice(np.arange(1, 6, dtype=np.float32), size=len(keys), p=RATING_P)
    return CSR(_indptr(customer, n_customers), product.astype(np.int32), n_products, ts=ts), ratings


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """np.unique by sorting: numpy 2.4 picks a hash table for int64, about 90x slower on 6M keys (7.5 s)."""
    keys = np.sort(keys)
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return keys[first]


def _indptr(sorted_rows: np.ndarray, n_rows: int) -> np.ndarray:
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(sorted_rows, minlength=n_rows), out=indptr[1:])
    return indptr


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    """``prefix`` and a number zero-padded to `width` (or more), as the object array of str a snapshot holds."""
    width = max(width, len(str(max(n - 1, 0))))
    digits = pc.utf8_lpad(pa.array(np.arange(n)).cast(pa.string()), width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "").to_numpy(zero_copy_only=False).astype(object)


def _words(count: int) -> pa.Array:
    """`count` distinct pronounceable words, so titles read like text and tokenize like it."""
    k = len(_SYLLABLES)
    length = max(2, int(np.ceil(np.log(max(count, 2)) / np.log(k))))
    # a multiplier prime to k scatters the numbers, so one category's words do not share their endings
    scattered = np.arange(count, dtype=np.int64) * 7919 % k**length
    digits = (scattered[:, None] // k ** np.arange(length)) % k
    return pa.array(["".join(_SYLLABLES[d] for d in row) for row in digits.tolist()], type=pa.string())
