"""The circuit breaker's pause: when the breaker opens, consumption of every assigned partition pauses
(the failed record is put back, no retry spent); when it half-opens, consumption resumes to probe the
service (ARCHITECTURE.md, "the engine"). The breaker itself, its states and counts, is
:mod:`labkit.policy.breaker`.

:class:`BreakerPause` is a collaborator of :class:`~labkit.engine.processor.OrderProcessor`
(``processor.breaker_pause``): it owns the paused flag, which the processor's loop reads once per record
(:meth:`~labkit.engine.handling.RecordHandling._handle_records`), and reaches back for the processor's breaker,
consumer, lock, gate and events only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from labkit.engine.rebalance import format_partitions
from labkit.engine.retry_topic import resume
from labkit.events import BreakerStateChanged, ConsumptionPaused, ConsumptionResumed, partition_tuples
from labkit.policy.breaker import BreakerState, CircuitBreaker

if TYPE_CHECKING:  # the processor owns its breaker pause; the pause only calls back into it
    from labkit.engine.processor import OrderProcessor

__all__ = ["BreakerPause"]

log = logging.getLogger("labkit.engine.processor")


class BreakerPause:
    """Every assigned partition of ``processor`` paused while its circuit breaker is open."""

    def __init__(self, processor: OrderProcessor) -> None:
        self.processor = processor
        self.paused = False  # written under processor.lock

    def report_changes(self, breaker: CircuitBreaker) -> None:
        """The main processor reports the breaker's changes (a BreakerStateChanged event, a warning),
        then calls the breaker's own ``on_state_change`` if it had one."""
        previous = breaker.on_state_change
        emit = self.processor.emit

        def on_change(old: BreakerState, new: BreakerState) -> None:
            emit(BreakerStateChanged(old=old.value, new=new.value))
            log.warning("circuit breaker %s -> %s", old.value, new.value)
            if previous is not None:
                previous(old, new)

        breaker.on_state_change = on_change

    def check(self) -> None:
        """Once per step: resume if the breaker is no longer open; while it is, pause the fresh
        partitions a rebalance gave."""
        p = self.processor
        breaker, consumer = p.breaker, p.consumer
        if breaker is None:
            return
        state = breaker.state
        if self.paused and state is not BreakerState.OPEN:
            with p.lock:
                self.paused = False
                resumable = [tp for tp in consumer.assignment() if tp not in p.gate]
            if resumable:
                resume(consumer, resumable)
            p.emit(ConsumptionResumed(partitions=partition_tuples(resumable), reason=f"breaker {state.value}"))
            log.info("circuit breaker %s: consumption resumed on %s", state.value, format_partitions(resumable))
        elif self.paused:
            assigned = consumer.assignment()
            if assigned - consumer.paused():  # a rebalance gave us fresh, unpaused partitions
                consumer.pause(*assigned)

    def pause_all(self, tp: Any, offset: int, reason: str) -> None:
        """Put ``tp`` back on ``offset`` (the record not handled) and pause every assigned partition."""
        p = self.processor
        consumer = p.consumer
        consumer.seek(tp, offset)
        assigned = consumer.assignment()
        consumer.pause(*assigned)
        with p.lock:
            self.paused = True
        p.emit(ConsumptionPaused(partitions=partition_tuples(assigned), reason=reason))
        log.warning("%s: consumption paused on %s", reason, format_partitions(assigned))
