"""Every query of the schema against the real server over the fixture graph (see fixture_graph.py)."""

from __future__ import annotations

import re

import httpx

from tests.api.server import Server

REC = "score reason product { id title brand price categories }"


def ids(recs: list[dict]) -> list[str]:
    return [r["product"]["id"] for r in recs]


def test_product_and_products(server: Server) -> None:
    data = server.data(
        'query { product(id: "C03") { id title brand price categories } '
        'products(ids: ["L01", "nope", "B07"]) { id title price } }'
    )
    assert data["product"] == {
        "id": "C03",
        "title": "Camera C03",
        "brand": "Zenith",
        "price": 40.0,
        "categories": ["photo", "cameras"],
    }
    assert data["products"][0]["id"] == "L01"
    assert data["products"][1] is None  # unknown ids are null, in place
    assert data["products"][2] == {"id": "B07", "title": "Bag B07", "price": None}


def test_unknown_product_is_null(server: Server) -> None:
    assert server.data('{ product(id: "zzz") { id } }') == {"product": None}


def test_similar_is_the_substitute_list(server: Server) -> None:
    data = server.data(f'{{ similar(productId: "C00", k: 3) {{ {REC} }} }}')
    assert ids(data["similar"]) == ["C02", "C01", "C03"]  # the model's order (fixture_graph.model_lists)
    first = data["similar"][0]
    assert first["score"] == 0.9 and "Camera C00" in first["reason"]
    scores = [r["score"] for r in data["similar"]]
    assert scores == sorted(scores, reverse=True)


def test_bundle_diverse_takes_one_per_category_first(server: Server) -> None:
    plain = server.data('{ bundle(productId: "C00", k: 5, diverse: false) { product { id } } }')["bundle"]
    assert ids(plain) == ["L01", "L00", "L02", "M00", "B00"]
    diverse = server.data('{ bundle(productId: "C00", k: 3) { product { id categories } } }')["bundle"]
    assert ids(diverse) == ["L01", "M00", "B00"]  # the default is diverse: a lens, a card, a bag


def test_filters(server: Server) -> None:
    q = 'query($f: RecFilter) { bundle(productId: "C00", k: 10, diverse: false, filter: $f) { product { id price } } }'
    no_lenses = server.data(q, {"f": {"excludeCategories": ["lenses"]}})["bundle"]
    assert ids(no_lenses) == ["M00", "B00"]
    cheap = server.data(q, {"f": {"maxPrice": 15.0}})["bundle"]
    assert ids(cheap) == ["L00", "M00", "B00"]  # L01 costs 20, L02 30
    bags = server.data('{ similar(productId: "B03", k: 5, filter: {minPrice: 0}) { product { id } } }')[
        "similar"
    ]
    assert ids(bags) == ["B04"]  # B05 and B06 have no price: with a price bound they are left out
    body = server.gql(q, {"f": {"excludeCategories": ["nope"]}})
    assert body["errors"][0]["message"] == "unknown category 'nope'"
    body = server.gql(q, {"f": {"minPrice": 50, "maxPrice": 10}})
    assert "minPrice 50.0 is above maxPrice 10.0" in body["errors"][0]["message"]


def test_cart_is_excluded_via_the_session_filter(server: Server) -> None:
    server.data('mutation { trackEvent(sessionId: "cart-1", productId: "L01", type: CART) }', key="front-key")
    q = 'query($f: RecFilter) { bundle(productId: "C00", k: 3, filter: $f) { product { id } } }'
    assert ids(server.data(q, {"f": {"sessionId": "cart-1"}})["bundle"]) == ["L00", "M00", "B00"]
    kept = server.data(q, {"f": {"sessionId": "cart-1", "excludeCart": False}})["bundle"]
    assert ids(kept) == ["L01", "M00", "B00"]


