"""The circuit breaker's pause: when the breaker opens, consumption of every assigned partition pauses
(the failed record is put back, no retry spent); when it half-opens, consumption resumes to probe the
service (ARCHITECTURE.md, "the engine"). The breaker itself, its states and counts, is
:mod:`labkit.policy.breaker`.

:class:`BreakerPause` is a mixin of :class:`~labkit.engine.processor.OrderProcessor`: the paused flag is
the processor's, read once per record on the hot path (:meth:`RecordHandling._handle_records`).
"""

from __future__ import annotations

import logging
from typing import Any

from labkit.engine.rebalance import format_partitions
from labkit.engine.retry_topic import resume
from labkit.events import BreakerStateChanged, ConsumptionPaused, ConsumptionResumed, partition_tuples
from labkit.policy.breaker import BreakerState, CircuitBreaker

__all__ = ["BreakerPause"]

log = logging.getLogger("labkit.engine.processor")


class BreakerPause:
    """The breaker methods of :class:`~labkit.engine.processor.OrderProcessor`."""

    def _report_breaker_changes(self, breaker: CircuitBreaker) -> None:
        """The main processor reports the breaker's changes (a BreakerStateChanged event, a warning),
        then calls the breaker's own ``on_state_change`` if it had one."""
        previous = breaker.on_state_change

        def on_change(old: BreakerState, new: BreakerState) -> None:
            self.emit(BreakerStateChanged(old=old.value, new=new.value))
            log.warning("circuit breaker %s -> %s", old.value, new.value)
            if previous is not None:
                previous(old, new)

        breaker.on_state_change = on_change

    def _check_breaker(self) -> None:
        breaker, consumer = self.breaker, self.consumer
        if breaker is None:
            return
        state = breaker.state
        if self._breaker_paused and state is not BreakerState.OPEN:
            with self.lock:
                self._breaker_paused = False
                resumable = [tp for tp in consumer.assignment() if tp not in self.gate]
            if resumable:
                resume(consumer, resumable)
            self.emit(ConsumptionResumed(partitions=partition_tuples(resumable), reason=f"breaker {state.value}"))
            log.info("circuit breaker %s: consumption resumed on %s", state.value, format_partitions(resumable))
        elif self._breaker_paused:
            assigned = consumer.assignment()
            if assigned - consumer.paused():  # a rebalance gave us fresh, unpaused partitions
                consumer.pause(*assigned)

    def _pause_all(self, tp: Any, offset: int, reason: str) -> None:
        consumer = self.consumer
        consumer.seek(tp, offset)
        assigned = consumer.assignment()
        consumer.pause(*assigned)
        with self.lock:
            self._breaker_paused = True
        self.emit(ConsumptionPaused(partitions=partition_tuples(assigned), reason=reason))
        log.warning("%s: consumption paused on %s", reason, format_partitions(assigned))
