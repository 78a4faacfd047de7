"""One step of the processor's loop: take the records due from the gate, poll, handle each partition's
records, await the step's DLT / retry-topic writes, commit the done watermark (ARCHITECTURE.md, "the DLT
before the commit", "commit a done watermark, not the position").

:class:`PollLoop` is a mixin of :class:`~labkit.engine.processor.OrderProcessor`, for the reason
:mod:`labkit.engine.handling` gives: the step drives the processor's consumer, gate, outbox and tracker.
"""

from __future__ import annotations

import logging

from kafka.errors import CorruptRecordError, KafkaError

from labkit.engine.rebalance import offsets_tuple
from labkit.engine.retry_topic import resume
from labkit.errors import describe
from labkit.events import CommitFailed, Committed

__all__ = ["PollLoop"]

log = logging.getLogger("labkit.engine.processor")


class PollLoop:
    """The poll step and the commit of :class:`~labkit.engine.processor.OrderProcessor`."""

    def _step(self) -> None:
        consumer = self.consumer
        reader = self.retry_reader
        if reader is not None and reader.error is not None:  # loudly: its records stay uncommitted
            raise RuntimeError(f"the retry topic's consumer {reader.consumer_id} stopped: {reader.error!r}") \
                from reader.error
        if self._watch is not None:
            self._watch.check(getattr(consumer, "_cluster", None))  # cached metadata: no network call
        if not self.breaker_pause.paused:  # an open breaker keeps held partitions held
            with self.lock:
                due = self.gate.take_due(self.clock())
            for tp, kept in due.items():
                self._handle_records(tp, kept)
                self.outbox.flush()  # before resume() and poll(): no rebalance while writes are unacked
                with self.lock:
                    resumable = tp not in self.gate and not self.breaker_pause.paused and tp in consumer.assignment()
                if resumable:
                    resume(consumer, [tp])
        self.breaker_pause.check()
        timeout_ms = self.poll_timeout_ms
        next_due = self.gate.next_due()
        if next_due is not None:
            timeout_ms = max(0, min(timeout_ms, int((next_due - self.clock()) * 1000) + 1))
        try:
            batch = consumer.poll(timeout_ms=timeout_ms, max_records=self.max_poll_records)
        except (CorruptRecordError, UnicodeDecodeError) as exc:  # a record kafka-python cannot decode
            self._skip_unreadable(exc)
            return
        except KafkaError as exc:  # kafka-python 3 can raise a lost connection out of poll()
            if not exc.retriable:
                raise
            log.warning("poll: the broker is unreachable (%s): polling again", describe(exc))
            return  # nothing polled, nothing to commit; the next step polls again
        for tp, records in batch.items():
            self._handle_records(tp, records)
        self.outbox.flush()
        self._commit_done()

    def _commit_done(self) -> None:
        consumer = self.consumer
        with self.lock:
            offsets = self._tracker.pending(consumer.assignment())
        if not offsets:
            return
        if self.before_commit is not None:
            # e.g. flush the events shipped to another process: once the offset is committed, a
            # SIGKILL must not be able to erase the record's Processed / SentToDLT event
            try:
                self.before_commit()
            except Exception as exc:  # noqa: BLE001 - no commit this round: the records stay pending
                log.warning("before_commit failed (%r): commit postponed", exc)
                return
        try:
            consumer.commit(offsets)
        except KafkaError as exc:
            self.emit(CommitFailed(error=f"{type(exc).__name__}: {exc}", offsets=offsets_tuple(offsets)))
            log.warning(
                "commit of %s FAILED (%s): those records will be delivered again (duplicates are counted)",
                offsets_tuple(offsets), type(exc).__name__,
            )
            return
        with self.lock:
            self._tracker.mark_committed(offsets)
        self.emit(Committed(offsets=offsets_tuple(offsets)))
