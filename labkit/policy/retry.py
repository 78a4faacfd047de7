"""A retry policy: a wait, a stop, and which errors deserve a retry at all; the module's ``RetryConfig``."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from labkit.errors import TransientError, classify
from labkit.policy.stop import Stop, StopAfterAttempt
from labkit.policy.wait import ExponentialJitter, Wait

__all__ = ["RetryPolicy", "retry_config"]

_DEFAULT_RNG = random.Random()




@dataclass(frozen=True)
class RetryPolicy:
    """A wait, a stop, and the exception types worth a retry. Defaults = the module's RetryConfig.

    ``max_attempts`` is a shortcut for ``stop=stop_after_attempt(n)`` (combined with ``|`` if a
    ``stop`` is given too); after construction it holds the stop's retry bound. It counts
    **retries, not deliveries**: with 5, a record that always fails is delivered 6 times and
    lands in the DLT with ``retryCount = 5`` (Spring's ``maxAttempts`` would count the first
    delivery).
    """

    wait: Wait = field(default_factory=lambda: ExponentialJitter(1.0, 2.0, 300.0, 0.2))
    stop: Stop | None = None
    retry_on: tuple[type[BaseException], ...] = (TransientError,)
    max_attempts: int | None = None

    def __post_init__(self):
        stop, n = self.stop, self.max_attempts
        if stop is None:
            stop = StopAfterAttempt(5 if n is None else n)
        elif n is not None and stop.max_attempts != n:
            stop = stop | StopAfterAttempt(n)
        retry_on = (self.retry_on,) if isinstance(self.retry_on, type) else tuple(self.retry_on)
        object.__setattr__(self, "stop", stop)
        object.__setattr__(self, "max_attempts", stop.max_attempts)
        object.__setattr__(self, "retry_on", retry_on)

    def should_retry(self, exc: BaseException, attempt: int, elapsed_s: float = 0.0) -> bool:
        """Make retry number ``attempt`` after ``exc``? Three gates, all required:

        ``exc`` is an instance of ``retry_on`` (the allow-list, like ``retryOn`` / stamina's
        ``on=``), :func:`~labkit.errors.classify` calls it transient (a permanent error is never
        retried, even if listed), and the stop does not say stop. ``retry_on=(Exception,)`` means
        "whatever classify calls transient", Kafka's retriable errors included.
        """
        return (
            isinstance(exc, self.retry_on)
            and classify(exc) == "transient"
            and not self.stop(attempt, elapsed_s)
        )

    def delay(self, attempt: int, previous: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry ``attempt``; ``previous`` = this record's last delay."""
        return self.wait(attempt, _DEFAULT_RNG if rng is None else rng, previous)

    @property
    def max_deliveries(self) -> int | None:
        """Deliveries of an always-failing record: the first one plus ``max_attempts`` retries."""
        return None if self.max_attempts is None else self.max_attempts + 1

    def scaled(self, factor: float) -> RetryPolicy:
        """Every delay and time limit multiplied by ``factor``; same decisions (``LABKIT_FAST``)."""
        return RetryPolicy(self.wait.scaled(factor), self.stop.scaled(factor), self.retry_on)

    def schedule(self, seed: int | None = 0, n: int | None = None) -> list[float]:
        """Planned delays of an always-failing record, until the stop (or ``n`` retries)."""
        limit = self.max_attempts if n is None else n
        if limit is None:
            raise ValueError("this policy has no retry limit; pass n")
        rng, delays, previous, elapsed = random.Random(seed), [], None, 0.0
        for attempt in range(1, limit + 1):
            if self.stop(attempt, elapsed):
                break
            previous = self.wait(attempt, rng, previous)
            delays.append(previous)
            elapsed += previous
        return delays


def retry_config() -> RetryPolicy:
    """The module's ``RetryConfig``: maxAttempts 5, initialDelay 1 s, maxDelay 5 min, multiplier 2.0,
    jitterFactor 0.2, retryOn TransientException."""
    return RetryPolicy(
        wait=ExponentialJitter(initial_s=1.0, multiplier=2.0, max_s=300.0, jitter_factor=0.2),
        max_attempts=5,
        retry_on=(TransientError,),
    )
