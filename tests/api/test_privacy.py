"""Who may see what (README "Who may see what"), over HTTP against the real server: with keys and a customer
token secret configured (the session's server), and with neither.

Customer ids and histories are personal data: without the right key a request learns none of them, whichever
executor answers it (the direct one plans the plain shapes below; a fragment sends the same query through
GraphQL execution).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.api.fixture_graph as fg
from api.auth import ANONYMOUS, check_customer, customer_token
from api.limits import ClientError
from api.settings import load_settings
from graph.settings import SettingsError
from tests.api.server import Server, start_server, stop_server

README = Path(__file__).parents[2] / "README.md"
KEYS = {
    "none": None,
    "wrong": "wrong-key",
    "reader": "read-key",
    "frontend": "front-key",
    "merchandiser": "merch-key",
}
HOUR = 3600

EXPLAIN = '{ explain(productId: "C02", otherId: "L02") { sharedCustomers sharedCustomerIds modelVersion } }'
# U4 reviewed camera 4, lens 4 and card 4 (fixture_graph.reviews); a reason naming one of them is their history
HISTORY = re.compile(r"because you reviewed .*(C04|L04|M04)")
RECS = "score reason product { id }"
# the same query twice: the direct executor plans the first; the fragment takes the second through GraphQL
CUSTOMER_RECS = {
    "direct": "query($c: ID, $s: ID, $t: String) { recommendations(customerId: $c, sessionId: $s, "
    "customerToken: $t, k: 4) { " + RECS + " } }",
    "graphql": "query($c: ID, $s: ID, $t: String) { recommendations(customerId: $c, sessionId: $s, "
    "customerToken: $t, k: 4) { ...R } } fragment R on Recommendation { " + RECS + " }",
}
NEEDS_KEY = "needs an API key (header X-API-Key or Authorization: Bearer) with role"


def token(customer: str, expires_in: float = HOUR, secret: str = fg.CUSTOMER_TOKEN_SECRET) -> str:
    return customer_token(secret, customer, int(time.time() + expires_in))


def only_error(body: dict[str, Any]) -> str:
    """The message of a body's one error."""
    assert len(body.get("errors") or ()) == 1, body
    return body["errors"][0]["message"]


def customer_recs(server: Server, shape: str, key: str | None, **variables: str | None) -> dict[str, Any]:
    return server.gql(CUSTOMER_RECS[shape], {"c": None, "s": None, "t": None, **variables}, key)


# ------------------------------------------------------------------------------------------------------- explain


@pytest.mark.parametrize(
    ("caller", "message"),
    [
        ("none", f"sharedCustomerIds {NEEDS_KEY} merchandiser"),
        ("wrong", "the API key is not valid"),
        ("reader", "sharedCustomerIds needs role merchandiser; this key's role is reader"),
        ("frontend", "sharedCustomerIds needs role merchandiser; this key's role is frontend"),
    ],
)
def test_explain_gives_the_count_to_all_and_the_ids_to_merchandisers(
    server: Server, caller: str, message: str
):
    # a merchandiser asks first, so a cached answer that ignored the caller would show here
    merch = server.data(EXPLAIN, key="merch-key")["explain"]
    assert merch["sharedCustomers"] == 1 and merch["sharedCustomerIds"] == ["U2"]
    body = server.gql(EXPLAIN, key=KEYS[caller])
    assert only_error(body) == message
    assert body["errors"][0]["path"] == ["explain", "sharedCustomerIds"]
    # the rest of the explanation answers: the count is not personal
    assert body["data"]["explain"] == {**merch, "sharedCustomerIds": None}
    # not asked for, no error at all
    assert (
        server.data(EXPLAIN.replace("sharedCustomerIds ", ""), key=KEYS[caller])["explain"]["sharedCustomers"]
        == 1
    )


# ------------------------------------------------------------------------------------- a customer's recommendations


