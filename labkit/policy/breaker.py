"""Circuit breaker: stop hammering a service that is down, probe it now and then, resume when it heals.

Retries with backoff protect one record; a breaker protects the downstream service from all of
them at once. When most recent calls fail there is no point sending the next thousand records
into the same wall (or into the DLT): the consumer should wait.

::

    CLOSED --(failure rate >= threshold over the window)--> OPEN
    OPEN   --(open_duration_s elapsed)--------------------> HALF_OPEN
    HALF_OPEN --(half_open_max_calls probes all succeed)--> CLOSED
    HALF_OPEN --(a probe fails, or does not report within half_open_timeout_s)--> OPEN

Semantics follow resilience4j (count-based window, minimum number of calls, permitted calls in
half-open) with one fix: a probe that never reports counts as failed after ``half_open_timeout_s``,
so the breaker cannot stay "stuck in half open" (resilience4j#903).

There is no timer thread and no sleep: time comes from the injected ``clock`` and time-driven
transitions (OPEN -> HALF_OPEN, probe timeout) happen on the next call to any public method.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Any

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(Enum):
    """The three states of a circuit breaker; the value is the name shown in tables and the API."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class CircuitBreaker:
    """A count-based circuit breaker. Ask :meth:`allow` before a call, then report the outcome
    with :meth:`record_success` or :meth:`record_failure`.

    * ``failure_rate_threshold``: open when failures / calls in the window reach it (0 < t <= 1);
    * ``window_size``: how many recent outcomes the window keeps;
    * ``minimum_calls``: no verdict before that many outcomes are in the window;
    * ``open_duration_s``: how long to reject everything before probing;
    * ``half_open_max_calls``: probes let through in HALF_OPEN; all must succeed to close;
    * ``half_open_timeout_s``: a probe silent for that long counts as failed (``None``: wait
      forever, resilience4j's default and its #903 bug);
    * ``clock``: seconds, monotonic (inject a fake one in tests);
    * ``on_state_change(old, new)``: called after every transition.

    Outcomes reported while OPEN, or in HALF_OPEN with no probe in flight, are late answers to
    calls allowed before the breaker opened: they are ignored.

    >>> t = [0.0]
    >>> cb = CircuitBreaker(window_size=4, minimum_calls=2, open_duration_s=10, clock=lambda: t[0])
    >>> cb.record_failure(); cb.record_failure(); cb.state
    <BreakerState.OPEN: 'OPEN'>
    >>> t[0] = 10.0; cb.allow(), cb.state
    (True, <BreakerState.HALF_OPEN: 'HALF_OPEN'>)
    """

    def __init__(
        self,
        failure_rate_threshold: float = 0.5,
        window_size: int = 20,
        minimum_calls: int = 10,
        open_duration_s: float = 10.0,
        half_open_max_calls: int = 3,
        half_open_timeout_s: float | None = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_state_change: Callable[[BreakerState, BreakerState], Any] | None = None,
    ) -> None:
        if not 0.0 < failure_rate_threshold <= 1.0:
            raise ValueError(f"failure_rate_threshold must be in (0, 1], got {failure_rate_threshold!r}")
        if window_size < 1 or not 1 <= minimum_calls <= window_size:
            raise ValueError(
                f"need 1 <= minimum_calls <= window_size, got {minimum_calls} and {window_size}"
            )
        if not open_duration_s >= 0:
            raise ValueError(f"open_duration_s must be >= 0, got {open_duration_s!r}")
        if half_open_max_calls < 1:
            raise ValueError(f"half_open_max_calls must be >= 1, got {half_open_max_calls}")
        if half_open_timeout_s is not None and not half_open_timeout_s > 0:
            raise ValueError(f"half_open_timeout_s must be > 0 or None, got {half_open_timeout_s!r}")
        self.failure_rate_threshold = failure_rate_threshold
        self.window_size = window_size
        self.minimum_calls = minimum_calls
        self.open_duration_s = open_duration_s
        self.half_open_max_calls = half_open_max_calls
        self.half_open_timeout_s = half_open_timeout_s
        self.clock = clock
        self.on_state_change = on_state_change

        self._lock = threading.RLock()  # one breaker may guard a service shared by threads
        self._state = CLOSED
        self._window: deque[bool] = deque(maxlen=window_size)  # True = failure
        self._opened_at = 0.0
        self._probes_in_flight: list[float] = []  # start times, oldest first
        self._probes_issued = 0
        self._probes_ok = 0
        self._times_opened = 0
        self._rejected = 0

    # --- the protocol ---------------------------------------------------------------------------

    def allow(self) -> bool:
        """May the next call go through? False while OPEN, and in HALF_OPEN once the probes are out."""
        with self._lock:
            now = self._tick()
            if self._state is CLOSED:
                return True
            if self._state is HALF_OPEN and self._probes_issued < self.half_open_max_calls:
                self._probes_issued += 1
                self._probes_in_flight.append(now)
                return True
            self._rejected += 1
            return False

    def record_success(self) -> None:
        """The call went well. In HALF_OPEN, the last successful probe closes the circuit."""
        with self._lock:
            self._tick()
            if self._state is CLOSED:
                self._record(failed=False)
            elif self._state is HALF_OPEN and self._probes_in_flight:
                self._probes_in_flight.pop(0)
                self._probes_ok += 1
                if self._probes_ok >= self.half_open_max_calls:
                    self._transition(CLOSED)

    def record_failure(self) -> None:
        """The call failed. In HALF_OPEN, one failed probe re-opens the circuit."""
        with self._lock:
            self._tick()
            if self._state is CLOSED:
                self._record(failed=True)
            elif self._state is HALF_OPEN and self._probes_in_flight:
                self._transition(OPEN)

    # --- observation ----------------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """The current state, time-driven transitions applied."""
        with self._lock:
            self._tick()
            return self._state

    @property
    def failure_rate(self) -> float:
        """Failures / outcomes in the window (0.0 when empty)."""
        with self._lock:
            return sum(self._window) / len(self._window) if self._window else 0.0

    def remaining_open_s(self) -> float:
        """Seconds until OPEN turns HALF_OPEN; 0.0 in any other state."""
        with self._lock:
            now = self._tick()
            if self._state is not OPEN:
                return 0.0
            return max(0.0, self._opened_at + self.open_duration_s - now)

    def snapshot(self) -> dict[str, Any]:
        """A plain dict for tables, events and the HTTP API."""
        with self._lock:
            state = self.state
            return {
                "state": state.value,
                "failure_rate": self.failure_rate,
                "calls": len(self._window),
                "failures": sum(self._window),
                "window_size": self.window_size,
                "minimum_calls": self.minimum_calls,
                "failure_rate_threshold": self.failure_rate_threshold,
                "remaining_open_s": self.remaining_open_s(),
                "half_open_in_flight": len(self._probes_in_flight),
                "half_open_successes": self._probes_ok,
                "times_opened": self._times_opened,
                "rejected": self._rejected,
            }

    def reset(self) -> None:
        """Back to CLOSED with an empty window (a notebook's "start over" button)."""
        with self._lock:
            self._transition(CLOSED)
            self._window.clear()

    # --- internals ------------------------------------------------------------------------------

    def _record(self, failed: bool) -> None:
        self._window.append(failed)
        calls = len(self._window)
        if calls >= self.minimum_calls and sum(self._window) / calls >= self.failure_rate_threshold:
            self._transition(OPEN)

    def _tick(self) -> float:
        """Apply the transitions that time alone triggers; return the current time."""
        now = self.clock()
        if self._state is OPEN and now - self._opened_at >= self.open_duration_s:
            self._transition(HALF_OPEN)
        if (
            self._state is HALF_OPEN
            and self._probes_in_flight
            and self.half_open_timeout_s is not None
            and now - self._probes_in_flight[0] >= self.half_open_timeout_s
        ):
            self._transition(OPEN, now)
        return now

    def _transition(self, new: BreakerState, now: float | None = None) -> None:
        old = self._state
        if new is old:
            return
        self._state = new
        self._probes_in_flight.clear()
        self._probes_issued = self._probes_ok = 0
        if new is OPEN:
            self._opened_at = self.clock() if now is None else now
            self._times_opened += 1
        elif new is CLOSED:
            self._window.clear()
        if self.on_state_change is not None:
            self.on_state_change(old, new)
