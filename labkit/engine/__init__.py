"""The consumer engine: the order processor and its three retry modes, the done watermark it commits,
rebalance handling, the idempotent order store and the failing "order service" the labs switch.

Its public names are importable from here (``from labkit.engine import OrderProcessor``), each loaded on first use.
"""

from labkit.lazy import exports

PUBLIC = {
    "labkit.engine.processor": ["OrderProcessor", "MODES"],
    "labkit.engine.store": ["OrderStore"],
    "labkit.engine.injection": ["FailureInjector"],
    "labkit.engine.rebalance": ["RebalanceListener"],
    "labkit.engine.retry_topic": ["RetryHeaders"],
    "labkit.engine.done": ["DoneTracker"],
}
__all__ = [name for names in PUBLIC.values() for name in names]
__getattr__, __dir__ = exports(__name__, PUBLIC)
