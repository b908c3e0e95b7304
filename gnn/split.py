"""The held-out protocol: which co-purchase pairs training never sees, and which products it never saw interact.

Labels (DESIGN.md, "Learning"): ``ALSO_BOUGHT`` a->b is the complement pair (query a, partner b; directional),
``ALSO_VIEWED`` a->b the substitute pair. **Rule for pairs in both lists: they count in both relations.** The
two lists are separate signals (bought by the same customers; viewed instead), so a pair in both is a positive
of each, and holding it out removes it from both lists, in both directions: a model must never read a held-out
complement off the substitute list, or off the reversed pair.

Three query populations, disjoint, drawn with one seeded generator among products that list a partner:

- **warm** (``warm_frac`` of products, ~10%): one partner per relation is held out from each sampled product
  that lists at least two in that relation, so it keeps the rest of its lists (the link-prediction setting of
  PinSage, Ying et al., KDD 2018);
- **cold** (``cold_frac``): *all* co-purchase pairs of the product are held out, as source and as target, in
  every list; its reviews are kept (a product that sells but was never listed beside others);
- **new** (``new_frac``): as cold, and its customer interactions (reviews, purchases, views) are removed too,
  leaving what a catalog knows on the day of listing: title, category, brand, price. This is the inductive
  case GraphSAGE is chosen for (Hamilton et al., NeurIPS 2017).

``valid`` holds out one partner per relation of a further ``valid_frac`` of warm-like products, disjoint from
the three populations, for early stopping: model selection never reads a test pair.

The held-out pairs of a population are the removed pairs whose *query* (source) is in it; a pair removed only
because its *target* is cold or new (a warm product listing a cold one) is removed but not scored, and the
evaluation still filters it as a known partner (see :attr:`Split.full`). Learned ``COMPLEMENT``/``SUBSTITUTE``
edges are dropped from the train graph: they come from a model fitted on the full graph.

The train snapshot keeps the full node id space, so product ``i`` is the same product in ``train``, ``full``
and every array here; a split is saved as the arrays alone and rebuilt from the same snapshot by
:meth:`Split.load`, which refuses another catalog.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graph.schema import CO_PURCHASE_TYPES, INTERACTION_TYPES, LABEL_TYPE, LEARNED_TYPES, RELATIONS
from graph.snapshot import CSR, Snapshot

POPULATIONS: tuple[str, ...] = ("warm", "cold", "new")


@dataclass
class Split:
    """A train graph and the pairs held out of it; see the module docstring for the protocol."""

    train: Snapshot  # same node ids as `full`; held-out pairs and new products' interactions removed
    # relation -> population -> int64 [m, 2] (query, held-out partner)
    heldout: dict[str, dict[str, np.ndarray]]
    # relation -> int64 [m, 2] warm pairs for early stopping, not in train either
    valid: dict[str, np.ndarray]
    cold: np.ndarray  # int64 product ids
    new: np.ndarray  # int64 product ids
    full: Snapshot  # the snapshot split; evaluation filters every known partner of a query with it
    seed: int = 0

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything that defines the split, by name (what :meth:`save` writes and :meth:`fingerprint` hashes)."""
        out: dict[str, np.ndarray] = {"cold": self.cold, "new": self.new}
        for relation in RELATIONS:
            out[f"valid/{relation}"] = self.valid[relation]
            for pop in POPULATIONS:
                out[f"heldout/{relation}/{pop}"] = self.heldout[relation][pop]
        return out

    def fingerprint(self) -> str:
        """A stable sha256 (16 hex digits) of the catalog and the held-out arrays; the seed does not enter it."""
        h = hashlib.sha256(catalog_fingerprint(self.full).encode())
        for name, arr in sorted(self.arrays().items()):
            h.update(name.encode())
            h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
        return h.hexdigest()[:16]

    def save(self, path: Path) -> None:
        """Write the split's arrays, its seed and the catalog's fingerprint to an ``.npz``."""
        arrays: dict[str, Any] = {k.replace("/", "__"): v for k, v in self.arrays().items()}
        with open(path, "wb") as f:
            np.savez(f, seed=np.int64(self.seed), catalog=np.str_(catalog_fingerprint(self.full)), **arrays)

    @staticmethod
    def load(path: Path, snap: Snapshot) -> Split:
        """Rebuild the split saved at `path` on `snap`, which must be the catalog it was made from."""
        with np.load(path, allow_pickle=False) as z:
            if str(z["catalog"]) != catalog_fingerprint(snap):
                raise ValueError(f"{path} was made on another catalog than this snapshot's")
            arrays = {k.replace("__", "/"): z[k] for k in z.files if k not in ("seed", "catalog")}
            seed = int(z["seed"])
        heldout = {
            relation: {pop: arrays[f"heldout/{relation}/{pop}"] for pop in POPULATIONS}
            for relation in RELATIONS
        }
        valid = {relation: arrays[f"valid/{relation}"] for relation in RELATIONS}
        return _assemble(snap, heldout, valid, arrays["cold"], arrays["new"], seed)


def catalog_fingerprint(snap: Snapshot) -> str:
    """sha256 of the product keys in id order: a split only means something over the same id space."""
    h = hashlib.sha256()
    for asin in snap.ids["Product"]:
        h.update(str(asin).encode() + b"\0")
    return h.hexdigest()[:16]


