"""A schema fuzz of the GraphQL API (hypothesis-graphql) against the running server.

Operations are generated from the schema the server itself reports by introspection: valid ones (any field,
argument, alias and nesting the schema allows) and ones with exactly one schema violation. Whatever comes in,
the answer is a JSON GraphQL response (never a 500), every error is a GraphQL error with a message, no error is
an unexpected exception (masked as "Unexpected error."), and no body carries a stack trace. Mutations go with
a merchandiser key, so they reach their resolvers instead of stopping at auth.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from graphql import GraphQLSchema, build_client_schema, get_introspection_query
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from tests.api.server import Server

FUZZ = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TRACE_MARKS = ("Traceback", 'File "/', "site-packages", '.py", line')


@pytest.fixture(scope="module")
def schema(served: Server) -> GraphQLSchema:
    return build_client_schema(served.data(get_introspection_query()))


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, headers={"X-API-Key": "merch-key"}) as c:
        yield c


def check(served: Server, client: httpx.Client, query: str) -> None:
    r = client.post(served.url + "/graphql", json={"query": query})
    assert r.status_code < 500, (query, r.status_code, r.text[:500])
    assert not any(mark in r.text for mark in TRACE_MARKS), (query, r.text[:500])
    body = r.json()
    assert isinstance(body, dict) and ("data" in body or "errors" in body), (query, body)
    for error in body.get("errors") or ():
        assert isinstance(error.get("message"), str) and error["message"], (query, error)
        assert error["message"] != "Unexpected error.", (
            query,
            "an exception escaped a resolver; see the server log",
        )


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "one-violation"])
def test_no_generated_operation_breaks_the_server(
    served: Server, client: httpx.Client, schema: GraphQLSchema, mode: Mode
) -> None:
    @FUZZ
    @given(query=from_schema(schema, mode=mode))
    def fuzz(query: str) -> None:
        check(served, client, query)

    fuzz()
    assert served.process.poll() is None
    assert served.data("{ ping }") == {"ping": "pong"}


DEEP_QUERY = "{ product(id: 1) " + "{ a " * 600 + "}" * 601  # under the token limit, past the recursion limit


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
@example(body=b"\x80")  # not UTF-8
@example(body=b"[" * 5000)  # JSON nested past the recursion limit
@example(body=json.dumps({"query": DEEP_QUERY}).encode())
@example(body=json.dumps({"query": "{ ping }", "variables": {"v": [[[[[[[[[[]]]]]]]]]]}}).encode())
def test_arbitrary_request_bodies_get_graphql_errors(
    served: Server, client: httpx.Client, body: bytes
) -> None:
    r = client.post(served.url + "/graphql", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (200, 400), (body, r.status_code, r.text[:300])
    assert not any(mark in r.text for mark in TRACE_MARKS), (body, r.text[:300])
    errors = r.json().get("errors") if r.status_code == 400 else None
    assert r.status_code == 200 or (errors and all(isinstance(e["message"], str) for e in errors)), r.text
