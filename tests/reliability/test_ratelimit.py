"""Rate limits per API key and per client address (api/ratelimit.py), and API keys compared in constant time.

The server under test allows each key KEY_RPS requests per second in bursts of KEY_BURST, and each address
ADDRESS_RPS in bursts of ADDRESS_BURST. uvicorn trusts X-Forwarded-For from loopback, so each test speaks as its
own client address and none of them shares a bucket with another.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Iterator

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from api import auth
from api.auth import Authenticator
from api.ratelimit import RateLimitMiddleware, TokenBuckets
from tests.api.server import Server, start_server, stop_server
from tests.reliability.support import wait_for

KEY_RPS, KEY_BURST = 0.5, 4
ADDRESS_RPS, ADDRESS_BURST = 0.5, 6
PING = {"query": "{ ping }"}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "KGREC_RATE_LIMIT_KEY_RPS": str(KEY_RPS),
        "KGREC_RATE_LIMIT_KEY_BURST": str(KEY_BURST),
        "KGREC_RATE_LIMIT_ADDRESS_RPS": str(ADDRESS_RPS),
        "KGREC_RATE_LIMIT_ADDRESS_BURST": str(ADDRESS_BURST),
    }
    s = start_server(tmp_path_factory.mktemp("limited"), extra_env=env)
    yield s
    stop_server(s)


def post(server: Server, address: str, key: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": address} | ({"X-API-Key": key} if key else {})
    return httpx.post(server.url + "/graphql", json=PING, headers=headers, timeout=10)


def assert_refused(r: httpx.Response, what: str, rps: float) -> int:
    """A 429 with a GraphQL-style error naming the limit, and Retry-After; returns the seconds to wait."""
    assert r.status_code == 429, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["errors"] and list(body["errors"][0]) == ["message"]  # as GraphQL clients expect
    message = body["errors"][0]["message"]
    assert message.startswith(f"rate limit exceeded for {what}: {rps:g} requests per second"), message
    retry = int(r.headers["retry-after"])
    assert 1 <= retry <= 1 / rps + 1
    return retry


def test_each_key_has_its_own_bucket(limited: Server) -> None:
    for _ in range(KEY_BURST):
        assert post(limited, "10.0.1.1", "read-key").status_code == 200
    assert_refused(post(limited, "10.0.1.1", "read-key"), "this API key", KEY_RPS)
    # the same key from another address is the same bucket; another key is not
    assert_refused(post(limited, "10.0.1.2", "read-key"), "this API key", KEY_RPS)
    assert post(limited, "10.0.1.2", "front-key").status_code == 200


def test_each_address_has_its_own_bucket(limited: Server) -> None:
    for _ in range(ADDRESS_BURST):
        assert post(limited, "10.0.2.1").status_code == 200
    assert_refused(post(limited, "10.0.2.1"), "this client address", ADDRESS_RPS)
    # a valid key does not lift the address limit; a made-up key has no bucket to hide behind
    assert_refused(post(limited, "10.0.2.1", "merch-key"), "this client address", ADDRESS_RPS)
    assert post(limited, "10.0.2.2", "not-a-key").status_code == 200
    assert httpx.get(limited.url + "/readyz", headers={"X-Forwarded-For": "10.0.2.1"}).status_code == 200


def test_a_refused_client_may_go_again_after_retry_after(limited: Server) -> None:
    for _ in range(ADDRESS_BURST):
        post(limited, "10.0.3.1")
    assert_refused(post(limited, "10.0.3.1"), "this client address", ADDRESS_RPS)
    # polling spends nothing, so the polls themselves cannot push the client further back
    wait_for(lambda: post(limited, "10.0.3.1").status_code == 200, "a token after Retry-After")


def test_refusals_are_counted(limited: Server) -> None:
    for _ in range(ADDRESS_BURST + 1):
        post(limited, "10.0.4.1")
    assert (
        'kgrec_http_requests_total{method="POST",route="/graphql",status="429"}'
        in httpx.get(limited.url + "/metrics").text
    )


def test_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    b = TokenBuckets(rate=2.0, burst=3, max_size=10)
    for _ in range(3):
        assert b.wait("a", 0.0) == 0.0
        b.spend("a")
    assert b.wait("a", 0.0) == pytest.approx(0.5)
    assert b.wait("a", 0.25) == pytest.approx(0.25)  # half a token back
    assert b.wait("a", 100.0) == 0.0  # and never more than the burst
    for _ in range(3):
        b.spend("a")
    assert b.wait("a", 100.0) == pytest.approx(0.5)


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _call(mw: RateLimitMiddleware, client: str, key: str | None) -> int:
    """One /graphql request through `mw` in-process; returns the status."""
    headers = [(b"x-api-key", key.encode())] if key else []
    scope: Scope = {
        "type": "http",
        "path": "/graphql",
        "method": "POST",
        "headers": headers,
        "client": (client, 1),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(mw(scope, receive, send))
    return sent[0]["status"]


def test_floods_of_addresses_and_made_up_keys_hold_bounded_state() -> None:
    per_key, per_address = TokenBuckets(1.0, 1, 2), TokenBuckets(1.0, 1, 100)
    mw = RateLimitMiddleware(_ok, Authenticator({"k1": "reader"}), per_key, per_address, clock=lambda: 0.0)
    for i in range(1000):
        assert _call(mw, f"10.9.{i // 256}.{i % 256}", f"made-up-{i}") == 200
    assert len(per_key) == 0  # a key auth refuses gets no bucket
    assert len(per_address) == 100
    assert _call(mw, "10.8.0.1", "k1") == 200
    assert _call(mw, "10.8.0.2", "k1") == 429  # the configured key's bucket is shared by every address
    assert len(per_key) == 1


def test_api_keys_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every configured key is compared with hmac.compare_digest, and a match does not end the loop early."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    keys = {"first-key": "merchandiser", "second-key": "frontend", "third-key": "reader"}
    authenticator = Authenticator(keys)
    for presented, role in (("first-key", "merchandiser"), ("third-key", "reader"), ("first-kez", None)):
        compared.clear()
        caller = authenticator.caller({"x-api-key": presented})
        assert caller.role == role
        assert sorted(b for _, b in compared) == sorted(k.encode() for k in keys)
        assert {a for a, _ in compared} == {presented.encode()}
