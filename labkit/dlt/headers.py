"""The DLT record's headers, Spring Kafka compatible (``DeadLetterPublishingRecoverer``): their names,
their encoding, and decoding them back.

Spring tools and Kafka UIs understand them: ``kafka_dlt-original-topic`` (UTF-8),
``-original-partition`` (int32 BE), ``-original-offset`` (int64 BE), ``-original-timestamp`` (int64 BE),
``-original-timestamp-type`` (UTF-8, ``CreateTime``), ``-original-consumer-group``, ``-exception-fqcn``,
``-exception-cause-fqcn`` (when there is a cause), ``-exception-message`` and ``-exception-stacktrace``
(UTF-8). labkit adds one of its own, ``labkit_dlt-original-value-truncated``, when the value was too large
for the DLT (:mod:`labkit.dlt.publish`).

The record's value, the JSON envelope, is :mod:`labkit.dlt.envelope`'s.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from labkit.errors import fqcn

if TYPE_CHECKING:
    from labkit.dlt.envelope import SourceCoords

__all__ = [
    "H_TOPIC", "H_PARTITION", "H_OFFSET", "H_TIMESTAMP", "H_TIMESTAMP_TYPE", "H_GROUP", "H_FQCN",
    "H_CAUSE_FQCN", "H_MESSAGE", "H_STACKTRACE", "H_VALUE_TRUNCATED", "encode_dlt_headers", "decode_dlt_headers",
]  # fmt: skip


H_TOPIC = "kafka_dlt-original-topic"
H_PARTITION = "kafka_dlt-original-partition"
H_OFFSET = "kafka_dlt-original-offset"
H_TIMESTAMP = "kafka_dlt-original-timestamp"
H_TIMESTAMP_TYPE = "kafka_dlt-original-timestamp-type"
H_GROUP = "kafka_dlt-original-consumer-group"
H_FQCN = "kafka_dlt-exception-fqcn"
H_CAUSE_FQCN = "kafka_dlt-exception-cause-fqcn"
H_MESSAGE = "kafka_dlt-exception-message"
H_STACKTRACE = "kafka_dlt-exception-stacktrace"

H_VALUE_TRUNCATED = "labkit_dlt-original-value-truncated"  # original value size in bytes (UTF-8 digits)

_INT32 = {H_PARTITION}
_INT64 = {H_OFFSET, H_TIMESTAMP}


def encode_dlt_headers(src: SourceCoords, error: BaseException, *, group_id: str | None, message: str,
                       stack: str) -> list[tuple[str, bytes]]:
    """The ``kafka_dlt-*`` headers of the DLT record of ``src``, which failed with ``error``
    (``message`` and ``stack`` as the envelope carries them), in Spring's order."""
    headers = [
        (H_TOPIC, src.topic.encode("utf-8")),
        (H_PARTITION, struct.pack(">i", src.partition)),
        (H_OFFSET, struct.pack(">q", src.offset)),
        (H_TIMESTAMP, struct.pack(">q", src.timestamp_ms)),
        (H_TIMESTAMP_TYPE, b"LogAppendTime" if src.timestamp_type == 1 else b"CreateTime"),
    ]
    if group_id:
        headers.append((H_GROUP, group_id.encode("utf-8")))
    headers.append((H_FQCN, fqcn(error).encode("utf-8")))
    cause = error.__cause__
    if cause is not None:
        headers.append((H_CAUSE_FQCN, fqcn(cause).encode("utf-8")))
    headers.append((H_MESSAGE, message.encode("utf-8")))
    headers.append((H_STACKTRACE, stack.encode("utf-8")))
    return headers


def decode_dlt_headers(headers: Iterable[tuple[str, bytes]] | None) -> dict[str, Any]:
    """``kafka_dlt-*`` headers -> a dict of decoded values (ints for partition/offset/timestamp)."""
    out: dict[str, Any] = {}
    for name, raw in headers or ():
        if not name.startswith("kafka_dlt-") or raw is None:
            continue
        if name in _INT32 and len(raw) == 4:
            out[name] = struct.unpack(">i", raw)[0]
        elif name in _INT64 and len(raw) == 8:
            out[name] = struct.unpack(">q", raw)[0]
        else:
            out[name] = raw.decode("utf-8", errors="replace")
    return out