def make_split(
    snap: Snapshot,
    seed: int = 0,
    warm_frac: float = 0.10,
    cold_frac: float = 0.05,
    new_frac: float = 0.05,
    valid_frac: float = 0.05,
) -> Split:
    """Draw the held-out populations and pairs of `snap` with `seed` (same snapshot and seed, same split).

    The fractions are of all products; a population is drawn among the products eligible for it (cold and new:
    listing any partner; warm and valid: listing at least two in some relation once cold and new are cut), so
    a small catalog may get fewer.
    """
    rng = np.random.default_rng(seed)
    n = snap.n("Product")
    lists = {relation: snap.rel(LABEL_TYPE[relation]) for relation in RELATIONS}
    lists_any = np.any([c.degree() > 0 for c in lists.values()], axis=0)
    order = rng.permutation(np.flatnonzero(lists_any))
    n_new, n_cold = round(new_frac * n), round(cold_frac * n)
    new = np.sort(order[:n_new]).astype(np.int64)
    cold = np.sort(order[n_new : n_new + n_cold]).astype(np.int64)
    gone = np.zeros(n, dtype=bool)
    gone[new] = gone[cold] = True

    # what warm products still list once cold and new products are cut out of every list
    remaining: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for relation, csr in lists.items():
        src, dst = csr.coo()
        keep = ~gone[src] & ~gone[dst]
        remaining[relation] = (src[keep], dst[keep])
    degree = {relation: np.bincount(src, minlength=n) for relation, (src, _) in remaining.items()}
    eligible = np.flatnonzero(~gone & np.any([d >= 2 for d in degree.values()], axis=0))
    eligible = rng.permutation(eligible)
    n_warm, n_valid = round(warm_frac * n), round(valid_frac * n)
    warm = np.sort(eligible[:n_warm])
    valid_products = np.sort(eligible[n_warm : n_warm + n_valid])

    warm_keys = _sample_partners(rng, warm, remaining, degree, n)
    valid_keys = _sample_partners(rng, valid_products, remaining, degree, n)
    # a pair is held out as the list entries of its query products: only those in `warm` / `valid` are scored
    heldout: dict[str, dict[str, np.ndarray]] = {}
    valid: dict[str, np.ndarray] = {}
    for relation, csr in lists.items():
        src, dst = csr.coo()
        key = _pair_key(src, dst, n)
        heldout[relation] = {
            "warm": _pairs(src, dst, np.isin(src, warm) & np.isin(key, warm_keys)),
            "cold": _pairs(src, dst, np.isin(src, cold)),
            "new": _pairs(src, dst, np.isin(src, new)),
        }
        valid[relation] = _pairs(src, dst, np.isin(src, valid_products) & np.isin(key, valid_keys))
    return _assemble(snap, heldout, valid, cold, new, seed)


def _sample_partners(
    rng: np.random.Generator,
    products: np.ndarray,
    remaining: dict[str, tuple[np.ndarray, np.ndarray]],
    degree: dict[str, np.ndarray],
    n: int,
) -> np.ndarray:
    """Unordered pair keys of one uniformly drawn partner per relation of each product listing at least two."""
    keys = []
    for relation, (src, dst) in remaining.items():
        # src is sorted (CSR order), so each product's remaining partners are one contiguous run
        starts = np.searchsorted(src, products)
        take = degree[relation][products] >= 2
        pick = starts[take] + (rng.random(take.sum()) * degree[relation][products[take]]).astype(np.int64)
        keys.append(_pair_key(src[pick], dst[pick], n))
    return np.unique(np.concatenate(keys)) if keys else np.empty(0, np.int64)


def _pair_key(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """One int64 per unordered pair {a, b}: holding out a pair removes both of its directions."""
    a, b = a.astype(np.int64), b.astype(np.int64)
    return np.minimum(a, b) * n + np.maximum(a, b)


def _pairs(src: np.ndarray, dst: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.stack([src[mask], dst[mask]], axis=1).astype(np.int64).reshape(-1, 2)


def _assemble(
    snap: Snapshot,
    heldout: dict[str, dict[str, np.ndarray]],
    valid: dict[str, np.ndarray],
    cold: np.ndarray,
    new: np.ndarray,
    seed: int,
) -> Split:
    """The train snapshot that the held-out arrays imply: one function, so a loaded split is the made one."""
    n = snap.n("Product")
    removed = [p for pops in heldout.values() for p in pops.values()] + list(valid.values())
    removed_pairs = np.concatenate(removed) if removed else np.empty((0, 2), np.int64)
    removed_keys = np.unique(_pair_key(removed_pairs[:, 0], removed_pairs[:, 1], n))
    isolated = np.zeros(n, dtype=bool)
    isolated[cold] = isolated[new] = True
    silent = np.zeros(n, dtype=bool)
    silent[new] = True

    rels: dict[str, CSR] = {}
    for type_, csr in snap.rels.items():
        if type_ in LEARNED_TYPES:
            continue
        src, dst = csr.coo()
        if type_ in CO_PURCHASE_TYPES:
            keep = ~isolated[src] & ~isolated[dst] & ~np.isin(_pair_key(src, dst, n), removed_keys)
        elif type_ in INTERACTION_TYPES:
            keep = ~silent[dst]
        else:
            rels[type_] = csr
            continue
        rels[type_] = CSR.from_coo(
            src[keep],
            dst[keep],
            csr.n_rows,
            csr.n_cols,
            weights=None if csr.weights is None else csr.weights[keep],
            ts=None if csr.ts is None else csr.ts[keep],
        )
    train = Snapshot(ids=snap.ids, rels=rels, titles=snap.titles, prices=snap.prices)
    return Split(
        train=train,
        heldout=heldout,
        valid=valid,
        cold=np.asarray(cold, dtype=np.int64),
        new=np.asarray(new, dtype=np.int64),
        full=snap,
        seed=seed,
    )
