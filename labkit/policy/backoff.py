"""How long to wait before a retry, when to give up, and which errors deserve a retry at all.

Composable, pure strategy objects in the style of tenacity's ``wait.py`` / ``stop.py``:

* a **wait** is called as ``wait(attempt, rng, previous=None) -> seconds``; waits add up with
  ``+`` (and ``sum()``);
* a **stop** is called as ``stop(attempt, elapsed_s) -> bool``; stops combine with ``|``, ``&``;
* a :class:`RetryPolicy` bundles a wait, a stop and the exception types to retry.

``attempt`` is the 1-based number of the *retry* being considered: attempt 1 is the wait after the
first failure, before the second delivery. Waits and stops count the same way.

No clock, no sleep, no global randomness: the caller passes ``rng`` (a ``random.Random``), so every
schedule is reproducible from a seed (``schedule(n, seed)``, used for the plots). Strategy objects
are immutable; the only per-record state, the previous delay that decorrelated jitter needs, is
passed in by the caller (``policy.delay(attempt, previous, rng)``). One policy can therefore serve
every record, partition and thread at once.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import partial

from labkit.errors import TransientError, classify

__all__ = [
    "Wait", "Immediate", "Fixed", "Exponential", "ExponentialJitter", "FullJitter", "EqualJitter",
    "DecorrelatedJitter", "WaitSum", "Scaled",
    "immediate", "fixed", "exponential", "exponential_jitter", "full_jitter", "equal_jitter",
    "decorrelated_jitter",
    "Stop", "StopAfterAttempt", "StopAfterDelay", "StopAny", "StopAll",
    "stop_after_attempt", "stop_after_delay",
    "RetryPolicy", "retry_config", "WAIT_STRATEGIES",
]  # fmt: skip

_DEFAULT_RNG = random.Random()


def _check(name: str, value: float, minimum: float = 0.0) -> None:
    if not value >= minimum:  # also rejects NaN
        raise ValueError(f"{name} must be >= {minimum:g}, got {value!r}")


class _NonNegative:
    """Dataclass mixin: every numeric field (delays, caps, counts) must be >= 0."""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                _check(f.name, value)


def _capped_exp(initial: float, multiplier: float, attempt: int, cap: float) -> float:
    """``min(cap, initial · multiplier^(attempt−1))`` without overflowing on huge attempts."""
    try:
        return min(cap, initial * multiplier ** (attempt - 1))
    except OverflowError:
        return cap


# --- waits -------------------------------------------------------------------------------------


class Wait(_NonNegative):
    """Base of the wait strategies. Subclasses implement ``_delay``; the base adds ``+``, ``sum()``,
    :meth:`scaled` and :meth:`schedule`.

    ``previous`` is the delay applied before the previous retry (``None`` before the first one);
    only :class:`DecorrelatedJitter` reads it.
    """

    def __call__(self, attempt: int, rng: random.Random, previous: float | None = None) -> float:
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        return self._delay(attempt, rng, previous)

    def _delay(self, attempt: int, rng: random.Random, previous: float | None) -> float:
        raise NotImplementedError

    def __add__(self, other: object) -> Wait:
        if not isinstance(other, Wait):
            return NotImplemented
        return WaitSum((*_parts(self), *_parts(other)))

    def __radd__(self, other: object) -> Wait:
        return self if other == 0 else NotImplemented  # sum() starts from 0

    def scaled(self, factor: float) -> Wait:
        """The same strategy with every delay multiplied by ``factor`` (``LABKIT_FAST``)."""
        return Scaled(self, factor)

    def schedule(self, n: int, seed: int | None = 0) -> list[float]:
        """The planned delays for retries 1..n, reproducible from ``seed`` (``None``: fresh)."""
        rng, delays, previous = random.Random(seed), [], None
        for attempt in range(1, n + 1):
            previous = self(attempt, rng, previous)
            delays.append(previous)
        return delays


def _parts(wait: Wait) -> tuple[Wait, ...]:
    return wait.parts if isinstance(wait, WaitSum) else (wait,)


@dataclass(frozen=True)
class Immediate(Wait):
    """Retry at once: ``0``. The module's strategy 1; it hammers a struggling service."""

    def _delay(self, attempt, rng, previous):
        return 0.0


@dataclass(frozen=True)
class Fixed(Wait):
    """Always the same pause: ``delay_s``. The module's strategy 2 (1000 ms)."""

    delay_s: float

    def _delay(self, attempt, rng, previous):
        return float(self.delay_s)


@dataclass(frozen=True)
class Exponential(Wait):
    """Capped exponential: ``min(max_s, initial_s · multiplier^(attempt−1))`` (1, 2, 4, 8… s)."""

    initial_s: float = 1.0
    multiplier: float = 2.0
    max_s: float = 300.0

    def __post_init__(self):
        super().__post_init__()
        _check("multiplier", self.multiplier, 1.0)

    def _delay(self, attempt, rng, previous):
        return float(_capped_exp(self.initial_s, self.multiplier, attempt, self.max_s))


