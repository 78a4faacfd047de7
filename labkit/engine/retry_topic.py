"""Non-blocking retry through ``orders.retry``: publish, commit, move on; come back when due.

On a transient failure in ``topic`` mode the processor publishes the record to the retry topic
(original key and value) with its retry state in headers and goes on with the next record; the
ack is awaited (with the other writes of that poll) before the source offset is committed: the
source partition is never blocked (Uber's
"reliable reprocessing", Spring's ``@RetryableTopic``). Headers (all big-endian):

==============================  ======  ===============================================
``labkit-retry-attempt``         int32   the retry number this delivery is (1-based)
``labkit-retry-due-ms``          int64   epoch ms before which it must not be processed
``labkit-retry-scheduled-ms``    int64   epoch ms when the retry was scheduled
``labkit-retry-planned-delay-ms`` int64  ``due - scheduled``
``labkit-retry-first-failure-ms`` int64  epoch ms of the first failure
``labkit-retry-error``           UTF-8   last error (``TimeoutException: ...``)
``labkit-retry-error-fqcn``      UTF-8   its class
``kafka_dlt-original-topic``     UTF-8   original coordinates (Spring's names)
``kafka_dlt-original-partition`` int32
``kafka_dlt-original-offset``    int64
``kafka_dlt-original-timestamp`` int64
``retry_topic-attempts``         int32   Spring's delivery attempt number (= attempt + 1)
==============================  ======  ===============================================

The consumer of the retry topic never processes a record before its due time: it **pauses** that
partition, keeps the record (and those fetched behind it) aside, keeps polling (so it stays in the
group), and handles them when due (:class:`DueGate`, also used by the processor's ``pause`` mode).
Exhausted -> DLT with ``retryCount`` and the *original* coordinates.
"""

from __future__ import annotations

import logging
import struct
import time
from dataclasses import dataclass
from typing import Any

from labkit.dlt.envelope import H_OFFSET, H_PARTITION, H_TIMESTAMP, H_TOPIC, SourceCoords
from labkit.errors import describe, fqcn

__all__ = [
    "H_ATTEMPT", "H_DUE_MS", "H_SCHEDULED_MS", "H_PLANNED_MS", "H_FIRST_FAILURE_MS", "H_ERROR",
    "H_ERROR_FQCN", "H_SPRING_ATTEMPTS", "RetryHeaders", "send_to_retry", "DueGate",
    "resume",
]  # fmt: skip

log = logging.getLogger("labkit.engine.retry_topic")

H_ATTEMPT = "labkit-retry-attempt"
H_DUE_MS = "labkit-retry-due-ms"
H_SCHEDULED_MS = "labkit-retry-scheduled-ms"
H_PLANNED_MS = "labkit-retry-planned-delay-ms"
H_FIRST_FAILURE_MS = "labkit-retry-first-failure-ms"
H_ERROR = "labkit-retry-error"
H_ERROR_FQCN = "labkit-retry-error-fqcn"
H_SPRING_ATTEMPTS = "retry_topic-attempts"

_I32 = {H_ATTEMPT, H_PARTITION, H_SPRING_ATTEMPTS}
_I64 = {H_DUE_MS, H_SCHEDULED_MS, H_PLANNED_MS, H_FIRST_FAILURE_MS, H_OFFSET, H_TIMESTAMP}


@dataclass(frozen=True)
class RetryHeaders:
    """The retry state a retry-topic record carries."""

    attempt: int
    due_ms: int
    scheduled_ms: int
    first_failure_ms: int
    error: str
    error_fqcn: str
    original_topic: str
    original_partition: int
    original_offset: int
    original_timestamp_ms: int = -1

    @property
    def planned_delay_ms(self) -> int:
        return self.due_ms - self.scheduled_ms

    @property
    def hop(self) -> tuple[str, int, int, int]:
        """Which hand-over this is: the original record's coordinates and the attempt it carries."""
        return self.original_topic, self.original_partition, self.original_offset, self.attempt

    def encode(self) -> list[tuple[str, bytes]]:
        return [
            (H_ATTEMPT, struct.pack(">i", self.attempt)),
            (H_DUE_MS, struct.pack(">q", self.due_ms)),
            (H_SCHEDULED_MS, struct.pack(">q", self.scheduled_ms)),
            (H_PLANNED_MS, struct.pack(">q", self.planned_delay_ms)),
            (H_FIRST_FAILURE_MS, struct.pack(">q", self.first_failure_ms)),
            (H_ERROR, self.error.encode("utf-8")),
            (H_ERROR_FQCN, self.error_fqcn.encode("utf-8")),
            (H_TOPIC, self.original_topic.encode("utf-8")),
            (H_PARTITION, struct.pack(">i", self.original_partition)),
            (H_OFFSET, struct.pack(">q", self.original_offset)),
            (H_TIMESTAMP, struct.pack(">q", self.original_timestamp_ms)),
            (H_SPRING_ATTEMPTS, struct.pack(">i", self.attempt + 1)),
        ]

    @classmethod
    def decode(cls, headers: Any) -> RetryHeaders:
        """From a record's headers; ``ValueError`` if the retry headers are missing."""
        raw: dict[str, Any] = {}
        for name, value in headers or ():
            if name in _I32 and value is not None and len(value) == 4:
                raw[name] = struct.unpack(">i", value)[0]
            elif name in _I64 and value is not None and len(value) == 8:
                raw[name] = struct.unpack(">q", value)[0]
            elif value is not None:
                raw[name] = value.decode("utf-8", errors="replace")
        try:
            return cls(
                attempt=raw[H_ATTEMPT],
                due_ms=raw[H_DUE_MS],
                scheduled_ms=raw[H_SCHEDULED_MS],
                first_failure_ms=raw.get(H_FIRST_FAILURE_MS, raw[H_SCHEDULED_MS]),
                error=raw.get(H_ERROR, ""),
                error_fqcn=raw.get(H_ERROR_FQCN, ""),
                original_topic=raw[H_TOPIC],
                original_partition=raw[H_PARTITION],
                original_offset=raw[H_OFFSET],
                original_timestamp_ms=raw.get(H_TIMESTAMP, -1),
            )
        except KeyError as exc:
            raise ValueError(f"retry header {exc.args[0]!r} missing") from exc

    def source(self, record: Any) -> SourceCoords:
        """The *original* coordinates (for the DLT envelope), with this record's key and value."""
        return SourceCoords(
            topic=self.original_topic,
            partition=self.original_partition,
            offset=self.original_offset,
            key=record.key,
            value=record.value,
            timestamp_ms=self.original_timestamp_ms,
        )


