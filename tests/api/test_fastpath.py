"""The direct executor (api/fastpath.py) answers exactly what GraphQL execution answers, and declines the rest.

In process, over the fixture graph: every shape it plans is run both ways (strawberry's execution is the
reference) and compared; the shapes and requests it must leave to GraphQL are checked to be declined. Over HTTP,
the real server counts what it answered directly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time

import httpx
import pytest
from starlette.requests import Request
from strawberry.types import ExecutionResult

import tests.api.fixture_graph as fg
from api.app import GraphQLApp
from api.auth import Caller, customer_token
from api.serving import Context, Serving
from api.settings import Settings
from gnn.registry import Registry
from tests.api.server import Server

REC = "score reason product { id title brand price categories }"
PLANNED = [
    ("{ ping }", None),
    ("{ a: ping b: ping __typename_is_not_here: ping }", None),
    ('{ bundle(productId: "C01") { ' + REC + " } }", None),
    ('{ bundle(productId: "C01", k: 3, diverse: false) { score product { id } } }', None),
    ('{ bundle(productId: "C02", k: 7, diverse: true) { __typename t: __typename reason } }', None),
    (
        "query B($id: ID!, $k: Int = 4) { x: bundle(productId: $id, k: $k) { s: score p: product { __typename i: id "
        "title } } }",
        {"id": "C03"},
    ),
    ("query B($id: ID!, $k: Int = 4) { bundle(productId: $id, k: $k) { score } }", {"id": "L05", "k": 9}),
    ('{ similar(productId: "M04", k: 2) { ' + REC + " } }", None),
    ("query S($id: ID!) { similar(productId: $id) { product { categories price } } }", {"id": "B07"}),
    ('{ ping b: bundle(productId: "B01", k: 2) { score } s: similar(productId: "B01") { reason } }', None),
    ('{ bundle(productId: "C01", filter: null) { score } }', None),
    ('{ recommendations(sessionId: "fast-1", k: 5) { ' + REC + " } }", None),
    ("{ recommendations { score reason product { id } } }", None),
    (
        "query R($s: ID, $k: Int!) { recommendations(sessionId: $s, k: $k) { score } }",
        {"s": "fast-1", "k": 3},
    ),
    ("query Named { ping }", None),
    # variables: defaults, absent nullable ones (the argument's default
    # applies), explicit nulls, booleans, an int given for an ID and a float for an Int (graphql-core coerces both)
    ('query D($id: ID! = "C01", $k: Int) { bundle(productId: $id, k: $k) { score } x: ping }', None),
    (
        'query D($d: Boolean!, $k: Int) { bundle(productId: "C06", diverse: $d, k: $k) { product { id } } }',
        {"d": False},
    ),
    (
        'query D($d: Boolean = false) { bundle(productId: "C06", diverse: $d) { product { id } } }',
        {"d": True},
    ),
    ("query D($s: ID) { recommendations(sessionId: $s) { reason } }", {"s": 7}),
    ('{ recommendations(sessionId: "' + "x" * 300 + '") { score } }', None),
    ('query D($k: Int!) { bundle(productId: "C06", k: $k) { score } }', {"k": 3.0}),
]
TOKEN = customer_token(fg.CUSTOMER_TOKEN_SECRET, "U1", int(time.time()) + 3600)
# (query, variables, role): a customer's history, for the callers who may read it (api/auth.py check_customer)
CUSTOMER_ALLOWED = [
    ('{ recommendations(customerId: "U3") { score reason product { id } } }', None, "frontend"),
    (
        "query D($s: ID, $c: ID) { recommendations(sessionId: $s, customerId: $c) { score reason } }",
        {"s": None, "c": "U1"},
        "merchandiser",
    ),
    (
        "query D($c: ID, $t: String) { recommendations(customerId: $c, customerToken: $t) { reason } }",
        {"c": "U1", "t": TOKEN},
        None,
    ),
    ('{ recommendations(customerId: "U1", customerToken: "' + TOKEN + '") { reason } }', None, "reader"),
]
# (query, variables, role, the error both executors' GraphQL answer gives): the direct executor declines them
CUSTOMER_REFUSED = [
    (
        '{ recommendations(customerId: "U3") { score } }',
        None,
        None,
        "recommendations for a customerId needs an API key (header X-API-Key or Authorization: Bearer) with "
        "role frontend or merchandiser, or the customer's customerToken",
    ),
    (
        "query D($s: ID, $c: ID) { recommendations(sessionId: $s, customerId: $c) { score } }",
        {"s": "fast-1", "c": "U1"},
        "reader",
        "recommendations for a customerId needs role frontend or merchandiser; this key's role is reader",
    ),
    (
        "query D($c: ID, $t: String) { recommendations(customerId: $c, customerToken: $t) { reason } }",
        {"c": "U3", "t": TOKEN},
        "frontend",
        "the customerToken is not valid for this customerId",
    ),
    (
        'query D($t: String) { recommendations(sessionId: "fast-1", customerToken: $t) { reason } }',
        {"t": TOKEN},
        None,
        "customerToken goes with the customerId it was signed for",
    ),
]
DECLINED_PLANS = [
    '{ product(id: "C01") { id } }',  # not a root it plans
    'mutation { a: trackEvent(sessionId: "s", productId: "C01", type: VIEW) '
    'b: trackEvent(sessionId: "s", productId: "C02", type: VIEW) }',  # one event at a time
    'mutation { trackEvent(sessionId: "s", productId: "C01", type: VIEW) pin(productId: "C01", otherId: "C02") }',
    'mutation { pin(productId: "C01", otherId: "C02") }',
    'mutation @skip(if: false) { trackEvent(sessionId: "s", productId: "C01", type: VIEW) }',
    '{ bundle(productId: "C01") { ...R } } fragment R on Recommendation { score }',
    '{ bundle(productId: "C01") { score @include(if: true) } }',
    '{ bundle(productId: "C01") { score score } }',  # repeated key: graphql merges it
    "{ ping @skip(if: false) }",
    "{ bundle(productId: ",  # not GraphQL
    '{ bundle(productId: "C01") { nope } }',  # invalid
    '{ a: bundle(productId: "C01") { product { a: id b: id c: id d: id e: id f: id } } }',  # too many aliases
]
DECLINED_REQUESTS = [  # planned, but the request goes to GraphQL execution for its exact error (or filter)
    # null for k: Int!: graphql-core's own error
    ('query D($k: Int) { bundle(productId: "C06", k: $k) { score } }', {"k": None}),
    ('{ bundle(productId: "nope") { score } }', None),
    ('{ bundle(productId: "C01", k: 0) { score } }', None),
    ('{ bundle(productId: "C01", k: 101) { score } }', None),
    ('{ bundle(productId: "C01", filter: {maxPrice: 10}) { score } }', None),
    ("query B($id: ID!) { bundle(productId: $id) { score } }", {}),
    ("query B($id: ID!) { bundle(productId: $id) { score } }", {"id": 3.5}),
    ('query B($k: Int) { bundle(productId: "C01", k: $k) { score } }', {"k": "ten"}),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> GraphQLApp:
    tmp = tmp_path_factory.mktemp("fastpath")
    fg.write_store(tmp / "store")
    fg.add_run(Registry(tmp / "registry"), "v1", fg.artifact())
    settings = Settings(
        store=f"local:{tmp / 'store'}",
        registry=tmp / "registry",
        max_aliases=5,
        customer_token_secret=fg.CUSTOMER_TOKEN_SECRET,
    )
    serving = Serving(settings)
    asyncio.run(serving._load())
    for product, type_ in (("C01", "VIEW"), ("L02", "CART"), ("C04", "VIEW")):
        serving.sessions.track("fast-1", serving.catalog.position[product], type_, None)
    return GraphQLApp(serving)


def _context(app: GraphQLApp, role: str | None = None) -> Context:
    request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": []})
    return Context(app.serving, Caller(role, role is not None), request)


def _execute(app: GraphQLApp, query: str, variables: dict | None, role: str | None = None) -> ExecutionResult:
    """GraphQL execution, the reference."""
    return asyncio.run(
        app.schema.execute(query, variable_values=variables, context_value=_context(app, role))
    )


def _reference(app: GraphQLApp, query: str, variables: dict | None, role: str | None = None) -> dict:
    result = _execute(app, query, variables, role)
    assert not result.errors, result.errors
    return result.data


@pytest.mark.parametrize(("query", "variables"), PLANNED)
def test_planned_shapes_answer_as_graphql_execution_does(app: GraphQLApp, query: str, variables: dict | None):
    plan = app.fast.plan(query, None)
    assert plan is not None
    answer = app.fast.answer(plan, variables, _context(app))
    assert answer is not None
    assert json.loads(answer) == {"data": _reference(app, query, variables)}


@pytest.mark.parametrize(("query", "variables", "role"), CUSTOMER_ALLOWED)
def test_a_customers_history_answers_as_graphql_execution_does(
    app: GraphQLApp, query: str, variables: dict | None, role: str | None
):
    plan = app.fast.plan(query, None)
    assert plan is not None
    answer = app.fast.answer(plan, variables, _context(app, role))
    assert answer is not None and "because you reviewed" in answer.decode()
    assert json.loads(answer) == {"data": _reference(app, query, variables, role)}


@pytest.mark.parametrize(("query", "variables", "role", "message"), CUSTOMER_REFUSED)
def test_a_customer_the_caller_may_not_read_is_left_to_graphql(
    app: GraphQLApp, query: str, variables: dict | None, role: str | None, message: str
):
    plan = app.fast.plan(query, None)
    assert plan is not None
    assert app.fast.answer(plan, variables, _context(app, role)) is None
    result = _execute(app, query, variables, role)
    assert result.data is None and [e.message for e in result.errors or ()] == [message]


def test_answers_carry_real_lists(app: GraphQLApp):
    """Not vacuous: the answers are the fixture's known lists, and recommendations follow the session."""
    out = json.loads(app.fast.answer(app.fast.plan(PLANNED[2][0], None), None, _context(app)))["data"][
        "bundle"
    ]
    ids = [r["product"]["id"] for r in out]
    # the camera's five co-purchases as the model ranks them, one per category first (diverse), with titles
    assert ids == ["L02", "M01", "B01", "L01", "L03"] and all(r["product"]["title"] for r in out)
    recs = app.fast.answer(app.fast.plan(PLANNED[11][0], None), None, _context(app))
    assert "because you" in recs.decode()


