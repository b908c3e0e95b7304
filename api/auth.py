"""API keys and roles: who may call which operation.

A key comes in ``X-API-Key: KEY`` or ``Authorization: Bearer KEY`` and maps to one role (``KGREC_API_KEYS``).
Roles: ``merchandiser`` may pin and block (and track events); ``frontend`` may track events; ``reader`` may only
query. Queries are open unless ``queries_need_key`` is set, then any valid key may query.

A presented key is compared with every configured key by :func:`hmac.compare_digest`, and the loop never stops
early, so the time taken says nothing about how much of a key was right.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from api.limits import ClientError

MERCHANDISER = "merchandiser"
FRONTEND = "frontend"
TRACKERS = (FRONTEND, MERCHANDISER)  # the roles that may report shoppers' events


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


def _require(info: Info, roles: tuple[str, ...], action: str) -> bool:
    caller: Caller = info.context.caller
    if caller.role in roles:
        return True
    if not caller.presented:
        raise ClientError(
            f"{action} needs an API key (header X-API-Key or Authorization: Bearer) with role {roles[0]}"
        )
    if caller.role is None:
        raise ClientError("the API key is not valid")
    raise ClientError(f"{action} needs role {' or '.join(roles)}; this key's role is {caller.role}")


class IsMerchandiser(BasePermission):
    """Pins and blocks change what every customer sees."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return _require(info, (MERCHANDISER,), info.field_name)


class CanTrack(BasePermission):
    """The shop's frontend reports events with its own key, which cannot edit rules."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return _require(info, TRACKERS, info.field_name)


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
            else "queries need an API key here (header X-API-Key or Authorization: Bearer)"
        )
