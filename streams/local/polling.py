"""One polling loop for the demo's tools, the benches and the tests: wait until a check holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 1.0) -> Any:
    """Call ``check`` every ``every`` seconds until it returns something truthy, and return it;
    raise :class:`TimeoutError` (with the last value) after ``timeout`` seconds.

    >>> wait_until(lambda: 42, timeout=1.0, what="the answer")
    42
    >>> wait_until(lambda: 0, timeout=0.0, what="nothing")
    Traceback (most recent call last):
    ...
    TimeoutError: timed out after 0s waiting for nothing (last: None)
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
