"""The whole-response cache (api/caches.py): repeats skip GraphQL, and nothing stale or stateful is served."""

from __future__ import annotations

import re

import httpx

from api.caches import cacheable
from api.schema import PURE_FIELDS
from tests.api.server import Server

BUNDLE = '{ bundle(productId: "C01", k: 5) { score product { id title } } }'


def cache_count(server: Server, result: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=5).text
    m = re.search(rf'^kgrec_response_cache_total{{result="{result}"}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def test_what_may_be_cached():
    assert cacheable({"query": BUNDLE}, PURE_FIELDS)
    assert cacheable(
        {"query": "query Q($id: ID!) { similar(productId: $id) { score } }", "variables": {"id": "a"}},
        PURE_FIELDS,
    )
    assert cacheable({"query": '{ similar(productId: "a", filter: {maxPrice: 3}) { score } }'}, PURE_FIELDS)
    assert not cacheable(
        {"query": '{ recommendations(sessionId: "s") { score } }'}, PURE_FIELDS
    )  # session state
    assert not cacheable(
        {"query": '{ bundle(productId: "a", filter: {sessionId: "s"}) { score } }'}, PURE_FIELDS
    )
    q = 'query Q($f: RecFilter) { bundle(productId: "a", filter: $f) { score } }'
    assert cacheable({"query": q, "variables": {"f": {"maxPrice": 3}}}, PURE_FIELDS)
    assert not cacheable({"query": q, "variables": {"f": {"sessionId": "s"}}}, PURE_FIELDS)
    assert not cacheable({"query": 'mutation { block(productId: "a", relation: ALL) }'}, PURE_FIELDS)
    assert not cacheable(
        {"query": "{ bundle(productId: "}, PURE_FIELDS
    )  # not GraphQL: strawberry answers the error
    assert not cacheable([{"query": BUNDLE}], PURE_FIELDS)  # batches execute
    assert not cacheable(None, PURE_FIELDS)


def test_a_repeat_is_a_hit_with_the_same_answer(server: Server):
    first = server.gql(BUNDLE)
    hits = cache_count(server, "hit")
    assert server.gql(BUNDLE) == first
    assert cache_count(server, "hit") == hits + 1


def test_a_rule_change_empties_the_cache(server: Server):
    before = server.data(BUNDLE)["bundle"]
    server.data(BUNDLE)  # cached now
    pin = 'mutation($r: Boolean!) { pin(productId: "C01", otherId: "B07", relation: COMPLEMENT, remove: $r) }'
    assert server.data(pin, {"r": False}, key="merch-key")["pin"]
    try:
        pinned = server.data(BUNDLE)["bundle"]
        assert pinned[0]["product"]["id"] == "B07" != before[0]["product"]["id"]
    finally:
        assert server.data(pin, {"r": True}, key="merch-key")["pin"]
    assert server.data(BUNDLE)["bundle"] == before


def test_errors_are_not_cached(server: Server):
    bad = '{ bundle(productId: "no-such-product", k: 5) { score } }'
    assert server.gql(bad)["errors"]
    misses = cache_count(server, "miss")
    assert server.gql(bad)["errors"]
    assert cache_count(server, "miss") == misses + 1
