"""Records kafka-python cannot decode: header keys read leniently (a patch of kafka-python), the
error that dead-letters such a record, and the partition a failed ``poll()`` was reading.

**The defect** (kafka-python 3.0.12, measured on Apache Kafka 4.4 and on the embedded broker).
Kafka's protocol makes a header key a UTF-8 STRING, but no broker checks it, so any client can store
a record whose header key is other bytes. ``DefaultRecordBatch._read_msg`` decodes each key with
``.decode("utf-8")``; the ``UnicodeDecodeError`` becomes ``CorruptRecordError: Found invalid record
structure`` raised out of ``poll()``. Then:

* a consumer that polls again without a seek spins for ever inside ``Fetcher.fetched_records`` (the
  partition's record generator died with the error but was never drained: ``take()`` returns ``[]``
  and the loop never ends);
* every record *behind* the bad one in its batch is unreadable too, even after a seek past it: a fetch
  from the middle of a batch returns the whole batch, and kafka-python decodes the records before the
  fetch offset to skip them.

Reproduction: ``tests/raw_records.py`` (``RawHeaderKey(b"\\xff\\xfe")`` as a header key of kafka-python's
own producer), ``tests/unit/test_record_decoding.py`` (no broker) and
``tests/integration/test_corrupt_records.py``.

**The fix.** :func:`install` wraps ``DefaultRecordBatch._read_msg``: kafka-python's own code reads every
record; only when it raises ``UnicodeDecodeError`` is that one record read again here, each header key
that is not UTF-8 becoming an :class:`UndecodableHeaderKey` (a ``str``, printable and encodable, that
keeps the raw bytes). The record reaches ``poll()`` like any other, the records behind it too, and
:func:`corruption` tells the consumer to dead-letter it (reason ``CorruptRecord``, its key and value kept).
Every consumer made by :mod:`labkit.kafka.clients` installs it; it changes nothing for a record kafka-python
can read. A test fails if the patched names disappear from kafka-python.

Anything else kafka-python cannot decode (a batch failing its CRC, a damaged record) still raises out
of ``poll()``: :func:`failed_partition` finds the partition it was reading, so the consumer can
dead-letter the record at its position by its coordinates (:meth:`CorruptRecord.unreadable`) and seek
past it.
"""

from __future__ import annotations

import functools
from typing import Any

from kafka.record.default_records import ControlRecord, DefaultRecord, DefaultRecordBatch
from kafka.record.util import decode_varint

from labkit.errors import PermanentError

__all__ = ["CorruptRecord", "UndecodableHeaderKey", "install", "installed", "original_read_msg", "corruption",
           "failed_partition"]

_ORIGINAL_READ_MSG = DefaultRecordBatch._read_msg  # kafka-python's, captured before any patch


class CorruptRecord(PermanentError):
    """A record the client library cannot decode: permanent (the same bytes fail the same way), sent to
    the DLT with its coordinates, its offset committed after the DLT's ack."""

    label = "CorruptRecord"

    def __init__(self, message: str, topic: str, partition: int, offset: int) -> None:
        super().__init__(message)
        self.topic, self.partition, self.offset = topic, partition, offset

    def __reduce__(self):  # events may cross process boundaries
        return (type(self), (str(self), self.topic, self.partition, self.offset))

    @classmethod
    def unreadable(cls, topic: str, partition: int, offset: int, cause: BaseException) -> CorruptRecord:
        """The record at ``topic-partition@offset`` that ``poll()`` failed on with ``cause``."""
        text = str(cause)
        if type(cause).__name__ not in text:  # kafka-python's errors name themselves already
            text = f"{type(cause).__name__}: {text}"
        error = cls(f"kafka-python cannot decode the record at {topic}-{partition}@{offset} ({text}); "
                    f"its bytes stay in {topic} at that offset", topic, partition, offset)
        error.__cause__ = cause
        return error


class UndecodableHeaderKey(str):
    """A header key that is not UTF-8, as :func:`install` reads it: its text has each undecodable byte
    as ``\\xNN`` (printable, loggable, encodable); :attr:`raw` keeps the bytes."""

    raw: bytes

    def __new__(cls, raw: bytes) -> UndecodableHeaderKey:
        key = super().__new__(cls, raw.decode("utf-8", "backslashreplace"))
        key.raw = raw
        return key

    def __getnewargs__(self) -> tuple[bytes]:  # pickling rebuilds it from its bytes
        return (self.raw,)