@pytest.mark.parametrize("shape", sorted(CUSTOMER_RECS))
@pytest.mark.parametrize(
    ("caller", "message"),
    [
        (
            "none",
            f"recommendations for a customerId {NEEDS_KEY} frontend or merchandiser, or the customer's customerToken",
        ),
        ("wrong", "the API key is not valid"),
        (
            "reader",
            "recommendations for a customerId needs role frontend or merchandiser; this key's role is reader",
        ),
    ],
)
def test_a_customers_recommendations_need_a_shop_key_or_their_token(
    server: Server, shape: str, caller: str, message: str
):
    # the leak the rule closes: an unknown session falls back to the customer's history
    for session in (None, "priv-nobody"):
        body = customer_recs(server, shape, KEYS[caller], c="U4", s=session)
        assert only_error(body) == message and body["data"] is None
    for shop in ("front-key", "merch-key"):
        recs = server.data(CUSTOMER_RECS[shape], {"c": "U4"}, shop)["recommendations"]
        assert len(recs) == 4 and all(HISTORY.match(r["reason"]) for r in recs)
    # the customer's own token answers what the frontend's key does
    assert server.data(CUSTOMER_RECS[shape], {"c": "U4", "t": token("U4")}) == server.data(
        CUSTOMER_RECS[shape], {"c": "U4"}, "front-key"
    )


@pytest.mark.parametrize("shape", sorted(CUSTOMER_RECS))
@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"c": "U4", "t": token("U3")}, "the customerToken is not valid for this customerId"),
        ({"c": "U4", "t": token("U4", secret="another-secret-of-thirty-two-chars")}, "not valid"),
        (
            {"c": "U4", "t": token("U4", expires_in=-1)},
            "the customerToken has expired; the shop signs a new one",
        ),
        ({"c": "U4", "t": token("U4").split(".")[1]}, "not valid"),  # the signature alone
        ({"c": "U4", "t": "٩" + token("U4")}, "not valid"),  # digits, but not ASCII ones
        ({"c": "U4", "t": ""}, "not valid"),
        ({"s": "priv-nobody", "t": token("U4")}, "customerToken goes with the customerId it was signed for"),
    ],
)
def test_a_token_for_another_customer_or_out_of_date_is_refused(
    server: Server, shape: str, variables: dict[str, str], message: str
):
    for key in (None, "front-key"):  # a token given is checked even beside a key that would do
        body = customer_recs(server, shape, key, **variables)
        assert message in only_error(body) and body["data"] is None


# --------------------------------------------------------------------------------------------------------- sessions


def test_a_session_answers_its_own_events_never_its_linked_customers_history(server: Server):
    """trackEvent may link a session to a customer; that customer's history never seeds the session's answer,
    whoever asks: it is the same as an unlinked session's with the same events."""
    for session, customer in (("priv-linked", "U4"), ("priv-plain", None)):
        server.data(
            'mutation($s: ID!, $c: ID) { trackEvent(sessionId: $s, productId: "C05", type: VIEW, customerId: $c) }',
            {"s": session, "c": customer},
            key="front-key",
        )
    for shape in CUSTOMER_RECS:
        plain = customer_recs(server, shape, None, s="priv-plain")["data"]["recommendations"]
        assert plain[0]["reason"] == "because you viewed “Camera C05”"
        for key in KEYS.values():
            linked = customer_recs(server, shape, key, s="priv-linked")
            assert "errors" not in linked and linked["data"]["recommendations"] == plain
            assert not any(HISTORY.match(r["reason"]) for r in linked["data"]["recommendations"])
        # naming the linked customer is asking for their history: the same rule as without a session
        assert "customerToken" in only_error(customer_recs(server, shape, None, s="priv-linked", c="U4"))


# -------------------------------------------------------------------------------------------- the README's table

# what a caller does for each column of README's table; a refusal is a GraphQL error whose message says why
OPERATIONS: dict[str, Callable[[Server, str | None, str | None], dict[str, Any]]] = {
    "`explain` `sharedCustomers` (a count)": lambda s, key, t: s.gql(
        EXPLAIN.replace("sharedCustomerIds ", ""), key=key
    ),
    "`explain` `sharedCustomerIds`": lambda s, key, t: s.gql(EXPLAIN, key=key),
    "`recommendations(customerId:)`": lambda s, key, t: customer_recs(s, "direct", key, c="U4", t=t),
    "`recommendations(sessionId:)`": lambda s, key, t: customer_recs(s, "direct", key, s="priv-plain"),
    "`trackEvent`": lambda s, key, t: s.gql(
        'mutation { trackEvent(sessionId: "priv-matrix", productId: "C01", type: VIEW) }', key=key
    ),
    # removing a pin that is not there: allowed or refused, the lists stay as they are
    "`pin`, `block`": lambda s, key, t: s.gql(
        'mutation { pin(productId: "C09", otherId: "B00", relation: ALL, remove: true) }', key=key
    ),
}
# README's row label -> the callers it stands for; "token": no key, and U4's customerToken where one is taken
ROWS = {
    "no key, or a key that is not valid": ("none", "wrong"),
    "`reader` key": ("reader",),
    "a customer's `customerToken`": ("token",),
    "`frontend` key": ("frontend",),
    "`merchandiser` key": ("merchandiser",),
}


