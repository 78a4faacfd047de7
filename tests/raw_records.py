"""Records kafka-python cannot read back, written with kafka-python's own producer.

Kafka's protocol says a header key is a UTF-8 STRING, but neither Apache Kafka nor the embedded broker
checks it: any client that writes other bytes (a buggy producer, a C client given raw bytes) gets its
record stored. kafka-python's producer encodes each key with ``key.encode("utf-8")`` (in
``DefaultRecordBatchBuilder.append`` and in the size estimates) after checking ``isinstance(key, str)``,
so a ``str`` whose ``encode`` gives the raw bytes writes exactly those bytes, in a batch whose CRC is right.
(confluent-kafka 2.16 does not help: it writes ``repr(b"\\xff")`` for a bytes key, and crashes on a
lone surrogate.)
"""

from __future__ import annotations

__all__ = ["RawHeaderKey", "BAD_KEY"]

BAD_KEY = b"\xff\xfe"  # not UTF-8: 0xff can start no UTF-8 sequence


class RawHeaderKey(str):
    """A header key kafka-python's producer writes as ``raw``, byte for byte."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawHeaderKey:
        key = super().__new__(cls, raw.decode("utf-8", "backslashreplace"))
        key.raw = raw
        return key

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:  # noqa: ARG002 - the raw bytes
        return self.raw
