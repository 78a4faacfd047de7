"""How long to wait before a retry: composable, pure strategies in the style of tenacity's ``wait.py``.

A **wait** is called as ``wait(attempt, rng, previous=None) -> seconds``; waits add up with ``+``
(and ``sum()``). ``attempt`` is the 1-based number of the *retry* being considered: attempt 1 is the
wait after the first failure, before the second delivery.

No clock, no sleep, no global randomness: the caller passes ``rng`` (a ``random.Random``), so every
schedule is reproducible from a seed (``schedule(n, seed)``, used for the plots). Strategy objects are
immutable; the only per-record state, the previous delay that decorrelated jitter needs, is passed in
by the caller. One wait can therefore serve every record, partition and thread at once.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from labkit.policy.checks import NonNegative, require_at_least

__all__ = [
    "Wait", "Immediate", "Fixed", "Exponential", "ExponentialJitter", "FullJitter", "EqualJitter",
    "DecorrelatedJitter", "WaitSum", "Scaled",
    "immediate", "fixed", "exponential", "exponential_jitter", "full_jitter", "equal_jitter",
    "decorrelated_jitter", "WAIT_STRATEGIES",
]  # fmt: skip


def _capped_exp(initial: float, multiplier: float, attempt: int, cap: float) -> float:
    """``min(cap, initial · multiplier^(attempt−1))`` without overflowing on huge attempts."""
    try:
        return min(cap, initial * multiplier ** (attempt - 1))
    except OverflowError:
        return cap




class Wait(NonNegative):
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
        require_at_least("multiplier", self.multiplier, 1.0)

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



WAIT_STRATEGIES: dict[str, Callable[[], Wait]] = {
    "immediate": Immediate,
    "fixed": partial(Fixed, 1.0),
    "exponential": partial(Exponential, 1.0, 2.0, 300.0),
    "exponential+jitter": partial(ExponentialJitter, 1.0, 2.0, 300.0, 0.2),
}
"""The module's four strategies (Partie 2 diagram), name -> factory."""