@pytest.mark.parametrize("query", DECLINED_PLANS)
def test_other_shapes_are_not_planned(app: GraphQLApp, query: str):
    assert app.fast.plan(query, None) is None


@pytest.mark.parametrize(("query", "variables"), DECLINED_REQUESTS)
def test_requests_with_errors_or_filters_go_to_graphql(app: GraphQLApp, query: str, variables: dict | None):
    plan = app.fast.plan(query, None)
    assert plan is not None
    assert app.fast.answer(plan, variables, _context(app)) is None


def test_operation_name_must_match(app: GraphQLApp):
    assert app.fast.plan("query Named { ping }", "Named") is not None
    assert app.fast.plan("query Named { ping }", "Other") is None


def test_a_key_required_for_queries_is_left_to_graphql(app: GraphQLApp):
    settings = app.fast.settings
    plan = app.fast.plan("{ ping }", None)
    app.fast.settings = dataclasses.replace(settings, queries_need_key=True)
    try:
        assert app.fast.answer(plan, None, _context(app)) is None
        assert app.fast.answer(plan, None, _context(app, role="reader")) == b'{"data":{"ping":"pong"}}'
    finally:
        app.fast.settings = settings


def _count(server: Server, result: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=5).text
    m = re.search(rf'^kgrec_fast_path_total{{result="{result}"}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def test_the_server_answers_directly_and_declines_what_it_must(server: Server):
    answered, declined = _count(server, "answered"), _count(server, "declined")
    q = "query Q($id: ID!) { bundle(productId: $id, k: 4) { score product { id } } }"
    data = server.data(q, {"id": "C05"})["bundle"]
    assert len(data) == 4 and all(r["product"]["id"] != "C05" for r in data)
    assert _count(server, "answered") >= answered + 1
    bad = server.gql('{ bundle(productId: "nope") { score } }')
    assert bad["errors"][0]["message"] == "unknown product 'nope'"
    assert _count(server, "declined") >= declined + 1


def test_a_sessions_answer_is_kept_until_its_state_changes(app: GraphQLApp):
    """recommendations for an unchanged session reuse the answer; trackEvent (or another k) ranks afresh."""
    from api.ranking import for_session

    ctx = _context(app)
    first = for_session(ctx, "fast-1", None, 5, None)
    assert for_session(ctx, "fast-1", None, 5, None) is first
    assert for_session(ctx, "fast-1", None, 6, None) is not first
    app.serving.sessions.track("fast-1", app.serving.catalog.position["M07"], "VIEW", None)
    again = for_session(_context(app), "fast-1", None, 5, None)
    assert again is not first and again.reasons != first.reasons


TRACKED = [  # (mutation, variables): each answers as GraphQL execution does and records the same event
    ('mutation { trackEvent(sessionId: "$S", productId: "C01", type: VIEW) }', None),
    ('mutation { t: trackEvent(sessionId: "$S", productId: "L02", type: CART, customerId: "U1") }', None),
    (
        "mutation T($s: ID!, $p: ID!, $t: EventType!) { trackEvent(sessionId: $s, productId: $p, type: $t) }",
        {"s": "$S", "p": "M03", "t": "PURCHASE"},
    ),
    (
        'mutation T($s: ID!, $t: EventType = VIEW, $c: ID) { trackEvent(sessionId: $s, productId: "B02", '
        "type: $t, customerId: $c) }",
        {"s": "$S", "c": None},
    ),
]
REFUSED = [  # planned, refused before anything is recorded; the full path gives the error
    ('mutation { trackEvent(sessionId: "$S", productId: "nope", type: VIEW) }', None, "frontend"),
    ('mutation { trackEvent(sessionId: "$S", productId: "C01", type: VIEW) }', None, None),  # no key
    (
        'mutation { trackEvent(sessionId: "$S", productId: "C01", type: VIEW) }',
        None,
        "reader",
    ),  # no such role
    (
        'mutation T($t: EventType!) { trackEvent(sessionId: "$S", productId: "C01", type: $t) }',
        {"t": "NOPE"},
        "frontend",
    ),
    (
        'mutation T($t: EventType!) { trackEvent(sessionId: "$S", productId: "C01", type: $t) }',
        {"t": 1},
        "frontend",
    ),
    ('mutation { trackEvent(sessionId: "", productId: "C01", type: VIEW) }', None, "frontend"),
    (
        'mutation { trackEvent(sessionId: "$S", productId: "C01", type: VIEW, customerId: "") }',
        None,
        "frontend",
    ),
]


def _events(app: GraphQLApp, session: str) -> list[tuple[int, str]] | None:
    s = app.serving.sessions.get(session)
    return None if s is None else [*s.events]


@pytest.mark.parametrize(("n", "mutation", "variables"), [(n, *t) for n, t in enumerate(TRACKED)])
def test_track_event_is_recorded_as_graphql_execution_records_it(
    app: GraphQLApp, n: int, mutation: str, variables: dict | None
):
    fast_s, full_s = f"track-fast-{n}", f"track-full-{n}"

    def fill(session: str) -> tuple[str, dict | None]:
        values = (
            None
            if variables is None
            else {k: v.replace("$S", session) if isinstance(v, str) else v for k, v in variables.items()}
        )
        return mutation.replace("$S", session), values

    query, values = fill(fast_s)
    plan = app.fast.plan(query, None)
    assert plan is not None
    answer = app.fast.answer(plan, values, _context(app, role="frontend"))
    query_full, values_full = fill(full_s)
    result = asyncio.run(
        app.schema.execute(
            query_full, variable_values=values_full, context_value=_context(app, role="frontend")
        )
    )
    assert not result.errors, result.errors
    assert answer is not None and json.loads(answer) == {"data": result.data}
    assert _events(app, fast_s) == _events(app, full_s) and len(_events(app, fast_s)) == 1
    assert app.serving.sessions.get(fast_s).customer == app.serving.sessions.get(full_s).customer


@pytest.mark.parametrize(("mutation", "variables", "role"), REFUSED)
def test_a_refused_event_is_left_to_graphql_and_records_nothing(
    app: GraphQLApp, mutation: str, variables: dict | None, role: str | None
):
    app.serving.sessions.track("refused", app.serving.catalog.position["C01"], "VIEW", None)
    before = _events(app, "refused")
    plan = app.fast.plan(mutation.replace("$S", "refused"), None)
    assert plan is not None
    assert app.fast.answer(plan, variables, _context(app, role=role)) is None
    assert _events(app, "refused") == before
    # and the full path refuses it too, with a GraphQL error
    result = asyncio.run(
        app.schema.execute(
            mutation.replace("$S", "refused"),
            variable_values=variables,
            context_value=_context(app, role=role),
        )
    )
    assert result.errors and _events(app, "refused") == before
