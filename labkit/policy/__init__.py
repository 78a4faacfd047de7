"""Pure retry decisions, no Kafka, no clock of their own: how long to wait (:mod:`~labkit.policy.wait`),
until when (:mod:`~labkit.policy.stop`), which errors (:mod:`~labkit.policy.retry`), the circuit
breaker (:mod:`~labkit.policy.breaker`), and whether a consumer is healthy (:mod:`~labkit.policy.health`).

Its public names are importable from here (``from labkit.policy import RetryPolicy``), each loaded on first use.
"""

from labkit.lazy import exports

PUBLIC = {
    "labkit.policy.retry": ["RetryPolicy", "retry_config"],
    "labkit.policy.wait": ["Fixed", "Exponential", "ExponentialJitter", "FullJitter", "EqualJitter",
                           "DecorrelatedJitter", "WAIT_STRATEGIES"],
    "labkit.policy.stop": ["stop_after_attempt", "stop_after_delay"],
    "labkit.policy.breaker": ["CircuitBreaker", "BreakerState"],
    "labkit.policy.health": ["ConsumerView", "consumer_health"],
}
__all__ = [name for names in PUBLIC.values() for name in names]
__getattr__, __dir__ = exports(__name__, PUBLIC)
