"""The switchable downstream "order service": the one place where the labs inject failures.

The consumer's handler calls :meth:`FailureInjector.call` for every order, as if it called the real
order API. What the "service" does is set by a few switches (flipped by widgets, the HTTP API or
a test, from any thread, while the consumer runs):

* ``transient`` on/off, with a probability ``rate``: the service is down (``ServiceUnavailable``);
* ``fail_first=N``: the first N calls *for each orderId* fail, then it succeeds (a hiccup that a
  retry cures: N retries are needed);
* ``latency_s``: every call takes that long (a slow service);
* ``targets``: a set of orderIds the failures apply to (``None``: every order);
* ``seed``: the random draws are reproducible.

Whoever flips a switch (the panel, the ``curl`` endpoint, a test), :meth:`FailureInjector.subscribe`'s
callbacks hear of it with the new :meth:`~FailureInjector.snapshot`: that is how the panel stays a true view
of the service.

A plain model object: no Kafka, thread-safe, injectable ``sleep``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from labkit.errors import ServiceUnavailable, TransientError

__all__ = ["FailureInjector"]

_FIELDS = ("transient", "rate", "fail_first", "latency_s", "error", "targets")

log = logging.getLogger("labkit.engine.injection")


class FailureInjector:
    """A fake downstream service whose failures are switched on and off at run time.

    >>> svc = FailureInjector(fail_first=1)
    >>> from labkit.orders import Order
    >>> try:
    ...     svc.call(Order("ORD-1", 100))
    ... except Exception as exc:
    ...     print(type(exc).__name__)
    ServiceUnavailable
    >>> svc.call(Order("ORD-1", 100))  # the retry succeeds
    """

    def __init__(
        self,
        transient: bool = False,
        rate: float = 1.0,
        fail_first: int = 0,
        latency_s: float = 0.0,
        seed: int | None = 0,
        error: type[TransientError] = ServiceUnavailable,
        targets: Any = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.seed = seed
        self.sleep = sleep
        self.transient = False
        self.rate = 1.0
        self.fail_first = 0
        self.latency_s = 0.0
        self.error: type[TransientError] = ServiceUnavailable
        self.targets: frozenset[str] | None = None
        self._attempts: Counter[str] = Counter()
        self.calls = 0
        self.failures = 0
        self._subscribers: tuple[Callable[[dict[str, Any]], Any], ...] = ()  # replaced, never mutated
        self.set(
            transient=transient, rate=rate, fail_first=fail_first, latency_s=latency_s, error=error, targets=targets
        )

    def set(self, **switches: Any) -> dict[str, Any]:
        """Change switches (``transient``, ``rate``, ``fail_first``, ``latency_s``, ``error``); returns
        the new :meth:`snapshot`. Unknown names raise ``TypeError``. The subscribers hear of a change
        (nothing is said when every value was already so)."""
        unknown = set(switches) - set(_FIELDS)
        if unknown:
            raise TypeError(f"unknown switch(es) {sorted(unknown)}; known: {', '.join(_FIELDS)}")
        if "rate" in switches and not 0.0 <= float(switches["rate"]) <= 1.0:
            raise ValueError(f"rate must be in [0, 1], got {switches['rate']!r}")
        if "fail_first" in switches and int(switches["fail_first"]) < 0:
            raise ValueError(f"fail_first must be >= 0, got {switches['fail_first']!r}")
        if "latency_s" in switches and not float(switches["latency_s"]) >= 0:
            raise ValueError(f"latency_s must be >= 0, got {switches['latency_s']!r}")
        if "error" in switches and not (
            isinstance(switches["error"], type) and issubclass(switches["error"], TransientError)
        ):
            raise TypeError("error must be a TransientError subclass")
        changed = False
        with self._lock:
            for name, value in switches.items():
                if name in ("rate", "latency_s"):
                    value = float(value)
                elif name == "fail_first":
                    value = int(value)
                elif name == "transient":
                    value = bool(value)
                elif name == "targets" and value is not None:
                    value = frozenset([value] if isinstance(value, str) else value)
                changed = changed or getattr(self, name) != value
                setattr(self, name, value)
            snapshot = self._snapshot()
            subscribers = self._subscribers
        if changed:
            self._notify(subscribers, snapshot)
        return snapshot

    def subscribe(self, callback: Callable[[dict[str, Any]], Any]) -> Callable[[], None]:
        """Call ``callback(snapshot)`` after every change of a switch, whoever made it, on the thread
        that made it; returns a function that unsubscribes. A failing callback is logged, never raised
        to whoever flipped the switch."""
        with self._lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._lock:
                rest = list(self._subscribers)
                if callback in rest:
                    rest.remove(callback)
                    self._subscribers = tuple(rest)

        return unsubscribe

    @property
    def subscribers(self) -> tuple[Callable[[dict[str, Any]], Any], ...]:
        """Who hears of the changes (the open panels)."""
        return self._subscribers

    @staticmethod
    def _notify(subscribers: tuple[Callable[[dict[str, Any]], Any], ...], snapshot: dict[str, Any]) -> None:
        for callback in subscribers:  # outside the lock: a subscriber may read the injector again
            try:
                callback(dict(snapshot))
            except Exception:  # a broken panel must not break the endpoint that flipped the switch
                log.exception("failure-injection subscriber %r failed", callback)

    def reset(self) -> None:
        """Forget per-order attempt counts and counters (the switches stay)."""
        with self._lock:
            self._attempts.clear()
            self.calls = self.failures = 0
            self._rng = random.Random(self.seed)

    def snapshot(self) -> dict[str, Any]:
        """The switches and the counters, as plain values."""
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:  # caller holds the lock
        return {
            "transient": self.transient,
            "rate": self.rate,
            "fail_first": self.fail_first,
            "latency_s": self.latency_s,
            "error": self.error.__name__,
            "targets": None if self.targets is None else sorted(self.targets),
            "calls": self.calls,
            "failures": self.failures,
            "seed": self.seed,
        }

    def call(self, order: Any) -> None:
        """Call the "service" for ``order`` (an ``Order`` or an order id). Raises a
        :class:`~labkit.errors.TransientError` subclass when a switch says so."""
        order_id = getattr(order, "order_id", order)
        with self._lock:
            latency = self.latency_s
            self.calls += 1
            self._attempts[order_id] += 1
            attempt = self._attempts[order_id]
            error: TransientError | None = None
            if self.targets is not None and order_id not in self.targets:
                pass
            elif attempt <= self.fail_first:
                error = self.error(f"order service failed call {attempt}/{self.fail_first} for {order_id}")
            elif self.transient and (self.rate >= 1.0 or self._rng.random() < self.rate):
                error = self.error(f"order service unavailable for {order_id}")
            if error is not None:
                self.failures += 1
        if latency > 0:
            self.sleep(latency)
        if error is not None:
            raise error

    __call__ = call

    def attempts(self, order_id: str) -> int:
        """How many calls the service received for ``order_id``."""
        with self._lock:
            return self._attempts[order_id]

