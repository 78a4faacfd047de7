"""The DLT record's wire format: what a failed record becomes, and how it is read back.

A DLT record keeps everything needed to understand and replay the failure:

* **key** = the original key (same order -> same DLT partition);
* **value** = the module's JSON envelope: ``originalTopic, originalPartition, originalOffset,
  originalKey, originalValue, errorMessage, errorTimestamp (ISO-8601 UTC, ``Z``), retryCount,
  stackTrace`` plus ``errorType`` (the error label), ``consumerGroup`` and
  ``originalValueEncoding``: ``"utf-8"`` when the value was text, ``"base64"`` when it was not
  (poison bytes are kept exactly, :attr:`DltEnvelope.raw_value` gives them back);
  ``originalRecordUnreadable: true`` only for a record the client could not decode at all (reason
  ``CorruptRecord``, :mod:`labkit.kafka.corrupt`): no original key or value, its coordinates only;
* **headers**, Spring Kafka compatible (``kafka_dlt-*``, :mod:`labkit.dlt.headers`: their names, encoding
  and decoding, re-exported here); the stack trace, in the header and the envelope, truncated to a byte
  budget on a character boundary.

Publishing: :mod:`labkit.dlt.publish`; reading a whole DLT: :mod:`labkit.dlt.read`; replaying:
:mod:`labkit.dlt.replay`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from labkit.dlt.headers import (
    H_CAUSE_FQCN,
    H_FQCN,
    H_GROUP,
    H_MESSAGE,
    H_OFFSET,
    H_PARTITION,
    H_STACKTRACE,
    H_TIMESTAMP,
    H_TIMESTAMP_TYPE,
    H_TOPIC,
    H_VALUE_TRUNCATED,
    decode_dlt_headers,
    encode_dlt_headers,
)
from labkit.dlt.stacktrace import format_stacktrace
from labkit.errors import describe, error_label

__all__ = [
    "H_TOPIC", "H_PARTITION", "H_OFFSET", "H_TIMESTAMP", "H_TIMESTAMP_TYPE", "H_GROUP", "H_FQCN",
    "H_CAUSE_FQCN", "H_MESSAGE", "H_STACKTRACE", "H_VALUE_TRUNCATED", "STACKTRACE_BUDGET",
    "SourceCoords", "DltEnvelope", "DltRecord", "DltEntry",
    "truncate_utf8", "iso_utc", "format_stacktrace", "build_dlt_record", "decode_dlt_headers", "parse_dlt_record",
    "as_bytes",
]  # fmt: skip


STACKTRACE_BUDGET = 4096
"""Bytes of stack trace kept, in the header and in the envelope (Kafka records stay small)."""

TRUNCATION_MARK = "\n... [truncated]"


# --- pure helpers ------------------------------------------------------------------------------


def truncate_utf8(text: str, budget: int, mark: str = TRUNCATION_MARK) -> str:
    """``text`` cut so that its UTF-8 encoding fits in ``budget`` bytes, never inside a character.

    When a cut happens, ``mark`` is appended (and counted in the budget).
    """
    data = text.encode("utf-8")
    if len(data) <= budget:
        return text
    room = budget - len(mark.encode("utf-8"))
    if room <= 0:
        return data[:budget].decode("utf-8", errors="ignore")
    return data[:room].decode("utf-8", errors="ignore") + mark


def iso_utc(epoch_s: float) -> str:
    """``2024-05-01T12:00:00.123Z``: ISO-8601, UTC, milliseconds, ``Z`` suffix."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _text_or_b64(data: bytes | None) -> tuple[str | None, str | None]:
    if data is None:
        return None, None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def _from_text_or_b64(text: str | None, encoding: str | None) -> bytes | None:
    if text is None:
        return None
    if encoding == "base64":
        return base64.b64decode(text)
    return text.encode("utf-8")