def send_to_retry(
    producer: Any,
    retry_topic: str,
    record: Any,
    error: BaseException,
    *,
    attempt: int,
    delay_s: float,
    first_failure_ms: int | None = None,
    original: SourceCoords | None = None,
    now_ms: int | None = None,
) -> tuple[RetryHeaders, Any]:
    """Send ``record`` to the retry topic as retry number ``attempt``, due in ``delay_s``, without
    waiting: ``(headers, future)``. ``future.get()`` gives the ack; until it came, the source offset
    must stay uncommitted. A record the producer refuses at once (too large for a request) raises
    here. ``original``: the first coordinates (when ``record`` already comes from the retry topic)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    src = original or SourceCoords.of(record)
    headers = RetryHeaders(
        attempt=attempt,
        due_ms=now_ms + max(0, int(round(delay_s * 1000))),
        scheduled_ms=now_ms,
        first_failure_ms=now_ms if first_failure_ms is None else first_failure_ms,
        error=describe(error),
        error_fqcn=fqcn(error),
        original_topic=src.topic,
        original_partition=src.partition,
        original_offset=src.offset,
        original_timestamp_ms=src.timestamp_ms,
    )
    future = producer.send(retry_topic, value=record.value, key=record.key, headers=headers.encode())
    if future.is_done and future.failed():  # kafka-python fails some sends at once, in the future
        raise future.exception
    return headers, future


def resume(consumer: Any, tps: Any) -> None:
    """``consumer.resume(*tps)``, plus a workaround for a kafka-python 3.0.12 fetcher stall.

    Since KAFKA-7548 the fetcher *parks* the parsed records of a paused partition and restores them
    on a later ``poll()`` only when its "next in line" slot is ``None``; after any poll that
    drained its records that slot holds an empty (not ``None``) object, so the parked records can
    stay parked forever, and a partition with parked records is never fetched again: the resumed
    partition stalls (reproduced with ``max_poll_records=1``). Parked records never moved the
    consumer's position (only records ``poll()`` returns do), so dropping them only costs a
    re-fetch from the position. Uses a private attribute, guarded: without it this is a plain
    ``resume``.
    """
    tps = list(tps)
    fetcher = getattr(consumer, "_fetcher", None)
    parked = getattr(fetcher, "_paused_partition_records", None)
    if isinstance(parked, dict):
        for tp in tps:
            records = parked.pop(tp, None)
            if records is not None:
                records.drain()
    consumer.resume(*tps)


class DueGate:
    """Partitions waiting for a "not before" time, with the records they hold: backoff without sleeping.

    ``hold(consumer, tp, record, due)`` pauses ``tp`` and keeps ``record``; ``keep(tp, records)``
    adds the records fetched behind it. No seek: the consumer's position stays just after the last
    kept record and nothing more is fetched for a paused partition, so when the time comes
    ``take_due(now)`` hands the kept records back, in order, without a re-fetch (a re-fetch waits
    for the in-flight long poll: up to ``fetch_max_wait_ms`` late). The caller handles them and
    resumes the partition. ``drop(tps)`` forgets revoked partitions and returns the first kept
    offset of each, where their position must go back to. ``now`` and ``due`` use the same clock
    (the caller's choice: monotonic or epoch).
    """

    def __init__(self) -> None:
        self._held: dict[Any, tuple[float, list[Any]]] = {}  # tp -> (due, kept records)

    def __contains__(self, tp: Any) -> bool:
        return tp in self._held

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, consumer: Any, tp: Any, record: Any, due: float) -> None:
        consumer.pause(tp)
        self._held[tp] = (due, [record])

    def keep(self, tp: Any, records: Any) -> None:
        """Keep ``records`` (fetched behind the held one) for when ``tp`` is due; no-op if not held."""
        if tp in self._held:
            self._held[tp][1].extend(records)

    def take_due(self, now: float) -> dict[Any, list[Any]]:
        """``{tp: kept records}`` of the partitions whose time has come; they are no longer held
        (still paused: the caller resumes each one once its records are handled)."""
        ready = [tp for tp, (due, _) in self._held.items() if due <= now]
        return {tp: self._held.pop(tp)[1] for tp in ready}

    def next_due(self) -> float | None:
        return min(due for due, _ in self._held.values()) if self._held else None

    def drop(self, tps: Any) -> dict[Any, int]:
        """Forget ``tps``; returns ``{tp: first kept offset}`` for those that kept records."""
        back = {}
        for tp in tps:
            _, kept = self._held.pop(tp, (None, None))
            if kept:
                back[tp] = kept[0].offset
        return back

    def clear(self) -> None:
        self._held.clear()
