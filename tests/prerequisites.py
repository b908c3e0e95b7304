"""What a test does when something it needs is not there: outside CI it skips, saying what is missing; under
CI=true it fails, so a test can never pass in CI by not running."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip with `reason`, or under CI=true fail with it."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing prerequisite fails the test)")
    pytest.skip(reason)
