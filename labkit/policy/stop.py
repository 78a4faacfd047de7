"""When to give up retrying: composable stops in the style of tenacity's ``stop.py``.

A **stop** is called as ``stop(attempt, elapsed_s) -> bool``; stops combine with ``|`` (either) and
``&`` (both). ``attempt`` counts retries like the waits do (:mod:`labkit.policy.wait`).
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit.policy.checks import NonNegative

__all__ = ["Stop", "StopAfterAttempt", "StopAfterDelay", "StopAny", "StopAll", "stop_after_attempt",
           "stop_after_delay"]




class Stop(NonNegative):
    """Base of the stop strategies: ``stop(attempt, elapsed_s)`` is True when retry number
    ``attempt`` must *not* be made (the record goes to the DLT). ``elapsed_s``: seconds since the
    first failure. Combine with ``|`` (either stops) and ``&`` (both must stop)."""

    def __call__(self, attempt: int, elapsed_s: float) -> bool:
        raise NotImplementedError

    def __or__(self, other: object) -> Stop:
        return StopAny((self, other)) if isinstance(other, Stop) else NotImplemented

    def __and__(self, other: object) -> Stop:
        return StopAll((self, other)) if isinstance(other, Stop) else NotImplemented

    @property
    def max_attempts(self) -> int | None:
        """The most retries this stop ever allows, or None if the number is not bounded."""
        return None

    def scaled(self, factor: float) -> Stop:
        """Time limits multiplied by ``factor``, so a fast run gives up after the same retries."""
        return self


@dataclass(frozen=True)
class StopAfterAttempt(Stop):
    """Give up once ``n`` retries have been made: stop when ``attempt > n``.

    Unlike tenacity's ``stop_after_attempt`` (which counts the first call), ``n`` counts
    *retries*: the record is delivered ``n + 1`` times and reaches the DLT with ``retryCount = n``.
    """

    n: int

    def __call__(self, attempt, elapsed_s):
        return attempt > self.n

    @property
    def max_attempts(self):
        return self.n


@dataclass(frozen=True)
class StopAfterDelay(Stop):
    """Give up once ``elapsed_s >= seconds``, the time since the first failure."""

    seconds: float

    def __call__(self, attempt, elapsed_s):
        return elapsed_s >= self.seconds

    def scaled(self, factor):
        return StopAfterDelay(self.seconds * factor)


@dataclass(frozen=True)
class StopAny(Stop):
    """``a | b``: stop as soon as one of them says stop."""

    stops: tuple[Stop, ...]

    def __call__(self, attempt, elapsed_s):
        return any(stop(attempt, elapsed_s) for stop in self.stops)

    @property
    def max_attempts(self):
        bounds = [s.max_attempts for s in self.stops if s.max_attempts is not None]
        return min(bounds) if bounds else None

    def scaled(self, factor):
        return StopAny(tuple(s.scaled(factor) for s in self.stops))


@dataclass(frozen=True)
class StopAll(Stop):
    """``a & b``: stop only when all of them say stop."""

    stops: tuple[Stop, ...]

    def __call__(self, attempt, elapsed_s):
        return all(stop(attempt, elapsed_s) for stop in self.stops)

    @property
    def max_attempts(self):
        bounds = [s.max_attempts for s in self.stops]
        return None if None in bounds else max(bounds)

    def scaled(self, factor):
        return StopAll(tuple(s.scaled(factor) for s in self.stops))


stop_after_attempt, stop_after_delay = StopAfterAttempt, StopAfterDelay
