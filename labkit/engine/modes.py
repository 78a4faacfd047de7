"""The three ways to wait before a retry, as small objects. The processor asks its mode one
question, once an attempt failed transiently and the policy allows another: *now what?*

``sleep`` (:class:`SleepMode`)
    the module's naive ``sleepWithBackoff``: sleep in the loop, then try again at once. Kept to show
    the pitfall: no ``poll()`` while sleeping, so a long backoff gets the consumer kicked out of its
    group (ARCHITECTURE.md, "why pause keeps records aside").
``pause`` (:class:`PauseMode`)
    blocking but safe: keep the record (and those behind it) aside in the :class:`~labkit.engine.retry_topic.DueGate`,
    pause its partition, keep polling; the processor tries again when it is due.
``topic`` (:class:`TopicMode`)
    non-blocking: hand the record to the retry topic (its retry state in headers); it is done here
    once that write is acknowledged. A record too large for the retry topic waits in place instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kafka.errors import MessageSizeTooLargeError

from labkit.engine.retry_topic import send_to_retry
from labkit.errors import describe
from labkit.events import Retried, SentToRetryTopic

if TYPE_CHECKING:  # the processor owns its mode; the mode only calls back into it
    from labkit.dlt.envelope import SourceCoords
    from labkit.engine.processor import OrderProcessor

__all__ = ["MODES", "AGAIN", "HANDED_OVER", "HELD", "Failure", "RetryState", "SleepMode", "PauseMode", "TopicMode",
           "mode_for"]

log = logging.getLogger("labkit.engine.processor")

MODES = ("sleep", "pause", "topic")

# what the mode did with a failed record
AGAIN = "again"  # try the handler again now (the sleep is over)
HANDED_OVER = "handed over"  # the retry topic has it: done here once acknowledged
HELD = "held"  # kept aside until due: stop reading its partition for now


@dataclass(frozen=True)
class Failure:
    """A transient failure the policy will retry: attempt ``attempt`` is due in ``delay_s``."""

    tp: Any
    record: Any
    error: BaseException
    attempt: int
    delay_s: float
    first_failure_wall: float
    original: SourceCoords | None
    coords: dict[str, Any]


@dataclass
class RetryState:
    """A record held by the pause mode, between two attempts."""

    attempts: int  # retries scheduled so far for this record
    first_failure_wall: float
    failed_at: float  # processor.clock() when the current backoff started
    planned_s: float
    previous_s: float | None
    error: str


class SleepMode:
    name = "sleep"

    def __init__(self, processor: OrderProcessor) -> None:
        self.processor = processor

    def retry(self, failure: Failure) -> str:
        p = self.processor
        started = p.clock()
        p.sleep(failure.delay_s)  # the pitfall: no poll() while sleeping
        p.emit(Retried(attempt=failure.attempt, planned_delay_s=failure.delay_s,
                       actual_delay_s=p.clock() - started, **failure.coords))
        return AGAIN


class PauseMode:
    name = "pause"

    def __init__(self, processor: OrderProcessor) -> None:
        self.processor = processor

    def retry(self, failure: Failure) -> str:
        p = self.processor
        now = p.clock()
        with p.lock:
            p.retry_states[(failure.tp, failure.record.offset)] = RetryState(
                attempts=failure.attempt, first_failure_wall=failure.first_failure_wall, failed_at=now,
                planned_s=failure.delay_s, previous_s=failure.delay_s, error=describe(failure.error),
            )
            p.gate.hold(p.consumer, failure.tp, failure.record, now + failure.delay_s)
        return HELD


class TopicMode:
    name = "topic"

    def __init__(self, processor: OrderProcessor) -> None:
        self.processor = processor
        self.in_place = PauseMode(processor)

    def retry(self, failure: Failure) -> str:
        p, record = self.processor, failure.record
        try:
            headers, future = send_to_retry(
                p.producer, p.settings.retry_topic, record, failure.error, attempt=failure.attempt,
                delay_s=failure.delay_s, first_failure_ms=int(failure.first_failure_wall * 1000),
                original=failure.original, now_ms=int(p.wall() * 1000),
            )
        except MessageSizeTooLargeError:
            # its value plus the retry headers exceed the request size: failing here would stop the
            # partition for good, so it waits in place like the pause mode
            log.warning("offset %d of %s-%d (key %s) is too large for the retry topic %s: retried in place "
                        "instead (pause mode)", record.offset, record.topic, record.partition,
                        failure.coords["key"], p.settings.retry_topic)
            return self.in_place.retry(failure)

        def acknowledged() -> None:
            md = future.get(timeout=p.ack_timeout_s)  # a failure stops the loop: the record stays uncommitted
            p.emit(SentToRetryTopic(attempt=failure.attempt, due_ms=headers.due_ms, retry_topic=md.topic,
                                    retry_partition=md.partition, retry_offset=md.offset, **failure.coords))
            p.done(failure.tp, record.offset)

        p.outbox.add(acknowledged, key=headers.hop)
        return HANDED_OVER


def mode_for(name: str, processor: OrderProcessor) -> SleepMode | PauseMode | TopicMode:
    """The mode called ``name`` (one of :data:`MODES`) for ``processor``."""
    kinds = {"sleep": SleepMode, "pause": PauseMode, "topic": TopicMode}
    if name not in kinds:
        raise ValueError(f"mode must be one of {MODES}, got {name!r}")
    return kinds[name](processor)
