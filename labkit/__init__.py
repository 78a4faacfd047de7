"""labkit: the engine of the Kafka error-handling course (DLT, retries, rebalancing, monitoring).

Import what you need from its modules, e.g. ``from labkit.backoff import exponential``.
"""

__version__ = "0.1.0"
