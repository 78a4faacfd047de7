"""Publishing to the Dead Letter Topic, and only then letting the source offset be committed.

:func:`publish_to_dlt` waits for the broker's acknowledgement (``acks=all``) and raises
:class:`DltPublishError` if it does not come: the caller must then *not* commit the source offset.
:func:`send_to_dlt` sends without waiting (the consumer awaits a poll's writes together) and
:meth:`PendingDltWrite.wait` gives the same ack or error. A value too large for a DLT record is
written truncated (:func:`publish_truncated_to_dlt`) by both: without that the record could never
leave its partition.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from kafka.errors import MessageSizeTooLargeError

from labkit.dlt.envelope import H_VALUE_TRUNCATED, DltRecord, SourceCoords, build_dlt_record

__all__ = ["DltPublishError", "publish_to_dlt", "PendingDltWrite", "send_to_dlt", "publish_truncated_to_dlt",
           "DLT_RECORD_BUDGET"]

log = logging.getLogger("labkit.dlt")

# A DLT record must fit the producer's max_request_size and Kafka's message.max.bytes (both ~1 MiB).
DLT_RECORD_BUDGET = 900_000


class DltPublishError(RuntimeError):
    """The DLT write was not acknowledged. The source record must stay uncommitted."""


def publish_to_dlt(
    producer: Any,
    dlt_topic: str,
    record: Any,
    error: BaseException,
    *,
    group_id: str | None,
    retry_count: int = 0,
    timeout_s: float = 10.0,
    now: float | None = None,
    partition: int | None = None,
) -> tuple[DltRecord, Any]:
    """Send the DLT record and **wait for the ack**. Returns ``(dlt_record, RecordMetadata)``; a value
    too large for the DLT is written truncated (see :meth:`PendingDltWrite.wait`).

    Raises :class:`DltPublishError` (chained to the cause) if the write fails or times out: the
    caller must leave the source offset uncommitted so the record is redelivered.
    """
    pending = send_to_dlt(producer, dlt_topic, record, error, group_id=group_id, retry_count=retry_count,
                          now=now, partition=partition)
    md = pending.wait(timeout_s)
    return pending.dlt, md


@dataclass
class PendingDltWrite:
    """A DLT record sent, its ack not awaited yet (:func:`send_to_dlt`): several writes share one
    wait, and the source offset is committed only after :meth:`wait` returned."""

    dlt: DltRecord
    dlt_topic: str
    future: Any = None
    refused: BaseException | None = None  # the producer refused it at once (too large for a request)
    # what a truncated copy needs if the record is too large: the producer, the source and the error
    for_truncation: tuple[Any, Any, BaseException, dict[str, Any]] | None = None

    def wait(self, timeout_s: float = 10.0) -> Any:
        """The ``RecordMetadata``; raises :class:`DltPublishError` (chained) if not acknowledged. A
        record too large for a request is written again truncated (:func:`publish_truncated_to_dlt`),
        and :attr:`dlt` becomes that copy: the one WARNING it logs says so, no ERROR before it."""
        try:
            if self.refused is not None:
                raise self.refused
            return self.future.get(timeout=timeout_s)
        except MessageSizeTooLargeError as exc:
            if self.for_truncation is None:
                raise DltPublishError(self._failed(exc)) from exc
            producer, source, error, written = self.for_truncation
            self.dlt, md = publish_truncated_to_dlt(producer, self.dlt_topic, source, error, timeout_s=timeout_s,
                                                    **written)
            return md
        except Exception as exc:
            src = self.dlt.envelope
            log.error(
                "DLT write FAILED for %s-%d offset %d (%s): the record stays uncommitted",
                src.original_topic, src.original_partition, src.original_offset, exc,
            )
            raise DltPublishError(self._failed(exc)) from exc

    def _failed(self, exc: BaseException) -> str:
        src = self.dlt.envelope
        return (f"could not write to DLT {self.dlt_topic!r} for {src.original_topic}-{src.original_partition}"
                f"@{src.original_offset}: {exc!r}")


def send_to_dlt(producer: Any, dlt_topic: str, record: Any, error: BaseException, *, group_id: str | None,
                retry_count: int = 0, now: float | None = None, partition: int | None = None) -> PendingDltWrite:
    """Send the DLT record without waiting; :meth:`PendingDltWrite.wait` gives the ack (or raises)."""
    dlt = build_dlt_record(record, error, group_id=group_id, retry_count=retry_count, now=now)
    for_truncation = (producer, record, error, {"group_id": group_id, "retry_count": retry_count, "now": now})
    try:
        future = producer.send(dlt_topic, value=dlt.value, key=dlt.key, headers=dlt.headers, partition=partition)
    except Exception as exc:  # raised by wait(), like any other failed write
        return PendingDltWrite(dlt, dlt_topic, refused=exc, for_truncation=for_truncation)
    return PendingDltWrite(dlt, dlt_topic, future, for_truncation=for_truncation)


def publish_truncated_to_dlt(producer: Any, dlt_topic: str, source: Any, error: BaseException, *,
                             group_id: str | None = None, retry_count: int = 0, timeout_s: float = 10.0,
                             now: float | None = None) -> tuple[DltRecord, Any]:
    """The DLT record of a value too large for the DLT (a ~1 MB poison payload becomes 1.3 MB of
    base64 in the envelope): keep the first bytes that fit, say so in the envelope
    (``originalValueTruncated``, ``originalValueBytes``) and in a header. The full value stays in
    the source topic at the envelope's original coordinates (:mod:`labkit.dlt.replay` reads it back).
    Without this the record could never leave its partition: every restart would fail on it again.
    Acknowledged like :func:`publish_to_dlt`; returns ``(DltRecord, RecordMetadata)``."""
    src = SourceCoords.of(source)
    value = src.value or b""
    try:
        value.decode("utf-8")
        text = True
    except UnicodeDecodeError:
        text = False
    budget = min(len(value), DLT_RECORD_BUDGET // 2)
    while True:
        cut = value[:budget]
        if text:  # never cut inside a character
            cut = cut.decode("utf-8", errors="ignore").encode("utf-8")
        dlt = build_dlt_record(dataclasses.replace(src, value=cut), error, group_id=group_id,
                               retry_count=retry_count, now=now)
        envelope = dataclasses.replace(dlt.envelope, original_value_truncated=True, original_value_bytes=len(value))
        payload = envelope.to_json()
        headers = dlt.headers + [(H_VALUE_TRUNCATED, str(len(value)).encode())]
        size = len(payload) + len(dlt.key or b"") + sum(len(k) + len(v) for k, v in headers)
        if size <= DLT_RECORD_BUDGET or budget == 0:
            break
        budget //= 2
    try:
        md = producer.send(dlt_topic, value=payload, key=dlt.key, headers=headers).get(timeout=timeout_s)
    except Exception as exc:
        raise DltPublishError(f"could not write to DLT {dlt_topic!r} for {src.topic}-{src.partition}@{src.offset} "
                              f"(value truncated): {exc!r}") from exc
    log.warning("value of %s-%d@%d is %d bytes, too large for the DLT: its first %d bytes are kept there "
                "(the full value stays in the source topic)", src.topic, src.partition, src.offset, len(value),
                len(cut))
    return dataclasses.replace(dlt, value=payload, headers=headers, envelope=envelope), md

