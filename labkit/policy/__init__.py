"""Retry policies and the circuit breaker: pure decisions (when to wait, how long, when to stop), no Kafka,
no clock of their own.

Its public names are importable from here (``from labkit.policy import RetryPolicy``), each loaded on first use.
"""

from labkit.lazy import exports

PUBLIC = {
    "labkit.policy.backoff": ["RetryPolicy", "retry_config", "Fixed", "Exponential", "ExponentialJitter",
                              "FullJitter", "EqualJitter", "DecorrelatedJitter", "stop_after_attempt",
                              "stop_after_delay", "WAIT_STRATEGIES"],
    "labkit.policy.breaker": ["CircuitBreaker", "BreakerState"],
}
__all__ = [name for names in PUBLIC.values() for name in names]
__getattr__, __dir__ = exports(__name__, PUBLIC)