def as_bytes(value: Any) -> bytes | None:
    """A record value or key as bytes: text is UTF-8, a decoded JSON value is compact JSON."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class SourceCoords:
    """Where a record came from: the coordinates the DLT envelope and headers report."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int = -1
    timestamp_type: int = 0  # 0 CreateTime, 1 LogAppendTime
    unreadable: bool = False  # the client could not decode the record: coordinates only, no key or value

    @classmethod
    def unreadable_at(cls, topic: str, partition: int, offset: int) -> SourceCoords:
        """A record known by its coordinates only (the client library could not decode it)."""
        return cls(topic=topic, partition=int(partition), offset=int(offset), key=None, value=None, unreadable=True)

    @classmethod
    def of(cls, record: Any) -> SourceCoords:
        """From a kafka-python ``ConsumerRecord`` (or anything with the same attributes)."""
        if isinstance(record, SourceCoords):
            return record
        ts = getattr(record, "timestamp", -1)
        return cls(
            topic=record.topic,
            partition=int(record.partition),
            offset=int(record.offset),
            key=as_bytes(record.key),
            value=as_bytes(record.value),
            timestamp_ms=-1 if ts is None else int(ts),
            timestamp_type=int(getattr(record, "timestamp_type", 0) or 0),
        )


@dataclass(frozen=True)
class DltEnvelope:
    """The JSON value of a DLT record (field names in camelCase on the wire)."""

    original_topic: str
    original_partition: int
    original_offset: int
    original_key: str | None
    original_value: str | None
    error_message: str
    error_timestamp: str
    retry_count: int
    stack_trace: str
    error_type: str
    consumer_group: str | None
    original_value_encoding: str | None = "utf-8"
    original_key_encoding: str | None = "utf-8"
    # set only when the value was too large for the DLT: ``original_value`` is then its first bytes
    original_value_truncated: bool = False
    original_value_bytes: int | None = None
    # set only when the record could not be decoded at all (``CorruptRecord``): no original key or value
    # here, they stay in the source topic at the original coordinates
    original_record_unreadable: bool = False

    _WIRE = {
        "original_topic": "originalTopic",
        "original_partition": "originalPartition",
        "original_offset": "originalOffset",
        "original_key": "originalKey",
        "original_value": "originalValue",
        "error_message": "errorMessage",
        "error_timestamp": "errorTimestamp",
        "retry_count": "retryCount",
        "stack_trace": "stackTrace",
        "error_type": "errorType",
        "consumer_group": "consumerGroup",
        "original_value_encoding": "originalValueEncoding",
        "original_key_encoding": "originalKeyEncoding",
    }

    _TRUNCATION_WIRE = {"original_value_truncated": "originalValueTruncated",
                        "original_value_bytes": "originalValueBytes"}  # on the wire only when truncated
    _UNREADABLE_WIRE = "originalRecordUnreadable"  # on the wire only when true

    def to_dict(self) -> dict[str, Any]:
        out = {wire: getattr(self, name) for name, wire in self._WIRE.items()}
        if self.original_value_truncated:
            out.update({wire: getattr(self, name) for name, wire in self._TRUNCATION_WIRE.items()})
        if self.original_record_unreadable:
            out[self._UNREADABLE_WIRE] = True
        return out

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DltEnvelope:
        values = {name: data.get(wire) for name, wire in cls._WIRE.items()}
        if values["original_value_encoding"] is None and values["original_value"] is not None:
            values["original_value_encoding"] = "utf-8"
        if values["original_key_encoding"] is None and values["original_key"] is not None:
            values["original_key_encoding"] = "utf-8"
        values["retry_count"] = int(values["retry_count"] or 0)
        values["original_value_truncated"] = bool(data.get("originalValueTruncated", False))
        size = data.get("originalValueBytes")
        values["original_value_bytes"] = int(size) if isinstance(size, (int, float)) else None
        values["original_record_unreadable"] = data.get(cls._UNREADABLE_WIRE) is True
        return cls(**values)

    @classmethod
    def from_json(cls, data: bytes | str) -> DltEnvelope:
        return cls.from_dict(json.loads(data))

    @property
    def raw_value(self) -> bytes | None:
        """The original value, byte for byte (base64-decoded for poison payloads)."""
        return _from_text_or_b64(self.original_value, self.original_value_encoding)

    @property
    def raw_key(self) -> bytes | None:
        return _from_text_or_b64(self.original_key, self.original_key_encoding)

    def with_original_value(self, value: bytes) -> DltEnvelope:
        """This envelope carrying ``value`` in full (e.g. read back from the source topic when the
        DLT copy was truncated): text stays text, other bytes are base64."""
        text, encoding = _text_or_b64(value)
        return dataclasses.replace(self, original_value=text, original_value_encoding=encoding,
                                   original_value_truncated=False, original_value_bytes=None)

    @property
    def error_time(self) -> datetime:
        return datetime.fromisoformat(self.error_timestamp.replace("Z", "+00:00"))


