"""The one exception the broker layer raises: its message is the one line a student needs."""


class BrokerError(RuntimeError):
    """Starting, finding or stopping a broker failed; ``str(exc)`` says what to do."""
