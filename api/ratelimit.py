"""Rate limits: a token bucket per API key and one per client address, in front of /graphql.

Each GraphQL request needs a token from its client address's bucket and, when it presents a valid API key, one
from that key's bucket too. A bucket holds at most `burst` tokens and refills at `rate` per second. A request
that finds either bucket empty is refused with 429, a GraphQL-style JSON error and ``Retry-After`` (whole
seconds until both buckets have a token again), and spends nothing, so a refused client is not pushed further
back by its own retries.

Why both: a shop's frontend sends all its shoppers' traffic under one key, so the key's limit is its contract;
the address limit stops one client, with or without a key, from starving the others. Made-up keys get no bucket
of their own (auth refuses them anyway, and a bucket per random key would let a flood of keys grow memory);
addresses live in an LRU of at most `max_clients` buckets for the same reason (IPv6 makes addresses cheap). An
evicted address comes back with a full bucket, which only loosens the limit of the longest-idle client.

The client address is the one uvicorn puts in the ASGI scope: the peer, or behind a proxy uvicorn trusts
(``FORWARDED_ALLOW_IPS``, loopback by default) the client named in ``X-Forwarded-For``. Probes and metrics are
never limited: an orchestrator must see a busy server as alive.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import Authenticator
from api.bodylimit import send_error
from api.settings import Settings

LIMITED_PATHS = frozenset({"/graphql"})


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """Token buckets by name, `rate` tokens per second up to `burst`, the least recently used dropped past `max_size`."""

    def __init__(self, rate: float, burst: int, max_size: int) -> None:
        if rate <= 0 or burst < 1 or max_size < 1:
            raise ValueError(f"need rate > 0, burst >= 1, max_size >= 1; got {rate}, {burst}, {max_size}")
        self.rate = rate
        self.burst = burst
        self.max_size = max_size
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def wait(self, name: str, now: float) -> float:
        """Seconds until `name` has a token (0.0: it has one now); refills the bucket, spends nothing."""
        b = self._buckets.get(name)
        if b is None:
            b = self._buckets[name] = _Bucket(float(self.burst), now)
            if len(self._buckets) > self.max_size:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(name)
            b.tokens = min(float(self.burst), b.tokens + (now - b.stamp) * self.rate)
            b.stamp = now
        return 0.0 if b.tokens >= 1.0 else (1.0 - b.tokens) / self.rate

    def spend(self, name: str) -> None:
        """Take the token that :meth:`wait` just found."""
        self._buckets[name].tokens -= 1.0


def presented_key(headers: Headers) -> str | None:
    """The API key a request presents, read from the same two headers as :meth:`Authenticator.caller`."""
    key = headers.get("x-api-key")
    if key is None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else None
    return key or None


class RateLimitMiddleware:
    """Pure ASGI (no task per request); either limit may be None (off)."""

    def __init__(
        self,
        app: ASGIApp,
        auth: Authenticator,
        per_key: TokenBuckets | None,
        per_address: TokenBuckets | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.auth = auth
        self.per_key = per_key
        self.per_address = per_address
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in LIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        now = self.clock()
        charges: list[tuple[TokenBuckets, str, str]] = []
        if self.per_address is not None:
            client = scope.get("client")
            charges.append((self.per_address, client[0] if client else "unknown", "this client address"))
        if self.per_key is not None:
            headers = Headers(scope=scope)
            key = presented_key(headers)
            if key is not None and self.auth.caller(headers).role is not None:
                charges.append((self.per_key, key, "this API key"))
        waits = [(buckets.wait(name, now), buckets, what) for buckets, name, what in charges]
        longest = max(waits, key=lambda w: w[0], default=None)
        if longest is None or longest[0] <= 0.0:
            for buckets, name, _ in charges:
                buckets.spend(name)
            await self.app(scope, receive, send)
            return
        wait, buckets, what = longest
        retry = max(1, math.ceil(wait))
        message = (
            f"rate limit exceeded for {what}: {buckets.rate:g} requests per second, bursts of {buckets.burst}; "
            f"retry in {retry} s"
        )
        await send_error(send, 429, message, ((b"retry-after", str(retry).encode()),))


def rate_limit(settings: Settings, auth: Authenticator) -> Middleware | None:
    """The middleware for the limits in `settings`, None when both are off."""
    s = settings
    per_key = (
        # only configured keys get a bucket, so the key count bounds them
        TokenBuckets(s.rate_limit_key_rps, s.rate_limit_key_burst, max(1, len(s.api_keys)))
        if s.rate_limit_key_rps
        else None
    )
    per_address = (
        TokenBuckets(s.rate_limit_address_rps, s.rate_limit_address_burst, s.rate_limit_clients)
        if s.rate_limit_address_rps
        else None
    )
    if per_key is None and per_address is None:
        return None
    return Middleware(RateLimitMiddleware, auth=auth, per_key=per_key, per_address=per_address)
