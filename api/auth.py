"""API keys, roles and customer tokens: who may call which operation, and who may see which shopper's data.

A key comes in ``X-API-Key: KEY`` or ``Authorization: Bearer KEY`` and maps to one role (``KGREC_API_KEYS``).
Roles: ``merchandiser`` may pin and block, track events and read customer data; ``frontend`` may track events
and read customer data; ``reader`` may only query. Queries are open unless ``queries_need_key`` is set, then any
valid key may query.

Customer ids and histories are personal data, so a request without the right key learns none of them:

- ``explain``'s ``sharedCustomerIds`` answers a merchandiser key only (the count, ``sharedCustomers``, is open);
- ``recommendations(customerId:)`` needs a frontend or merchandiser key, or the customer's own ``customerToken``
  (:func:`customer_token`) where the server has a ``KGREC_CUSTOMER_TOKEN_SECRET``;
- a session's recommendations are seeded by that session's own events only (api/ranking.py): the customer
  ``trackEvent`` linked to it is never read for them.

A presented key is compared with every configured key by :func:`hmac.compare_digest`, and the loop never stops
early, so the time taken says nothing about how much of a key was right; a token's signature is compared the
same way.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from api.limits import ClientError

MERCHANDISER = "merchandiser"
FRONTEND = "frontend"
# the shop's own systems: they report shoppers' events, and so may read a customer's history
SHOP_ROLES = (FRONTEND, MERCHANDISER)
KEY_HEADERS = "header X-API-Key or Authorization: Bearer"
MAX_EXPIRY_DIGITS = 12  # a Unix time in seconds has 10 digits until the year 2286


@dataclass(frozen=True)
class Caller:
    """What a request proved: its role (None without a valid key), and whether it presented a key at all."""

    role: str | None
    presented: bool


ANONYMOUS = Caller(None, False)


class Authenticator:
    def __init__(self, keys: Mapping[str, str]) -> None:
        self._keys = [(k.encode(), role) for k, role in keys.items()]

    def caller(self, headers: Mapping[str, str]) -> Caller:
        key = headers.get("x-api-key")
        if key is None:
            auth = headers.get("authorization", "")
            scheme, _, token = auth.partition(" ")
            key = token.strip() if scheme.lower() == "bearer" else None
        if not key:
            return ANONYMOUS
        presented, role = key.encode(), None
        for candidate, candidate_role in self._keys:
            if hmac.compare_digest(presented, candidate):
                role = candidate_role
        return Caller(role, True)


def refusal(caller: Caller, roles: tuple[str, ...], action: str, otherwise: str = "") -> str | None:
    """Why `caller` may not do `action`, which needs one of `roles` (None: it may). `otherwise` names another
    way in, said to a caller without a key."""
    if caller.role in roles:
        return None
    if not caller.presented:
        return f"{action} needs an API key ({KEY_HEADERS}) with role {' or '.join(roles)}{otherwise}"
    if caller.role is None:
        return "the API key is not valid"
    return f"{action} needs role {' or '.join(roles)}; this key's role is {caller.role}"


def _require(info: Info, roles: tuple[str, ...]) -> bool:
    problem = refusal(info.context.caller, roles, info.field_name)
    if problem is not None:
        raise ClientError(problem)
    return True


class IsMerchandiser(BasePermission):
    """Pins and blocks change what every customer sees; which customers bought what is theirs to see alone."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return _require(info, (MERCHANDISER,))


class CanTrack(BasePermission):
    """The shop's frontend reports events with its own key, which cannot edit rules."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return _require(info, SHOP_ROLES)


class CanQuery(BasePermission):
    """Open unless the deployment asks for keys on queries too."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if not info.context.settings.queries_need_key:
            return True
        caller: Caller = info.context.caller
        if caller.role is not None:
            return True
        raise ClientError(
            "the API key is not valid"
            if caller.presented
            else f"queries need an API key here ({KEY_HEADERS})"
        )


def customer_token(secret: str, customer_id: str, expires: int) -> str:
    """The token that lets a signed-in customer's browser ask for their own recommendations until `expires`
    (Unix seconds): ``EXPIRES.SIGNATURE``, the signature the hex HMAC-SHA256, keyed by `secret`, of
    ``EXPIRES:CUSTOMER_ID``. The shop's backend makes it at sign-in (any language's HMAC does); the secret never
    leaves the backend and the server."""
    return f"{expires}.{_signature(secret, customer_id, expires)}"


def _signature(secret: str, customer_id: str, expires: int) -> str:
    # the expiry is digits only, so the first ':' ends it whatever the customer id holds
    message = f"{expires}:{customer_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check_customer(
    caller: Caller, secret: str | None, customer_id: str, token: str | None, now: float | None = None
) -> None:
    """Raise a ClientError unless `caller` may read `customer_id`'s history: a key of a shop role, or `token`,
    a :func:`customer_token` for this customer that has not expired, where the server has a `secret`."""
    if token is None:
        otherwise = ", or the customer's customerToken" if secret else ""
        problem = refusal(caller, SHOP_ROLES, "recommendations for a customerId", otherwise)
        if problem is not None:
            raise ClientError(problem)
        return
    if not secret:
        raise ClientError(
            "customer tokens are not accepted here: the server has no KGREC_CUSTOMER_TOKEN_SECRET"
        )
    expires, dot, signature = token.partition(".")
    valid_expiry = expires.isascii() and expires.isdigit() and len(expires) <= MAX_EXPIRY_DIGITS
    expected = _signature(secret, customer_id, int(expires) if valid_expiry else 0)
    # compared whatever the expiry looked like, so a malformed token costs what a wrong one does
    if not (hmac.compare_digest(expected.encode(), signature.encode()) and dot and valid_expiry):
        raise ClientError("the customerToken is not valid for this customerId")
    if int(expires) <= (time.time() if now is None else now):
        raise ClientError("the customerToken has expired; the shop signs a new one")