@dataclass(frozen=True)
class DltRecord:
    """What to send to the DLT: key, value (the envelope as JSON) and headers."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    envelope: DltEnvelope


def build_dlt_record(
    record: Any,
    error: BaseException,
    *,
    group_id: str | None,
    retry_count: int = 0,
    now: float | None = None,
    stacktrace_budget: int = STACKTRACE_BUDGET,
) -> DltRecord:
    """The DLT record for ``record`` (a ``ConsumerRecord`` or :class:`SourceCoords`) that failed with
    ``error`` after ``retry_count`` retries. Pure: no Kafka, no clock unless ``now`` is omitted."""
    src = SourceCoords.of(record)
    now = time.time() if now is None else now
    value_text, value_enc = _text_or_b64(src.value)
    key_text, key_enc = _text_or_b64(src.key)
    stack = truncate_utf8(format_stacktrace(error), stacktrace_budget)
    message = describe(error)
    envelope = DltEnvelope(
        original_topic=src.topic,
        original_partition=src.partition,
        original_offset=src.offset,
        original_key=key_text,
        original_value=value_text,
        error_message=message,
        error_timestamp=iso_utc(now),
        retry_count=int(retry_count),
        stack_trace=stack,
        error_type=error_label(error),
        consumer_group=group_id,
        original_value_encoding=value_enc,
        original_key_encoding=key_enc,
        original_record_unreadable=src.unreadable,
    )
    headers = encode_dlt_headers(src, error, group_id=group_id, message=message, stack=stack)
    return DltRecord(key=src.key, value=envelope.to_json(), headers=headers, envelope=envelope)


# --- reading back ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DltEntry:
    """One DLT record as read back: its own coordinates, the parsed envelope and decoded headers."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    envelope: DltEnvelope
    headers: dict[str, Any] = field(default_factory=dict)

    @property
    def original_topic(self) -> str:
        return self.headers.get(H_TOPIC) or self.envelope.original_topic

    @property
    def error_type(self) -> str:
        return self.envelope.error_type

    @property
    def key_text(self) -> str | None:
        return None if self.key is None else self.key.decode("utf-8", errors="replace")

    def to_row(self) -> dict[str, Any]:
        return {
            "dlt_partition": self.partition,
            "dlt_offset": self.offset,
            "key": self.key_text,
            **self.envelope.to_dict(),
        }

    def matches(
        self,
        error_type: str | Iterable[str] | None = None,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        key: str | bytes | Iterable[str] | None = None,
    ) -> bool:
        """True when the entry passes every filter given: error type(s), error time range, key(s)."""
        if error_type is not None:
            types = {error_type} if isinstance(error_type, str) else set(error_type)
            if self.envelope.error_type not in types:
                return False
        if since is not None or until is not None:
            t = self.envelope.error_time.timestamp()
            lo = since.timestamp() if isinstance(since, datetime) else since
            hi = until.timestamp() if isinstance(until, datetime) else until
            if (lo is not None and t < lo) or (hi is not None and t > hi):
                return False
        if key is not None:
            keys = {key} if isinstance(key, (str, bytes)) else set(key)
            keys = {k.encode("utf-8") if isinstance(k, str) else k for k in keys}
            if self.key not in keys:
                return False
        return True


def parse_dlt_record(record: Any) -> DltEntry:
    """A ``ConsumerRecord`` read from a DLT -> :class:`DltEntry`. Raises ``ValueError`` if the value
    is not an envelope."""
    try:
        envelope = DltEnvelope.from_json(record.value)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValueError(f"not a DLT envelope at {record.topic}-{record.partition}@{record.offset}") from exc
    return DltEntry(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
        key=record.key,
        envelope=envelope,
        headers=decode_dlt_headers(record.headers),
    )


