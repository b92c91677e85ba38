"""What the e2e tests share besides the `running_stack` fixture."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def eventually(check: Callable[[], T | None], what: str, within_s: float = 45.0) -> T:
    """Poll `check` until it returns something truthy, or fail naming `what`."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within_s:.0f}s waiting for {what}")
        time.sleep(0.25)
