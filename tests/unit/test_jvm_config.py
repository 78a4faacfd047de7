"""The kafka engine's cluster id: Kafka's rule, no id that kafka-storage would read as an option."""

from __future__ import annotations

import uuid

from labkit.broker.jvm import _cluster_id


def test_cluster_id_never_starts_with_a_dash():
    # 0xF8 = 0b111110..: URL-safe base64 index 62, which is "-"
    rolls = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x01" * 16)])
    cid = _cluster_id(lambda: next(rolls))
    assert cid == "AQEBAQEBAQEBAQEBAQEBAQ" and len(cid) == 22
