"""Limits refuse abusive requests before any resolver runs, with messages a client can act on.

The server under test has max_depth 6, max_aliases 5, max_cost 3000, max_batch 3 (conftest.py).
"""

from __future__ import annotations

import httpx
import pytest

from tests.api.server import Server


def first_error(server: Server, query: str, variables: dict | None = None) -> str:
    body = server.gql(query, variables)
    assert body.get("data") is None, body
    return body["errors"][0]["message"]


@pytest.mark.parametrize("k", [0, -1, 101, 5000])
def test_k_out_of_range(server: Server, k: int) -> None:
    for field in ('similar(productId: "C00"', 'bundle(productId: "C00"', "recommendations("):
        sep = "" if field.endswith("(") else ", "
        msg = first_error(server, f"{{ {field}{sep}k: {k}) {{ score }} }}")
        assert msg == f"k must be between 1 and 100, got {k}"


def test_k_as_a_variable(server: Server) -> None:
    msg = first_error(server, 'query($k: Int!) { similar(productId: "C00", k: $k) { score } }', {"k": 1000})
    assert msg == "k must be between 1 and 100, got 1000"


def test_too_deep(server: Server) -> None:
    q = '{ explain(productId: "C00", otherId: "L00") { product { id } other { id } paths { nodes } } }'
    server.data(q)  # depth 3: fine
    # the schema has no cycles, so only a query of made-up fields goes deeper; depth is checked before them
    deep = 'query Deep { product(id: "C00") { a { b { c { d { e { f { g } } } } } } } }'
    body = server.gql(deep)
    assert body["errors"][0]["message"] == "'Deep' exceeds maximum operation depth of 6"


def test_alias_flood(server: Server) -> None:
    aliases = " ".join(f'a{i}: product(id: "C00") {{ id }}' for i in range(20))
    assert first_error(server, "{ " + aliases + " }") == "20 aliases found. Allowed: 5"


def test_cost_limit(server: Server) -> None:
    fields = "score reason product { id title brand price categories }"
    q = " ".join(f'b{i}: bundle(productId: "C0{i}", k: 100) {{ {fields} }}' for i in range(4))
    msg = first_error(server, "{ " + q + " }")
    # each list: 1 + k x (score + reason + product + its 5 fields) = 801
    assert msg.startswith("query cost 3204 exceeds the limit of 3000")
    one = server.data(f'query($k: Int!) {{ bundle(productId: "C00", k: $k) {{ {fields} }} }}', {"k": 100})
    assert len(one["bundle"]) == 5  # cost 801 is within the limit; the list is as long as it is


def test_huge_document_is_refused_while_parsing(server: Server) -> None:
    q = "{ " + " ".join("ping" for _ in range(3000)) + " }"
    msg = first_error(server, q)
    assert "token" in msg.lower()


def test_batches(server: Server) -> None:
    ok = httpx.post(server.url + "/graphql", json=[{"query": "{ ping }"}] * 3)
    assert ok.status_code == 200 and [b["data"] for b in ok.json()] == [{"ping": "pong"}] * 3
    too_many = httpx.post(server.url + "/graphql", json=[{"query": "{ ping }"}] * 4)
    assert too_many.status_code == 400
    assert too_many.json() == {"errors": [{"message": "too many operations in one batch: at most 3"}]}


def test_errors_never_carry_a_stack_trace(server: Server) -> None:
    body = server.gql("{ nope }")
    assert body["errors"][0]["message"] == "Cannot query field 'nope' on type 'Query'."
    assert "Traceback" not in str(body) and "extensions" not in body["errors"][0]
    bad = httpx.post(
        server.url + "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400 and bad.json() == {
        "errors": [{"message": "Unable to parse request body as JSON"}]
    }


def test_a_body_over_the_limit_is_refused_before_parsing(server: Server) -> None:
    """65,536 bytes by default: a declared larger body is refused unread, a chunked one as soon as it passes the
    limit; either way a 413 with a GraphQL error, and the server answers the next request as usual."""
    big = b'{"query": "{ ping }", "pad": "' + b"x" * 70_000 + b'"}'
    declared = httpx.post(server.url + "/graphql", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413
    assert declared.json() == {"errors": [{"message": "request body over the limit of 65536 bytes"}]}

    def chunks():
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    chunked = httpx.post(
        server.url + "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413 and "over the limit" in chunked.json()["errors"][0]["message"]
    # just under the limit, and chunked: read whole and answered
    ok = b'{"query": "{ ping }", "pad": "' + b"x" * 60_000 + b'"}'
    small = httpx.post(
        server.url + "/graphql",
        content=(ok[i : i + 4096] for i in range(0, len(ok), 4096)),
        headers={"content-type": "application/json"},
    )
    assert small.status_code == 200 and small.json() == {"data": {"ping": "pong"}}
