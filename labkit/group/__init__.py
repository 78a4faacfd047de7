"""A consumer group of real processes: the supervisor a notebook drives (:mod:`labkit.group.supervisor`) and
the worker process it starts (:mod:`labkit.group.worker`, also ``labkit consumer``).

Its public names are importable from here (``from labkit.group import ConsumerGroup``), each loaded on first use.
"""

from labkit.lazy import exports

PUBLIC = {
    "labkit.group.supervisor": ["ConsumerGroup"],
}
__all__ = [name for names in PUBLIC.values() for name in names]
__getattr__, __dir__ = exports(__name__, PUBLIC)