def readme_table() -> Iterator[tuple[str, dict[str, str]]]:
    """(row label, {column: cell}) of README's "Who may see what" table."""
    text = README.read_text()
    lines = text[text.index("### Who may see what") :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| caller |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        yield cells[0], dict(zip(header[1:], cells[1:], strict=True))


def test_the_readme_table_is_what_the_server_does(server: Server):
    server.data(
        'mutation { trackEvent(sessionId: "priv-plain", productId: "C05", type: VIEW) }', key="front-key"
    )
    rows = dict(readme_table())
    assert set(rows) == set(ROWS) and all(set(cells) == set(OPERATIONS) for cells in rows.values())
    for label, cells in rows.items():
        for caller in ROWS[label]:
            key, t = (None, token("U4")) if caller == "token" else (KEYS[caller], None)
            for column, cell in cells.items():
                body = OPERATIONS[column](server, key, t)
                allowed = "errors" not in body
                assert allowed == (cell != "no"), (label, caller, column, body)


# ------------------------------------------------------------------------------------ a server with no keys at all


@pytest.fixture(scope="module")
def keyless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server as a laptop runs it: no API keys, no customer token secret."""
    s = start_server(
        tmp_path_factory.mktemp("keyless"),
        extra_env={"KGREC_API_KEYS": "", "KGREC_CUSTOMER_TOKEN_SECRET": ""},
    )
    yield s
    stop_server(s)


@pytest.mark.parametrize(
    "key", [None, "merch-key", "front-key"]
)  # keys of the other server mean nothing here
def test_without_keys_no_request_learns_a_customer(keyless: Server, key: str | None):
    body = keyless.gql(EXPLAIN, key=key)
    assert (
        body["data"]["explain"]["sharedCustomers"] == 1
        and body["data"]["explain"]["sharedCustomerIds"] is None
    )
    assert only_error(body) == (
        f"sharedCustomerIds {NEEDS_KEY} merchandiser" if key is None else "the API key is not valid"
    )
    for shape in CUSTOMER_RECS:
        refused = only_error(customer_recs(keyless, shape, key, c="U4"))
        assert refused == (
            f"recommendations for a customerId {NEEDS_KEY} frontend or merchandiser"
            if key is None
            else "the API key is not valid"
        )
        # a token, however well made, is not taken by a server that has no secret to check it with
        assert only_error(customer_recs(keyless, shape, key, c="U4", t=token("U4"))) == (
            "customer tokens are not accepted here: the server has no KGREC_CUSTOMER_TOKEN_SECRET"
        )
        popular = customer_recs(keyless, shape, key, s="priv-anyone")["data"]["recommendations"]
        assert [r["reason"] for r in popular] == ["popular right now"] * 4
    track = keyless.gql('mutation { trackEvent(sessionId: "s", productId: "C01", type: VIEW) }', key=key)
    assert "errors" in track


# ------------------------------------------------------------------------------------------------------- in process


def test_a_short_token_secret_is_refused():
    with pytest.raises(SettingsError, match="32 characters at least"):
        load_settings(env={"KGREC_CUSTOMER_TOKEN_SECRET": "short"})
    assert load_settings(env={"KGREC_CUSTOMER_TOKEN_SECRET": "x" * 32}).customer_token_secret == "x" * 32
    assert "x" * 32 not in repr(load_settings(env={"KGREC_CUSTOMER_TOKEN_SECRET": "x" * 32}))


def test_a_token_binds_the_customer_and_the_expiry():
    """Neither part can be changed without the secret: the customer ids differ only past the first ':', and the
    expiry is signed too."""
    secret, now = fg.CUSTOMER_TOKEN_SECRET, 1_700_000_000
    made = customer_token(secret, "a:b", now + 10)
    check_customer(ANONYMOUS, secret, "a:b", made, now=now)
    expires, signature = made.split(".")
    for customer, t in (
        ("a", made),
        ("a:b:", made),
        ("a:b", f"{int(expires) + HOUR}.{signature}"),
        ("a:b", f"{expires}.{signature.upper()}"),
    ):
        with pytest.raises(ClientError, match="not valid"):
            check_customer(ANONYMOUS, secret, customer, t, now=now)
    with pytest.raises(ClientError, match="expired"):
        check_customer(ANONYMOUS, secret, "a:b", made, now=now + 10)
