"""DLT record building, pure: byte-exact Spring header encodings, envelope round trip (poison bytes
included), stack-trace truncation on a UTF-8 boundary."""

from __future__ import annotations

import dataclasses
import json
import struct

from kafka.consumer.fetcher import ConsumerRecord

from labkit.dlt.envelope import (
    STACKTRACE_BUDGET,
    DltEntry,
    DltEnvelope,
    SourceCoords,
    build_dlt_record,
    decode_dlt_headers,
    iso_utc,
    truncate_utf8,
)
from labkit.errors import MalformedPayload, MaxRetriesExceeded, ServiceUnavailable, ValidationError
from labkit.orders import parse_order


def raised(exc):
    try:
        raise exc
    except Exception as e:  # noqa: BLE001
        return e


SRC = SourceCoords("orders", 4, 1234567890123, b"ORD-INVALID", b'{"orderId":"ORD-INVALID","amount":-50}',
                   1_700_000_000_123, 0)


def test_headers_are_byte_exact():
    rec = build_dlt_record(SRC, raised(ValidationError("Invalid amount -50")), group_id="orders-consumer-group",
                           retry_count=0, now=1_700_000_000.5)
    h = dict(rec.headers)
    assert h["kafka_dlt-original-topic"] == b"orders"
    assert h["kafka_dlt-original-partition"] == b"\x00\x00\x00\x04"
    assert h["kafka_dlt-original-offset"] == struct.pack(">q", 1234567890123) == b"\x00\x00\x01\x1f\x71\xfb\x04\xcb"
    assert h["kafka_dlt-original-timestamp"] == (1_700_000_000_123).to_bytes(8, "big")
    assert h["kafka_dlt-original-timestamp-type"] == b"CreateTime"
    assert h["kafka_dlt-original-consumer-group"] == b"orders-consumer-group"
    assert h["kafka_dlt-exception-fqcn"] == b"labkit.errors.ValidationError"
    assert h["kafka_dlt-exception-message"] == b"ValidationException: Invalid amount -50"
    assert b"ValidationError" in h["kafka_dlt-exception-stacktrace"]
    assert "kafka_dlt-exception-cause-fqcn" not in h
    assert rec.key == b"ORD-INVALID"
    assert decode_dlt_headers(rec.headers)["kafka_dlt-original-offset"] == 1234567890123


def test_envelope_fields_and_round_trip():
    rec = build_dlt_record(SRC, raised(ValidationError("Invalid amount -50")), group_id="g", retry_count=0,
                           now=1_700_000_000.5)
    data = json.loads(rec.value)
    for name in ("originalTopic", "originalPartition", "originalOffset", "originalKey", "originalValue",
                 "errorMessage", "errorTimestamp", "retryCount", "stackTrace", "errorType", "consumerGroup",
                 "originalValueEncoding"):
        assert name in data
    assert data["errorTimestamp"] == "2023-11-14T22:13:20.500Z" == iso_utc(1_700_000_000.5)
    assert data["errorMessage"] == "ValidationException: Invalid amount -50"
    assert data["errorType"] == "ValidationException"
    assert data["originalValue"] == '{"orderId":"ORD-INVALID","amount":-50}'
    env = DltEnvelope.from_json(rec.value)
    assert env == rec.envelope
    assert env.raw_value == SRC.value and env.raw_key == SRC.key


def test_truncation_fields_only_on_the_wire_when_truncated():
    import dataclasses

    rec = build_dlt_record(SRC, raised(ValidationError("Invalid amount -50")), group_id="g", retry_count=0,
                           now=1_700_000_000.5)
    assert "originalValueTruncated" not in json.loads(rec.value)  # the module's envelope, unchanged
    cut = dataclasses.replace(rec.envelope, original_value="{\"orderId\"", original_value_truncated=True,
                              original_value_bytes=len(SRC.value))
    data = json.loads(cut.to_json())
    assert data["originalValueTruncated"] is True and data["originalValueBytes"] == len(SRC.value)
    assert DltEnvelope.from_json(cut.to_json()) == cut


