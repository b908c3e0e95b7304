"""Mutations need the right key; pins and blocks apply at once, and rules edited in the store itself show too."""

from __future__ import annotations

import httpx
import pytest

from graph.local_store import LocalStore
from tests.api.server import Server

BUNDLE = '{ bundle(productId: "C01", k: 5, diverse: false) { reason product { id } } }'
PIN = 'mutation($remove: Boolean = false) { pin(productId: "C01", otherId: "B07", relation: COMPLEMENT, remove: $remove) }'


def bundle_ids(server: Server) -> list[str]:
    return [r["product"]["id"] for r in server.data(BUNDLE)["bundle"]]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "pin needs an API key (header X-API-Key or Authorization: Bearer) with role merchandiser"),
        ({"X-API-Key": "wrong"}, "the API key is not valid"),
        ({"X-API-Key": "read-key"}, "pin needs role merchandiser; this key's role is reader"),
        ({"Authorization": "Bearer front-key"}, "pin needs role merchandiser; this key's role is frontend"),
    ],
)
def test_pin_refused_without_a_merchandiser_key(
    server: Server, headers: dict[str, str], message: str
) -> None:
    r = httpx.post(server.url + "/graphql", json={"query": PIN}, headers=headers)
    body = r.json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == message
    assert "B07" not in bundle_ids(server)


def test_track_event_needs_a_key(server: Server) -> None:
    body = server.gql('mutation { trackEvent(sessionId: "x", productId: "C00", type: VIEW) }')
    assert "trackEvent needs an API key" in body["errors"][0]["message"]
    body = server.gql('mutation { trackEvent(sessionId: "x", productId: "C00", type: VIEW) }', key="read-key")
    assert (
        body["errors"][0]["message"]
        == "trackEvent needs role frontend or merchandiser; this key's role is reader"
    )
    body = server.gql(
        'mutation { trackEvent(sessionId: "x", productId: "nope", type: VIEW) }', key="front-key"
    )
    assert body["errors"][0]["message"] == "unknown product 'nope'"


def test_pin_comes_first_and_can_be_removed(server: Server) -> None:
    assert server.data(PIN, key="merch-key") == {"pin": True}
    recs = server.data(BUNDLE)["bundle"]
    assert recs[0]["product"]["id"] == "B07" and recs[0]["reason"] == "pinned by a merchandiser"
    assert (
        server.data('{ bundle(productId: "C01", k: 3) { product { id } } }')["bundle"][0]["product"]["id"]
        == "B07"
    )
    server.data(PIN, {"remove": True}, key="merch-key")
    assert "B07" not in bundle_ids(server)


def test_block_pair_and_product(server: Server) -> None:
    assert bundle_ids(server)[0] == "L02"
    block_pair = (
        'mutation($r: Boolean = false) { block(productId: "C01", otherId: "L02", relation: ALL, remove: $r) }'
    )
    server.data(block_pair, key="merch-key")
    assert "L02" not in bundle_ids(server)
    server.data(block_pair, {"r": True}, key="merch-key")
    assert "L02" in bundle_ids(server)

    block_alone = (
        'mutation($r: Boolean = false) { block(productId: "M01", relation: COMPLEMENT, remove: $r) }'
    )
    server.data(block_alone, key="merch-key")
    assert "M01" not in bundle_ids(server)
    assert server.data('{ explain(productId: "C01", otherId: "M01") { rules } }')["explain"]["rules"] == [
        "BLOCKED complement (the product itself)"
    ]
    server.data(block_alone, {"r": True}, key="merch-key")
    assert "M01" in bundle_ids(server)


def test_mutation_errors_are_clear(server: Server) -> None:
    body = server.gql('mutation { pin(productId: "C01", otherId: "nope", relation: ALL) }', key="merch-key")
    assert body["errors"][0]["message"] == "unknown product 'nope'"
    body = server.gql('mutation { pin(productId: "C01", otherId: "C01", relation: ALL) }', key="merch-key")
    assert "its own list" in body["errors"][0]["message"]


def test_rule_edited_in_the_store_shows_after_the_next_refresh(server: Server) -> None:
    """As a merchandiser editing in Neo4j Browser: the store changes behind the API's back, and the first read of
    the rules that began after the edit applies it (and the one after the undo lifts it)."""
    store = LocalStore(server.store_dir)
    assert "L02" in bundle_ids(server)
    assert store.set_rule("BLOCKED", "C01", "L02", "complement")
    try:
        server.wait_for_rules_read()
        assert "L02" not in bundle_ids(server)
    finally:
        store.set_rule("BLOCKED", "C01", "L02", "complement", on=False)
    server.wait_for_rules_read()
    assert "L02" in bundle_ids(server)
