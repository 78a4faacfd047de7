"""Wait on a condition with a deadline: the course never sleeps and hopes.

>>> wait_until(lambda: 42, timeout_s=1)
42
>>> wait_until(lambda: False, timeout_s=0.1, what="the impossible", describe=lambda: "nothing")
Traceback (most recent call last):
...
labkit.wait.WaitTimeout: the impossible not reached within 0.1 s; last seen: nothing
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["WaitTimeout", "wait_until"]


class WaitTimeout(TimeoutError):
    """A condition did not come true in time; the message says what was awaited and what was seen."""


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str = "condition",
               interval_s: float = 0.05, describe: Callable[[], Any] | None = None) -> Any:
    """Poll ``predicate()`` until it returns something truthy (returned) or ``timeout_s`` passes
    (:class:`WaitTimeout` with ``describe()`` in the message)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            seen = f"; last seen: {describe()}" if describe is not None else ""
            raise WaitTimeout(f"{what} not reached within {timeout_s:g} s{seen}")
        time.sleep(interval_s)