@dataclass(frozen=True)
class ExponentialJitter(Exponential):
    """The module's ``RetryConfig``: exponential ± a jitter factor (1 s ± 0.2 s, 2 s ± 0.4 s, 4 s ± 0.8 s).

    ``base = min(max_s, initial_s · multiplier^(attempt−1))``;
    ``delay = base · uniform(1 − jitter_factor, 1 + jitter_factor)``.

    The cap applies to the base, *before* the jitter: at the cap delays still spread over
    ``max_s · (1 ± jitter_factor)`` (240-360 s for the module), so ``max_s`` bounds the mean, not
    every draw, and consumers stay desynchronised. resilience4j caps *after* the jitter
    (``min(max_s, initial_s · multiplier^(attempt−1) · uniform(1 ± f))``): once the base passes
    the cap every client waits exactly ``max_s`` and they retry in lockstep again.
    ``cap_after_jitter=True`` reproduces that collapse for the notebook.
    """

    jitter_factor: float = 0.2
    cap_after_jitter: bool = False

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.jitter_factor <= 1.0:
            raise ValueError(f"jitter_factor must be in [0, 1], got {self.jitter_factor!r}")

    def _delay(self, attempt, rng, previous):
        f = self.jitter_factor
        factor = rng.uniform(1.0 - f, 1.0 + f)
        if not self.cap_after_jitter:
            return _capped_exp(self.initial_s, self.multiplier, attempt, self.max_s) * factor
        base = _capped_exp(self.initial_s, self.multiplier, attempt, math.inf)
        return self.max_s if base == math.inf else min(self.max_s, base * factor)


@dataclass(frozen=True)
class _AwsWait(Wait):
    """The AWS study's parameters: ``base_s`` and the cap ``max_s``. The blog post:
    https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/"""

    base_s: float = 1.0
    max_s: float = 300.0


@dataclass(frozen=True)
class FullJitter(_AwsWait):
    """AWS "Full Jitter": ``uniform(0, min(max_s, base_s · 2^(attempt−1)))``. Fewest calls."""

    def _delay(self, attempt, rng, previous):
        return rng.uniform(0.0, _capped_exp(self.base_s, 2.0, attempt, self.max_s))


@dataclass(frozen=True)
class EqualJitter(_AwsWait):
    """AWS "Equal Jitter": ``v/2 + uniform(0, v/2)`` with ``v = min(max_s, base_s · 2^(attempt−1))``."""

    def _delay(self, attempt, rng, previous):
        v = _capped_exp(self.base_s, 2.0, attempt, self.max_s)
        return v / 2 + rng.uniform(0.0, v / 2)


@dataclass(frozen=True)
class DecorrelatedJitter(_AwsWait):
    """AWS "Decorrelated Jitter": ``min(max_s, uniform(base_s, previous · 3))``, ``previous = base_s`` at first.

    The only stateful strategy: each delay depends on the one before. The state is not kept
    here but passed in as ``previous`` (the delay the caller last applied to *this* record), so
    one object serves every record. :meth:`schedule` threads it along for you.
    """

    def _delay(self, attempt, rng, previous):
        prev = self.base_s if previous is None else previous
        return min(self.max_s, rng.uniform(self.base_s, prev * 3))


@dataclass(frozen=True)
class WaitSum(Wait):
    """``a + b + …``: the sum of the parts' delays. Every part sees the same ``attempt`` and the
    same ``previous`` (the total delay applied last time)."""

    parts: tuple[Wait, ...]

    def _delay(self, attempt, rng, previous):
        return sum(part(attempt, rng, previous) for part in self.parts)


@dataclass(frozen=True)
class Scaled(Wait):
    """``factor · wait(attempt)``; ``previous`` is unscaled on the way in, so decorrelated jitter
    follows the same chain, only faster. Used by ``LABKIT_FAST``."""

    wait: Wait
    factor: float

    def _delay(self, attempt, rng, previous):
        inner_previous = previous / self.factor if previous is not None and self.factor > 0 else None
        return self.factor * self.wait(attempt, rng, inner_previous)

    def scaled(self, factor: float) -> Wait:
        return Scaled(self.wait, self.factor * factor)


immediate, fixed, exponential, exponential_jitter = Immediate, Fixed, Exponential, ExponentialJitter
full_jitter, equal_jitter, decorrelated_jitter = FullJitter, EqualJitter, DecorrelatedJitter


# --- stops -------------------------------------------------------------------------------------


class Stop(_NonNegative):
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


# --- the policy --------------------------------------------------------------------------------


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


WAIT_STRATEGIES: dict[str, Callable[[], Wait]] = {
    "immediate": Immediate,
    "fixed": partial(Fixed, 1.0),
    "exponential": partial(Exponential, 1.0, 2.0, 300.0),
    "exponential+jitter": partial(ExponentialJitter, 1.0, 2.0, 300.0, 0.2),
}
"""The module's four strategies (Partie 2 diagram), name -> factory."""
