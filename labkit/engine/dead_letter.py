"""What goes to the DLT: the acknowledged DLT write and its SentToDLT event, and the records the client
library cannot decode, dead-lettered by their coordinates (ARCHITECTURE.md, "the DLT before the commit").

:class:`DeadLetters` is a mixin of :class:`~labkit.engine.processor.OrderProcessor`, for the reason
:mod:`labkit.engine.handling` gives: these methods work on the processor's own state (producer, outbox,
done tracker, consumer, events).
"""

from __future__ import annotations

import logging
from typing import Any

from labkit.dlt.envelope import SourceCoords
from labkit.dlt.publish import send_to_dlt
from labkit.engine.handling import key_text
from labkit.errors import error_label
from labkit.events import Received, SentToDLT
from labkit.kafka.corrupt import CorruptRecord, failed_partition
from labkit.orders import parse_fields

__all__ = ["DeadLetters"]

log = logging.getLogger("labkit.engine.processor")


class DeadLetters:
    """The DLT methods of :class:`~labkit.engine.processor.OrderProcessor` (see the module docstring)."""

    def _to_dlt(self, tp: Any, record: Any, error: BaseException, retry_count: int,
                original: SourceCoords | None, coords: dict[str, Any]) -> None:
        """Send the record's DLT copy; it is done once acknowledged (:meth:`Outbox.flush`)."""
        source = original or record
        now = self.wall()
        pending = send_to_dlt(self.producer, self.settings.dlt_topic, source, error, group_id=self.group_id,
                              retry_count=retry_count, now=now)

        def acknowledged() -> None:  # a value too large for the DLT is written truncated by wait()
            md = pending.wait(self.ack_timeout_s)
            self._sent_to_dlt(tp, record, error, retry_count, coords, pending.dlt, md)

        self.outbox.add(acknowledged)

    def _sent_to_dlt(self, tp: Any, record: Any, error: BaseException, retry_count: int,
                     coords: dict[str, Any], dlt: Any, md: Any) -> None:
        order_id = None
        try:
            order_id = parse_fields(record.value)[0]
        except Exception:
            pass
        self.emit(SentToDLT(reason=error_label(error), error_message=dlt.envelope.error_message,
                             retry_count=retry_count, dlt_topic=md.topic, dlt_partition=md.partition,
                             dlt_offset=md.offset, order_id=order_id, **coords))
        log.warning(
            "offset %d of %s-%d (key %s) sent to DLT %s-%d@%d after %d retries: %s",
            record.offset, record.topic, record.partition, coords["key"], md.topic, md.partition, md.offset,
            retry_count, dlt.envelope.error_message,
        )
        self.done(tp, record.offset)

    # --- records the client cannot decode ------------------------------------------------------------

    def _dead_letter_corrupt(self, tp: Any, record: Any, error: CorruptRecord) -> None:
        """A record the client could not decode (``record``: a ConsumerRecord read leniently, or the
        :class:`SourceCoords` of one it could not read at all): received, sent to the DLT at once, done
        once acknowledged. Never handed to the handler, never retried."""
        coords = {"topic": record.topic, "partition": record.partition, "offset": record.offset,
                  "key": key_text(record.key)}
        with self.lock:
            self._tracker.received(tp, record.offset)
        self.emit(Received(attempt=0, **coords))
        log.warning("offset %d of %s-%d cannot be decoded: %s; it goes to the DLT (reason %s)",
                    record.offset, record.topic, record.partition, error, error_label(error))
        self._to_dlt(tp, record, error, 0, None, coords)

    def _skip_unreadable(self, exc: Exception) -> None:
        """``poll()`` raised on a record kafka-python cannot decode (``exc``): dead-letter the record at
        the failing partition's position by its coordinates, and once the DLT acknowledged it, seek past
        it and commit. Raises ``exc`` again if the partition cannot be told (nothing is skipped blind).

        The seek also frees kafka-python's fetcher, which would otherwise spin on the dead record
        iterator at the next poll (:mod:`labkit.kafka.corrupt`). A batch kafka-python cannot read at
        all costs one poll per record: each offset is dead-lettered on its own, none skipped unrecorded."""
        consumer = self.consumer
        tp = failed_partition(consumer)
        if tp is None or tp not in consumer.assignment():
            raise exc
        offset = consumer.position(tp)
        source = SourceCoords.unreadable_at(tp.topic, tp.partition, offset)
        self._dead_letter_corrupt(tp, source, CorruptRecord.unreadable(tp.topic, tp.partition, offset, exc))
        self.outbox.flush()  # the DLT's ack first: if it fails, this raises and nothing is skipped
        consumer.seek(tp, offset + 1)
        self._commit_done()