def original_read_msg() -> Any:
    """kafka-python's own ``DefaultRecordBatch._read_msg`` (the reproduction's tests put it back)."""
    return _ORIGINAL_READ_MSG


def installed() -> bool:
    """Is kafka-python's record reader the lenient one?"""
    return getattr(DefaultRecordBatch._read_msg, "_labkit_lenient", False)


def install() -> None:
    """Make kafka-python read header keys that are not UTF-8 (idempotent; the module docstring says why)."""
    if installed():
        return
    strict = DefaultRecordBatch._read_msg

    @functools.wraps(strict)
    def _read_msg(self: DefaultRecordBatch, *args: Any, **kwargs: Any) -> Any:
        try:
            return strict(self, *args, **kwargs)
        except UnicodeDecodeError:  # a header key: the only text kafka-python decodes in a record
            return _read_leniently(self)

    _read_msg._labkit_lenient = True
    DefaultRecordBatch._read_msg = _read_msg


def _read_leniently(batch: DefaultRecordBatch) -> Any:
    """``DefaultRecordBatch._read_msg`` with :class:`UndecodableHeaderKey` for a key that is not UTF-8.
    The strict read failed before it moved ``batch._pos``: this reads the same record again."""
    buffer, pos = batch._buffer, batch._pos
    length, pos = decode_varint(buffer, pos)
    start = pos
    _, pos = decode_varint(buffer, pos)  # attributes: unused
    ts_delta, pos = decode_varint(buffer, pos)
    log_append = batch.timestamp_type == batch.LOG_APPEND_TIME
    timestamp = batch.max_timestamp if log_append else batch.first_timestamp + ts_delta
    offset_delta, pos = decode_varint(buffer, pos)
    key, pos = _nullable_bytes(buffer, pos)
    value, pos = _nullable_bytes(buffer, pos)
    count, pos = decode_varint(buffer, pos)
    if count < 0:
        raise ValueError(f"invalid number of record headers {count}")
    headers = []
    for _ in range(count):
        size, pos = decode_varint(buffer, pos)
        if size < 0:
            raise ValueError(f"invalid negative header key size {size}")
        raw = bytes(buffer[pos: pos + size])
        pos += size
        try:
            name: str = raw.decode("utf-8")
        except UnicodeDecodeError:
            name = UndecodableHeaderKey(raw)
        header_value, pos = _nullable_bytes(buffer, pos)
        headers.append((name, header_value))
    if pos - start != length:
        raise ValueError(f"invalid record size: expected {length} bytes, read {pos - start}")
    batch._pos = pos
    record = ControlRecord if batch.is_control_batch else DefaultRecord
    return record(length, batch.base_offset + offset_delta, timestamp, batch.timestamp_type, key, value, headers)


def _nullable_bytes(buffer: Any, pos: int) -> tuple[bytes | None, int]:
    size, pos = decode_varint(buffer, pos)
    if size < 0:
        return None, pos
    return bytes(buffer[pos: pos + size]), pos + size


def corruption(record: Any) -> CorruptRecord | None:
    """The :class:`CorruptRecord` error of a record with a header key that is not UTF-8, else None."""
    for index, (name, _) in enumerate(record.headers or ()):
        if type(name) is UndecodableHeaderKey:
            where = "undecodable"
            try:
                name.raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                where = f"byte 0x{name.raw[exc.start]:02x} at position {exc.start}"
            message = (f"header key #{index} ({name.raw!r}) is not UTF-8 ({where}); Kafka header keys are UTF-8 "
                       "strings and kafka-python cannot decode this record")
            return CorruptRecord(message, record.topic, record.partition, record.offset)
    return None


def failed_partition(consumer: Any) -> Any:
    """The ``TopicPartition`` whose records a ``poll()`` that just raised was decoding, or None.

    kafka-python's fetcher keeps the partition's records it was reading as ``_next_partition_records``
    when one raises (directly, or stored and raised at the next poll): neither the error nor poll()
    says which partition it was."""
    records = getattr(getattr(consumer, "_fetcher", None), "_next_partition_records", None)
    if not records:  # None, or drained: it was not reading one
        return None
    return getattr(records, "topic_partition", None)