def test_poison_bytes_survive_exactly():
    for raw in (b"\xff\xfe\x00\x81", b"", b"not json", bytes(range(256))):
        src = SourceCoords("orders", 0, 1, None, raw)
        try:
            parse_order(raw)
            raise AssertionError("should fail")
        except MalformedPayload as exc:
            rec = build_dlt_record(src, exc, group_id="g")
        env = DltEnvelope.from_json(rec.value)
        assert env.raw_value == raw
        assert env.original_value_encoding == ("utf-8" if raw in (b"", b"not json") else "base64")
        assert rec.key is None and env.original_key is None
        assert env.error_type == "MalformedPayloadException"


def test_null_value_and_consumer_record():
    rec = ConsumerRecord("orders", 2, 0, 7, 1000, 0, b"k", None, [], None, 1, -1, -1)
    out = build_dlt_record(rec, raised(MalformedPayload("null")), group_id=None)
    env = DltEnvelope.from_json(out.value)
    assert env.raw_value is None and env.original_partition == 2 and env.original_offset == 7
    assert "kafka_dlt-original-consumer-group" not in dict(out.headers)


def test_exhausted_retry_count_and_cause():
    last = raised(ServiceUnavailable("down"))
    rec = build_dlt_record(SRC, MaxRetriesExceeded(5, last), group_id="g", retry_count=5)
    env = rec.envelope
    assert env.retry_count == 5 and env.error_type == "MaxRetriesExceededException"
    assert "ServiceUnavailableException: down" in env.error_message
    assert dict(rec.headers)["kafka_dlt-exception-cause-fqcn"] == b"labkit.errors.ServiceUnavailable"


def test_truncation_on_a_utf8_boundary():
    text = "é" * 5000  # 2 bytes each
    for budget in (100, 101, 4096, 4097):
        out = truncate_utf8(text, budget)
        data = out.encode("utf-8")
        assert len(data) <= budget
        data.decode("utf-8")  # valid
        assert out.endswith("[truncated]")
    assert truncate_utf8("short", 100) == "short"
    euro = "€" * 10  # 3 bytes each
    assert truncate_utf8(euro, 7, mark="") == "€€"


def test_stacktrace_budget_in_header_and_envelope():
    def deep(n):
        if n == 0:
            raise ValidationError("x" * 3000 + "ü" * 2000)
        deep(n - 1)

    try:
        deep(50)
    except ValidationError as exc:
        rec = build_dlt_record(SRC, exc, group_id="g")
    header = dict(rec.headers)["kafka_dlt-exception-stacktrace"]
    assert len(header) <= STACKTRACE_BUDGET
    header.decode("utf-8")
    assert len(rec.envelope.stack_trace.encode("utf-8")) <= STACKTRACE_BUDGET


def _entry(error, now, key=b"ORD-INVALID"):
    rec = build_dlt_record(SourceCoords("orders", 4, 7, key, b"{}", 1, 0), raised(error), group_id="g",
                           retry_count=0, now=now)
    return DltEntry(topic="orders.DLT", partition=0, offset=0, timestamp_ms=1, key=rec.key, envelope=rec.envelope)


def test_entry_filters_by_error_type_time_and_key():
    entry = _entry(ValidationError("Invalid amount -50"), now=1_700_000_000.0)
    error_type = entry.error_type
    assert entry.matches()  # no filter: everything matches
    assert entry.matches(error_type=error_type) and entry.matches(error_type=[error_type, "Other"])
    assert not entry.matches(error_type="ServiceUnavailable")
    assert entry.matches(since=1_699_999_999.0, until=1_700_000_001.0)
    assert not entry.matches(since=1_700_000_001.0)
    assert not entry.matches(until=1_699_999_999.0)
    assert entry.matches(key="ORD-INVALID") and entry.matches(key=[b"ORD-INVALID", "ORD-2"])
    assert not entry.matches(key="ORD-2")


def test_with_original_value_restores_a_truncated_copy():
    env = _entry(ValidationError("x"), now=1.0).envelope
    truncated = dataclasses.replace(env, original_value="{", original_value_truncated=True, original_value_bytes=30)
    text = truncated.with_original_value(b'{"orderId":"ORD-1","amount":5}')
    assert (text.original_value, text.original_value_encoding) == ('{"orderId":"ORD-1","amount":5}', "utf-8")
    assert not text.original_value_truncated and text.original_value_bytes is None
    poison = truncated.with_original_value(b"\xff\xfe")
    assert poison.original_value_encoding == "base64" and poison.raw_value == b"\xff\xfe"