def test_recommendations_fall_back_to_history_then_popular(server: Server) -> None:
    history = server.data(f'{{ recommendations(customerId: "U4", k: 3) {{ {REC} }} }}', key="front-key")[
        "recommendations"
    ]
    assert len(history) == 3
    assert all("because you reviewed" in r["reason"] for r in history)
    assert not {"C04", "L04", "M04"} & set(ids(history))  # what they reviewed is not recommended back
    popular = server.data("{ recommendations(k: 4) { reason product { id } } }")["recommendations"]
    assert len(popular) == 4 and all(r["reason"] == "popular right now" for r in popular)


def test_track_event_changes_the_next_answer(server: Server) -> None:
    q = 'query { recommendations(sessionId: "s-track", k: 5) { reason product { id } } }'
    before = server.data(q)["recommendations"]
    assert all(r["reason"] == "popular right now" for r in before)  # nothing known about this session yet
    assert server.data(
        'mutation { trackEvent(sessionId: "s-track", productId: "C05", type: VIEW) }', key="front-key"
    ) == {"trackEvent": True}
    after = server.data(q)["recommendations"]
    assert ids(after) != ids(before)
    assert "L05" in ids(after) and "C05" not in ids(after)
    assert after[0]["reason"] == "because you viewed “Camera C05”"
    server.data(
        'mutation { trackEvent(sessionId: "s-track", productId: "L05", type: PURCHASE) }', key="front-key"
    )
    bought = server.data(q)["recommendations"]
    assert "L05" not in ids(bought)  # a purchase is excluded by default
    assert ids(bought) != ids(after)


def test_explain(server: Server) -> None:
    data = server.data(
        '{ explain(productId: "C02", otherId: "L02") { product { id } other { id } sharedCustomers '
        "sharedCustomerIds paths { nodes relations text } modelVersion scores { relation score rank } "
        "embeddingSimilarity rules } }",
        key="merch-key",  # the shared customers' ids are for merchandisers (tests/api/test_privacy.py)
    )["explain"]
    assert data["product"]["id"] == "C02" and data["other"]["id"] == "L02"
    assert data["sharedCustomers"] == 1 and data["sharedCustomerIds"] == ["U2"]
    texts = [p["text"] for p in data["paths"]]
    assert "Product:C02 -[ALSO_BOUGHT]-> Product:L02" in texts
    assert "Product:C02 -[IN_CATEGORY]-> Category:photo <-[IN_CATEGORY]- Product:L02" in texts
    complement = next(s for s in data["scores"] if s["relation"] == "COMPLEMENT")
    assert complement["rank"] == 2 and complement["score"] > 0  # the model ranks L03 first for C02
    assert -1.0 <= data["embeddingSimilarity"] <= 1.0
    assert server.data('{ explain(productId: "C02", otherId: "nope") { modelVersion } }') == {"explain": None}


def test_health_ready_metrics(server: Server) -> None:
    assert httpx.get(server.url + "/healthz").json() == {"ok": True}
    ready = server.ready()
    assert (
        ready["ready"] is True and ready["model"]["source"] == "registry" and ready["rules"]["fresh"] is True
    )
    server.data("{ ping }")
    text = httpx.get(server.url + "/metrics").text
    assert 'kgrec_graphql_operations_total{field="ping",outcome="ok"}' in text
    assert "kgrec_http_request_seconds_bucket" in text
    assert "kgrec_model_info{" in text and 'source="registry"' in text
    # the rules reads counted on /readyz, as a counter on /metrics (read later: never fewer)
    reads = re.search(r"^kgrec_rules_reads_total (\S+)$", text, re.MULTILINE)
    assert reads and float(reads.group(1)) >= ready["rules"]["reads"] >= 1


def test_graphiql_page_is_served_locally(server: Server) -> None:
    r = httpx.get(server.url + "/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 200 and "graphiql.min.js" in r.text
    assert "unpkg.com" not in r.text
    assert httpx.get(server.url + "/graphiql/graphiql.min.js").status_code == 200
