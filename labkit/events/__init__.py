"""What happened, step by step: the frozen events every layer emits (:mod:`labkit.events.kinds`) and the
log that turns them into tables, stats and the no-loss ledger (:mod:`labkit.events.log`).

The *record id* of an event is its ``order_id`` when known, else its record ``key``: the course
produces orders keyed by ``orderId``, so both name the same order (and a poison record, which has
no parsable order id, is still followed by its key).
"""

from labkit.events.kinds import *  # noqa: F403 - the event vocabulary, all of it
from labkit.events.kinds import __all__ as _kinds
from labkit.events.log import SERVICE_MAX_EVENTS, EventLog

__all__ = [*_kinds, "EventLog", "SERVICE_MAX_EVENTS"]
