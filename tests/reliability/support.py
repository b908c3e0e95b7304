"""Helpers of the reliability tests: polling with a deadline, reading /metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx

MAX_SESSIONS = 50  # the shared server's session cap (conftest.py)


def metric(url: str, name: str) -> float:
    """One unlabelled sample of /metrics."""
    text = httpx.get(url + "/metrics", timeout=5).text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def wait_for(predicate: Callable[[], bool], what: str, every: float = 0.1) -> None:
    """Poll `predicate` until it holds. No deadline: what never comes is a hang, which pytest-timeout ends (its
    report shows this frame, and `what` says what was awaited)."""
    while not predicate():
        time.sleep(every)
