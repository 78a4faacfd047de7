"""Wait on a condition with a deadline: the course never sleeps and hopes.

>>> wait_until(lambda: 42, timeout_s=1)
42
>>> wait_until(lambda: False, timeout_s=0.1, what="the impossible", describe=lambda: "nothing")
Traceback (most recent call last):
...
labkit.wait.WaitTimeout: the impossible not reached within 0.1 s; last seen: nothing
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from labkit.lang import tr

__all__ = ["WaitTimeout", "wait_until", "set_progress", "PROGRESS_AFTER_S"]

# A wait longer than this shows what it waits for (in a notebook: labkit.notebook.display.enable_progress):
# a cell silent for 20 s looks hung to a student.
PROGRESS_AFTER_S = 3.0


class Progress(Protocol):
    def update(self, elapsed_s: float) -> None: ...
    def done(self, elapsed_s: float, reached: bool) -> None: ...


_progress: Callable[[str, float], Progress] | None = None
_depth = threading.local()  # only the outermost wait of the main thread reports


def set_progress(factory: Callable[[str, float], Progress] | None) -> None:
    """``factory(what, timeout_s)`` makes the progress display of one long wait (None: no display)."""
    global _progress
    _progress = factory


class WaitTimeout(TimeoutError):
    """A condition did not come true in time; the message says what was awaited and what was seen."""


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str = "condition",
               interval_s: float = 0.05, describe: Callable[[], Any] | None = None) -> Any:
    """Poll ``predicate()`` until it returns something truthy (returned) or ``timeout_s`` passes
    (:class:`WaitTimeout` with ``describe()`` in the message)."""
    start = time.monotonic()
    deadline = start + timeout_s
    report = _progress is not None and threading.current_thread() is threading.main_thread() and \
        not getattr(_depth, "n", 0)
    shown: Progress | None = None
    _depth.n = getattr(_depth, "n", 0) + 1
    reached = False
    try:
        while True:
            value = predicate()
            now = time.monotonic()
            if value:
                reached = True
                return value
            if now >= deadline:
                seen = tr("; last seen: {seen}").format(seen=describe()) if describe is not None else ""
                raise WaitTimeout(tr("{what} not reached within {s:g} s").format(what=what, s=timeout_s) + seen)
            if report and now - start >= PROGRESS_AFTER_S:
                if shown is None:
                    shown = _progress(what, timeout_s)
                shown.update(now - start)
            time.sleep(interval_s)
    finally:
        _depth.n -= 1
        if shown is not None:  # says how it ended: reached, timed out, or interrupted
            shown.done(time.monotonic() - start, reached)
