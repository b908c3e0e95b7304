"""Sessions: recent events per session id, in this process's memory, and the recommendations they seed.

A session lives as long as it is used within ``ttl_s``, and at most ``max_sessions`` are kept (least recently
used dropped first), so memory stays bounded under any traffic. State is per process: behind a load balancer,
route a session to one replica (sticky sessions) or the replicas will each see part of it. Events come in by
:func:`record_event` (``trackEvent``, from either executor), which checks them all before recording any.

Ranking (:func:`recommend`): the most recent events are seeds, weighted by event type and recency. Candidates
come from Pixie random walks that restart at the seeds, over the complement walk graph (each seed's walk is walked
once and kept; a session's are combined with Pixie's booster: graph/walks/visits.py ProductVisits), and from the seeds'
complement and substitute lists in the serving index (rank-weighted; this keeps the model's learned lists, which
cover products without edges, in play). Both kinds of evidence are scaled to [0, 1] and summed per candidate, then
re-ranked with the cosine between each candidate's embedding and the seeds' weighted mean embedding. With no
session events the reviewed products of a customer the caller named, and may read, seed instead; remaining
places go to popular products.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import numpy as np

from api.caches import RankedAnswer, SessionKey
from api.catalog import WALK_CANDIDATES, Catalog, Filter
from api.index import ServingIndex
from api.limits import ClientError
from graph.walks import ProductVisits

EVENT_WEIGHT = {"VIEW": 1.0, "CART": 2.0, "PURCHASE": 3.0, "REVIEW": 1.5}
EVENT_VERB = {"VIEW": "viewed", "CART": "added to your cart", "PURCHASE": "bought", "REVIEW": "reviewed"}
RECENCY_DECAY = 0.8  # the weight of a seed shrinks by this factor per newer event
RELATION_WEIGHT = {"complement": 1.0, "substitute": 0.6}  # what goes with it beats what replaces it
LIST_DEPTH = 50  # entries read from each seed's list
EMBEDDING_WEIGHT = 0.4  # share of the final score that comes from embedding similarity
MAX_EVENTS = 50
MAX_ID_LENGTH = 200  # session and customer ids are kept in memory: bound what one call can store
WALKED = -2  # seed index of a candidate that only the walk found (its seed is chosen after ranking)


@dataclass
class Session:
    events: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    cart: set[int] = field(default_factory=set)
    purchased: set[int] = field(default_factory=set)
    # who the frontend said this shopper is (trackEvent's customerId); recommendations never read it, so a
    # session id reveals that session's events and no customer's history (api/ranking.py for_session)
    customer: str | None = None
    seen: float = field(default_factory=time.monotonic)
    # the last recommendations answered for this state, by what else they depend on (model, rules, k, customer):
    # a session asks again between events far more often than it changes (api/ranking.py)
    answer: tuple[SessionKey, RankedAnswer] | None = None


class SessionStore:
    """Sessions by id: LRU-bounded and expiring after `ttl_s` without use."""

    def __init__(self, max_sessions: int, ttl_s: float) -> None:
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str) -> Session | None:
        s = self._sessions.get(session_id)
        if s is None:
            return None
        if time.monotonic() - s.seen > self.ttl_s:
            del self._sessions[session_id]
            return None
        return s

    def track(self, session_id: str, product: int, type_: str, customer: str | None) -> Session:
        """Record an event (VIEW, CART, PURCHASE); a purchase also leaves the cart."""
        s = self.get(session_id)
        if s is None:
            s = self._sessions[session_id] = Session()
        self._sessions.move_to_end(session_id)
        s.seen = time.monotonic()
        s.answer = None  # its state changes: the next recommendations are ranked afresh
        s.events.append((product, type_))
        if type_ == "CART":
            s.cart.add(product)
        elif type_ == "PURCHASE":
            s.cart.discard(product)
            s.purchased.add(product)
        if customer is not None:
            s.customer = customer
        self._evict()
        return s

    def _evict(self) -> None:
        now = time.monotonic()
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if len(self._sessions) <= self.max_sessions and now - oldest.seen <= self.ttl_s:
                break
            self._sessions.popitem(last=False)


def record_event(
    sessions: SessionStore,
    catalog: Catalog,
    session_id: str,
    product_id: str,
    type_: str,
    customer_id: str | None,
) -> None:
    """Record a ``trackEvent``; every check comes first, so a refused event changes nothing (the direct executor,
    api/fastpath.py, relies on that to hand a refused one to GraphQL execution)."""
    pos = catalog.position_of(product_id)
    session = _check_id(session_id, "sessionId")
    customer = None if customer_id is None else _check_id(customer_id, "customerId")
    sessions.track(session, pos, type_, customer)


def _check_id(value: str, what: str) -> str:
    if not value or len(value) > MAX_ID_LENGTH:
        raise ClientError(f"{what} must be 1 to {MAX_ID_LENGTH} characters")
    return value


@dataclass(frozen=True)
class Seeds:
    """Products that seed a recommendation, with weights and the verb a reason uses ("because you viewed")."""

    positions: np.ndarray  # int64
    weights: np.ndarray  # float32
    verbs: tuple[str, ...]

    @staticmethod
    def of_session(session: Session, recent: int) -> Seeds:
        """The last `recent` distinct products, newest first; a repeated product keeps its strongest event."""
        best: dict[int, tuple[float, str]] = {}
        for age, (pos, type_) in enumerate(reversed(session.events)):
            if pos not in best and len(best) >= recent:
                continue
            w = EVENT_WEIGHT[type_] * RECENCY_DECAY**age
            if pos not in best or w > best[pos][0]:
                best[pos] = (w, type_)
        return Seeds(
            np.fromiter(best.keys(), dtype=np.int64, count=len(best)),
            np.asarray([w for w, _ in best.values()], dtype=np.float32),
            tuple(EVENT_VERB[t] for _, t in best.values()),
        )

    @staticmethod
    def of_history(items: np.ndarray) -> Seeds:
        weights = EVENT_WEIGHT["REVIEW"] * RECENCY_DECAY ** np.arange(len(items), dtype=np.float32)
        return Seeds(items, weights.astype(np.float32), (EVENT_VERB["REVIEW"],) * len(items))


@dataclass(frozen=True)
class SessionRanked:
    positions: np.ndarray  # int64
    scores: np.ndarray  # float32
    seed: np.ndarray  # int64: index into Seeds of the strongest seed, -1 for a popular product


def _list_evidence(index: ServingIndex, seeds: Seeds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(candidate, contribution, seed index) from each seed's ranked lists: weight x relation / (1 + rank)."""
    cand_parts, contrib_parts, seed_parts = [], [], []
    for s, pos in enumerate(seeds.positions.tolist()):
        for relation, weight in RELATION_WEIGHT.items():
            idx = index.row(relation, pos)[0][:LIST_DEPTH]
            cand_parts.append(idx)
            contrib_parts.append(seeds.weights[s] * weight / (1.0 + np.arange(len(idx), dtype=np.float32)))
            seed_parts.append(np.full(len(idx), s, dtype=np.int64))
    if not cand_parts:
        return np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.int64)
    return (
        np.concatenate(cand_parts).astype(np.int64),
        np.concatenate(contrib_parts).astype(np.float32),
        np.concatenate(seed_parts),
    )


