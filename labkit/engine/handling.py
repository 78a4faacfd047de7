"""One record's handling: the handler called, a failure classified, retried by the mode or dead-lettered,
a success recorded and the record done (ARCHITECTURE.md, "the engine": the three ways a record ends).

:class:`RecordHandling` is a mixin of :class:`~labkit.engine.processor.OrderProcessor`, not a collaborator:
handling a record reads and writes some thirty of the processor's attributes and methods (its consumer, lock,
done tracker, gate, retry states, breaker, policy, mode, outbox, events, clocks...), and the success path of
:meth:`~RecordHandling._handle_records` runs once per record, where a collaborator would add an attribute
hop per access. The state stays on the processor (:meth:`OrderProcessor.__init__`); this module holds
only the methods that use it.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from labkit.dlt.envelope import SourceCoords
from labkit.engine.modes import AGAIN, HANDED_OVER, Failure
from labkit.engine.retry_topic import RetryHeaders
from labkit.errors import MaxRetriesExceeded, classify, describe
from labkit.events import Processed, ProcessedRow, Received, Retried, RetryScheduled
from labkit.kafka.corrupt import corruption
from labkit.orders import Order, parse_fields
from labkit.policy.breaker import BreakerState

__all__ = ["HandleResult", "RecordHandling", "key_text"]

log = logging.getLogger("labkit.engine.processor")


class HandleResult(NamedTuple):
    """What a handler returns: the order id and whether it was a duplicate. A tuple, not a frozen
    dataclass: it is built once per record (ARCHITECTURE.md, "the hot path builds plain values")."""

    order_id: str | None
    duplicate: bool = False


def key_text(key: bytes | None) -> str | None:
    """A record key as text (bytes that are not UTF-8 replaced, never an error)."""
    return None if key is None else key.decode("utf-8", errors="replace")


def _log_duplicate(order_id: str | None, offset: int, topic: str, partition: int) -> None:
    log.info("duplicate order %s at offset %d of %s-%d: counted, not applied again", order_id, offset, topic, partition)


class RecordHandling:
    """The per-record methods of :class:`~labkit.engine.processor.OrderProcessor` (see the module docstring)."""

    def _handle_records(self, tp: Any, records: list[Any]) -> None:
        """One partition's records, in order, until one must wait: a record held for its backoff
        (or its due time) keeps the records behind it in the gate, to be handled when due.

        A record met for the first time (not from the retry topic, not being retried) is handled
        here; if it succeeds at once its Received and Processed events are recorded with the batch's
        (:meth:`_record_processed`), else :meth:`_attempt` takes it with its first error. Both ways
        a success goes through :meth:`_succeeded`."""
        consumer = self.consumer
        if tp not in consumer.assignment():
            return
        retrying, breaker, call_handler = self.retry_states, self.breaker, self._call_handler
        pause = self.breaker_pause  # its flag read once per record: one attribute, as on the processor
        from_retry_topic = tp.topic == self.settings.retry_topic  # one partition's records: one topic
        processed: list[ProcessedRow] = []
        # when the record in hand was taken up: the batch's start, then the end of the one before
        # (one clock read per record; it is also the previous record's Processed time)
        received_at = self.wall()
        try:
            for i, record in enumerate(records):
                if pause.paused:
                    consumer.seek(tp, record.offset)  # put the unhandled rest back
                    return
                if record.headers and (corrupt := corruption(record)) is not None:  # never handled
                    self._record_processed(tp, processed)
                    self._dead_letter_corrupt(tp, record, corrupt)
                    received_at = self.wall()
                    continue
                if from_retry_topic or (retrying and (tp, record.offset) in retrying):
                    self._record_processed(tp, processed)
                    ok = self._handle(tp, record)
                elif breaker is not None and not breaker.allow():
                    self._record_processed(tp, processed)
                    self.breaker_pause.pause_all(tp, record.offset, f"circuit breaker {breaker.state.value}")
                    return
                else:
                    try:
                        result = call_handler(record)
                    except Exception as exc:  # noqa: BLE001 - classified by _attempt, none is lost
                        self._record_processed(tp, processed)  # the events keep their order
                        ok = self._attempt(tp, record, first_error=exc, received_at=received_at)
                    else:
                        received_at = self._succeeded(tp, record, result, 0, processed, received_at)
                        continue
                received_at = self.wall()  # the record took the slow path: the next one starts now
                if not ok:
                    with self.lock:
                        self.gate.keep(tp, records[i + 1:])  # no-op unless the record was held
                    return
        finally:
            self._record_processed(tp, processed)

    def _record_processed(self, tp: Any, processed: list[ProcessedRow]) -> None:
        """Mark the records processed at their first attempt done and record their Received and
        Processed events in one step (:meth:`EventLog.record_processed`); empties ``processed``."""
        if not processed:
            return
        with self.lock:
            self._tracker.done_all(tp, [row[3] for row in processed])
        self.events.record_processed(processed)
        processed.clear()


    def _default_handler(self, record: Any) -> str | HandleResult:
        """Validate, call the order service (when injected), store by orderId: the order id, or a
        duplicate's HandleResult."""
        order_id, amount, status = parse_fields(record.value)  # an Order is built only for the service
        if self.injector is not None:
            if order_id in self.store:  # a duplicate does not call the order service again
                return HandleResult(order_id, duplicate=True)
            self.injector.call(Order(order_id, amount, status))
        if self.store.add_fields(order_id, amount, status):
            return order_id  # a new order, the usual answer: its id says it all, nothing else is built
        return HandleResult(order_id, duplicate=True)

    def _call_handler(self, record: Any) -> tuple[str | None, bool]:
        """``(order_id, duplicate)`` of the handler's answer (an order id alone, the default handler's
        usual answer, is a new order)."""
        result = self.handler(record)
        if type(result) is str:
            return result, False
        return result if type(result) is HandleResult else self._as_result(result, record)

    @staticmethod
    def _as_result(result: Any, record: Any) -> HandleResult:
        """What a custom handler returned -> a :class:`HandleResult`."""
        if isinstance(result, HandleResult):
            return result
        if isinstance(result, Order):
            return HandleResult(result.order_id)
        if isinstance(result, str):
            return HandleResult(result)
        return HandleResult(key_text(record.key))

    def _handle(self, tp: Any, record: Any) -> bool:
        """Handle a record from the retry topic or being retried; False = stop reading this
        partition for now (held or paused)."""
        headers: RetryHeaders | None = None
        original: SourceCoords | None = None
        attempt = 0
        if record.topic == self.settings.retry_topic:
            try:
                headers = RetryHeaders.decode(record.headers)
            except ValueError as exc:
                log.error("record %s-%d@%d in the retry topic has no retry headers: %s",
                          record.topic, record.partition, record.offset, exc)
            if headers is not None:
                if self.main_outbox is not None:
                    self._settle_handover(headers)
                now_ms = self.wall() * 1000
                if now_ms < headers.due_ms:  # never before its due time: hold the partition
                    with self.lock:
                        self.gate.hold(self.consumer, tp, record, self.clock() + (headers.due_ms - now_ms) / 1000)
                    return False
                attempt = headers.attempt
                original = headers.source(record)

        breaker = self.breaker
        if breaker is not None and not breaker.allow():
            self.breaker_pause.pause_all(tp, record.offset, f"circuit breaker {breaker.state.value}")
            return False
        return self._attempt(tp, record, attempt, headers, original)

    def _settle_handover(self, headers: RetryHeaders) -> None:
        """The main consumer sent this record here and may not have flushed that write yet: run
        its acknowledgement (SentToRetryTopic, the source offset done) before this one's Received.
        A failure is left to the main consumer's flush, which raises it again in its own loop."""
        try:
            self.main_outbox.settle(headers.hop)
        except Exception as exc:  # noqa: BLE001 - the main consumer's flush raises it in its loop
            log.debug("hand-over %s not settled here: %r", headers.hop, exc)

    def _attempt(self, tp: Any, record: Any, attempt: int = 0, headers: RetryHeaders | None = None,
                 original: SourceCoords | None = None, first_error: Exception | None = None,
                 received_at: float | None = None) -> bool:
        """Call the handler until the record is processed, sent to the DLT or handed to the retry
        topic (True), or held for its backoff / paused by the breaker (False). ``first_error``:
        the handler already failed once with it, at ``received_at`` (the first delivery's call)."""
        key = key_text(record.key)
        coords = {"topic": record.topic, "partition": record.partition, "offset": record.offset, "key": key}
        breaker = self.breaker
        with self.lock:
            self._tracker.received(tp, record.offset)
            state = self.retry_states.get((tp, record.offset))
        if state is not None:
            attempt = state.attempts
        self.emit(Received(attempt=attempt, **coords) if received_at is None
                   else Received(ts=received_at, attempt=attempt, **coords))
        if state is not None:
            self.emit(Retried(attempt=attempt, planned_delay_s=state.planned_s,
                               actual_delay_s=self.clock() - state.failed_at, **coords))
        elif headers is not None:
            self.emit(Retried(attempt=attempt, planned_delay_s=headers.planned_delay_ms / 1000,
                               actual_delay_s=self.wall() - headers.scheduled_ms / 1000, **coords))

        first_failure = state.first_failure_wall if state else (headers.first_failure_ms / 1000 if headers else None)
        previous = state.previous_s if state else (headers.planned_delay_ms / 1000 if headers else None)
        while True:
            exc, first_error = first_error, None
            if exc is None:
                try:
                    result = self._call_handler(record)
                except Exception as failure:  # noqa: BLE001 - every failure is classified, none is lost
                    exc = failure
            if exc is None:
                self._succeeded(tp, record, result, attempt)
                return True
            transient = classify(exc) == "transient"
            if breaker is not None and transient:
                breaker.record_failure()
                if breaker.state is BreakerState.OPEN:
                    # the service is down: put the record back (it stays outstanding, so
                    # the watermark stops before it), spend no retry, stop consuming
                    self.breaker_pause.pause_all(tp, record.offset, "circuit breaker OPEN")
                    return False
            if first_failure is None:
                first_failure = self.wall()
            next_attempt = attempt + 1
            elapsed = self.wall() - first_failure
            if not self.policy.should_retry(exc, next_attempt, elapsed):
                retriable = transient and isinstance(exc, self.policy.retry_on)
                error = MaxRetriesExceeded(attempt, exc) if retriable else exc
                self._to_dlt(tp, record, error, attempt, original, coords)
                return True
            delay = self.policy.delay(next_attempt, previous, self.rng)
            log.info(
                "Retry %d/%s for offset %d of %s-%d (key %s): attempt %d failed with %s; "
                "next attempt in %.3fs (mode %s)",
                next_attempt, self.policy.max_attempts, record.offset, record.topic, record.partition,
                key, attempt + 1, describe(exc), delay, self.mode,
            )
            self.emit(RetryScheduled(attempt=next_attempt, max_attempts=self.policy.max_attempts,
                                      planned_delay_s=delay, mode=self.mode, error=describe(exc), **coords))
            outcome = self._mode.retry(Failure(tp, record, exc, next_attempt, delay, first_failure, original, coords))
            if outcome is AGAIN:
                attempt, previous = next_attempt, delay
                continue
            return outcome is HANDED_OVER

    def _succeeded(self, tp: Any, record: Any, result: tuple[str | None, bool], attempt: int,
                   rows: list[ProcessedRow] | None = None, received_at: float | None = None) -> float | None:
        """What every processed record goes through: the breaker hears of the success, a duplicate
        is logged, the record is done. A record done at its first delivery joins ``rows`` (its
        Received and Processed, recorded with its batch; returns when it was done); any other emits
        its Processed now."""
        order_id, duplicate = result
        breaker = self.breaker
        if breaker is not None and not duplicate:
            breaker.record_success()
        if duplicate:
            _log_duplicate(order_id, record.offset, record.topic, record.partition)
        if rows is None:
            self.emit(Processed(attempt=attempt, duplicate=duplicate, order_id=order_id, topic=record.topic,
                                partition=record.partition, offset=record.offset, key=key_text(record.key)))
            self.done(tp, record.offset)
            return None
        key = record.key
        if key is not None:
            key = key.decode("utf-8", "replace")
            if key == order_id:
                key = order_id  # the row and the store keep one string, not two
        done_at = self.wall()
        rows.append((self.consumer_id, record.topic, record.partition, record.offset, key, order_id, duplicate,
                     received_at, done_at))
        return done_at

    def done(self, tp: Any, offset: int) -> None:
        with self.lock:
            self._tracker.done(tp, offset)
            self.retry_states.pop((tp, offset), None)

