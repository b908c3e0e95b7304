"""Session state is bounded: a flood of new session ids keeps the count at the cap, oldest unused first out."""

from __future__ import annotations

import httpx
import pytest

from api import sessions
from api.sessions import SessionStore
from tests.api.server import Server
from tests.reliability.support import MAX_SESSIONS, metric

FLOOD = 10 * MAX_SESSIONS
PER_REQUEST = 5  # the server's max_aliases: five trackEvent calls per request make the flood quick
TRACK = 'trackEvent(sessionId: "{sid}", productId: "C00", type: VIEW)'
RECS = "query($s: ID!) { recommendations(sessionId: $s, k: 3) { reason } }"


def track(client: httpx.Client, url: str, sids: list[str]) -> None:
    ops = " ".join(f"t{i}: " + TRACK.format(sid=sid) for i, sid in enumerate(sids))
    r = client.post(
        url + "/graphql", json={"query": f"mutation {{ {ops} }}"}, headers={"X-API-Key": "front-key"}
    )
    assert r.status_code == 200 and "errors" not in r.json(), r.text


def seeded(server: Server, sid: str) -> bool:
    """Whether the server still holds `sid`: its recommendations come from its events, not popularity."""
    reasons = [r["reason"] for r in server.data(RECS, {"s": sid})["recommendations"]]
    return any(r.startswith("because you viewed") for r in reasons)


def test_a_flood_of_session_ids_stays_at_the_cap(served: Server) -> None:
    flood = [f"flood-{i}" for i in range(FLOOD)]
    with httpx.Client(timeout=10) as client:
        for start in range(0, FLOOD, PER_REQUEST - 1):
            # "kept" is used all through the flood: least recently used goes first, not first created
            track(client, served.url, [*flood[start : start + PER_REQUEST - 1], "kept"])
    assert metric(served.url, "kgrec_sessions") == MAX_SESSIONS
    assert seeded(served, "kept")
    assert seeded(served, flood[-1])
    assert not seeded(served, flood[0])  # evicted: its id now has no state at all


def test_idle_sessions_expire_after_the_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(sessions.time, "monotonic", lambda: now[0])
    store = SessionStore(max_sessions=10, ttl_s=60.0)
    for i in range(5):
        store.track(f"s{i}", 0, "VIEW", None)
    now[0] += 30.0
    store.track("s0", 1, "VIEW", None)  # used again: its clock restarts
    now[0] += 45.0  # s1..s4 idle 75 s, s0 idle 45 s
    assert store.get("s1") is None
    assert store.get("s0") is not None
    store.track("new", 0, "VIEW", None)  # each write also drops every expired session, read or not
    assert len(store) == 2