def _walk_evidence(visits: ProductVisits, seeds: Seeds) -> tuple[np.ndarray, np.ndarray]:
    """Pixie visit scores of walks from the seeds, combined from each seed's own kept walk (graph/walks/visits.py), so
    the same session state always gets the same answer."""
    query = dict(zip(seeds.positions.tolist(), seeds.weights.astype(np.float64).tolist(), strict=True))
    found = visits.query(query, k=WALK_CANDIDATES)
    return found.products, found.scores


def _scaled(x: np.ndarray) -> np.ndarray:
    top = float(x.max()) if len(x) else 0.0
    return x / top if top > 0 else x


def recommend(
    catalog: Catalog,
    index: ServingIndex,
    seeds: Seeds,
    k: int,
    blocked: np.ndarray,
    keep: Filter | None,
    visits: ProductVisits | None = None,
) -> SessionRanked:
    """Top `k` for `seeds` (see the module docstring), then popular products for the places left."""
    cand, contrib, seed_of = _list_evidence(index, seeds)
    contrib = _scaled(contrib)
    if visits is not None and len(seeds.positions):
        walked, visited = _walk_evidence(visits, seeds)
        cand = np.concatenate([cand, walked])
        contrib = np.concatenate([contrib, _scaled(visited)]).astype(np.float32)
        seed_of = np.concatenate([seed_of, np.full(len(walked), WALKED, dtype=np.int64)])
    ok = ~blocked[cand] & ~np.isin(cand, seeds.positions)
    if keep is not None:
        ok &= keep.keep(catalog, cand)
    cand, contrib, seed_of = cand[ok], contrib[ok], seed_of[ok]

    uniq, inverse = np.unique(cand, return_inverse=True)
    total = np.bincount(inverse, weights=contrib, minlength=len(uniq)).astype(np.float32)
    strongest = np.lexsort((-contrib, inverse))  # per candidate, its largest contribution comes first
    first = np.ones(len(strongest), dtype=bool)
    first[1:] = inverse[strongest][1:] != inverse[strongest][:-1]
    best_seed = seed_of[strongest][first]  # aligned with uniq (inverse sorted ascending)
    if len(uniq):
        emb = index.embeddings
        profile = seeds.weights @ emb[seeds.positions]
        norm = float(np.linalg.norm(profile))
        cosine = emb[uniq] @ (profile / norm) if norm > 0 else np.zeros(len(uniq), np.float32)
        score = (1 - EMBEDDING_WEIGHT) * total / total.max() + EMBEDDING_WEIGHT * cosine
        order = np.argsort(-score, kind="stable")[:k]
        positions, scores, seed = uniq[order], score[order].astype(np.float32), best_seed[order]
        walked_only = seed == WALKED
        if walked_only.any():  # name the seed the walk most likely came from: the closest in embedding space
            seed[walked_only] = np.argmax(emb[positions[walked_only]] @ emb[seeds.positions].T, axis=1)
    else:
        positions, scores, seed = uniq, total, np.empty(0, np.int64)

    if len(positions) < k:
        pop = catalog.popular
        ok = ~blocked[pop] & ~np.isin(pop, seeds.positions) & ~np.isin(pop, positions)
        if keep is not None:
            ok &= keep.keep(catalog, pop)
        extra = pop[ok][: k - len(positions)]
        # popular fill-ins rank below every seeded candidate, in popularity order
        start = float(scores.min()) if len(scores) else 1.0
        positions = np.concatenate([positions, extra])
        scores = np.concatenate([scores, start - 1e-3 * (1 + np.arange(len(extra), dtype=np.float32))])
        seed = np.concatenate([seed, np.full(len(extra), -1, dtype=np.int64)])
    return SessionRanked(positions, scores.astype(np.float32), seed)
