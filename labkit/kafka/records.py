"""Read a topic back as a table, the way Kafka UI shows it (*Topics → orders → Messages*).

The labs write a few records, then look at them: which partition, which offset, which key, which
value. Topics keep what earlier labs wrote, so the usual pattern is to note the log-end offsets
first and read only what came after (needs a broker, so not a doctest)::

    before = log_end_offsets(settings, "orders")
    send(settings, Order("ORD-1", 100))
    topic_frame(settings, "orders", since=before)

Reads go up to the high watermark seen when the call starts (right on both engines, see
:mod:`labkit.kafka.offsets`) with a group-less reader: nothing is committed, no group is joined.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from kafka import TopicPartition

from labkit.kafka import clients
from labkit.kafka.offsets import COORDINATOR_NOT_READY, OffsetsError, committed_offsets, watermarks
from labkit.settings import Settings, load

__all__ = ["RECORD_COLUMNS", "as_text", "committed_past", "coordinates", "record_at",
           "topic_frame", "topic_records"]

RECORD_COLUMNS = ["partition", "offset", "timestamp", "key", "value", "headers"]


def as_text(data: bytes | None) -> str | None:
    """Bytes as a student wants to read them: the UTF-8 text, else Python's bytes literal.

    >>> as_text(b'{"orderId":"ORD-1"}'), as_text(b"\\xff\\xfe"), as_text(None)
    ('{"orderId":"ORD-1"}', "b'\\\\xff\\\\xfe'", None)
    """
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return repr(bytes(data))


def _start(since: Mapping[Any, int] | None, tp: TopicPartition) -> int | None:
    if not since:
        return None
    found = since.get(tp, since.get(tp.partition))  # {TopicPartition: n} or {partition: n}
    return None if found is None else int(found)


def topic_records(settings: Settings | None, topic: str, since: Mapping[Any, int] | None = None,
                  timeout_s: float = 10.0) -> list[Any]:
    """The records of ``topic`` (``ConsumerRecord``), in partition/offset order, up to the end seen
    now. ``since``: ``{TopicPartition or partition: first offset}`` (e.g. an earlier
    :func:`~labkit.kafka.offsets.log_end_offsets`); partitions it does not name are read from the start."""
    settings = settings or load()
    ends = {}
    for tp, (low, high) in watermarks(settings, topic, timeout_s).items():
        first = _start(since, tp)
        start = low if first is None else max(low, first)
        if start < high:
            ends[tp] = (start, high)
    if not ends:
        return []
    reader = clients.reader(settings)
    records: list[Any] = []
    try:
        reader.assign(list(ends))
        for tp, (start, _) in ends.items():
            reader.seek(tp, start)
        deadline = time.monotonic() + timeout_s
        while any(reader.position(tp) < high for tp, (_, high) in ends.items()):
            if time.monotonic() > deadline:
                raise OffsetsError(f"reading {topic} to its end took more than {timeout_s:g} s")
            for tp, batch in reader.poll(timeout_ms=200).items():
                records += [r for r in batch if r.offset < ends[tp][1]]
    finally:
        reader.close()
    return sorted(records, key=lambda r: (r.partition, r.offset))


def _row(record: Any) -> dict[str, Any]:
    return {"partition": record.partition, "offset": record.offset, "timestamp": record.timestamp,
            "key": as_text(record.key), "value": as_text(record.value),
            "headers": {k: as_text(v) for k, v in record.headers or []}}


def topic_frame(settings: Settings | None, topic: str | None = None, since: Mapping[Any, int] | None = None,
                keys: Iterable[str] | None = None, timeout_s: float = 10.0) -> pd.DataFrame:
    """:func:`topic_records` as a DataFrame (``RECORD_COLUMNS``): key and value as text (bytes that
    are not UTF-8 as a bytes literal), timestamp in UTC, headers as a dict. ``topic`` defaults to
    ``settings.orders_topic``; ``keys`` keeps only those record keys."""
    settings = settings or load()
    rows = [_row(r) for r in topic_records(settings, topic or settings.orders_topic, since, timeout_s)]
    df = pd.DataFrame(rows, columns=RECORD_COLUMNS)
    if keys is not None:
        df = df[df["key"].isin(list(keys))].reset_index(drop=True)
    df["timestamp"] = pd.to_datetime(df["timestamp"], unit="ms", utc=True)
    return df


def record_at(settings: Settings | None, topic: str, partition: int, offset: int,
              timeout_s: float = 10.0) -> Any | None:
    """The record at ``topic``-``partition``@``offset`` (a ``ConsumerRecord``), or None if the log
    does not hold that offset (never written, or deleted by retention)."""
    settings = settings or load()
    tp = TopicPartition(topic, partition)
    low, high = watermarks(settings, topic, timeout_s)[tp]
    if not low <= offset < high:
        return None
    reader = clients.reader(settings)
    try:
        reader.assign([tp])
        reader.seek(tp, offset)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for record in reader.poll(timeout_ms=200).get(tp, []):
                if record.offset == offset:
                    return record
                if record.offset > offset:  # a gap (transaction marker): nothing at that offset
                    return None
    finally:
        reader.close()
    raise OffsetsError(f"could not read {topic}-{partition}@{offset} within {timeout_s:g} s")


def coordinates(records: Any, topic: str) -> list[tuple[str, int, int]]:
    """``(topic, partition, offset)`` of each record. ``records``: a DataFrame with ``partition`` and
    ``offset`` columns (and maybe ``topic``), as :func:`topic_frame` and :func:`labkit.kafka.producer.send`
    return; objects with those attributes (``ConsumerRecord``, record events); or tuples
    ``(partition, offset)`` / ``(topic, partition, offset)``. ``topic`` fills in a missing topic.

    >>> coordinates([(2, 7), ("orders.retry", 0, 1)], "orders")
    [('orders', 2, 7), ('orders.retry', 0, 1)]
    """
    if isinstance(records, pd.DataFrame):
        topics = records["topic"] if "topic" in records else [topic] * len(records)
        rows = zip(topics, records["partition"], records["offset"], strict=True)
        return [(str(t), int(p), int(o)) for t, p, o in rows]
    out = []
    for r in records:
        if hasattr(r, "partition") and hasattr(r, "offset"):  # before tuple: a namedtuple row is a tuple
            t, p, o = getattr(r, "topic", None) or topic, r.partition, r.offset
        else:
            t, p, o = r if len(r) == 3 else (topic, *r)
        out.append((str(t), int(p), int(o)))
    return out


def committed_past(settings: Settings | None, records: Any, group_id: str | None = None,
                   timeout_s: float = 10.0) -> bool:
    """True when the group (default ``settings.group_id``) has committed past every one of
    ``records`` (see :func:`coordinates`; topic default ``settings.orders_topic``): in each record's
    partition the committed offset, the next one the group will read, is greater than its offset.
    The records are done as far as Kafka knows: a restart will not deliver them again. False (not
    an error) while the group coordinator is not ready yet, so it can be waited on."""
    settings = settings or load()
    coords = coordinates(records, settings.orders_topic)
    if not coords:
        return False
    try:
        committed = committed_offsets(settings, group_id, timeout_s=timeout_s)
    except OffsetsError as exc:
        if isinstance(exc.__cause__, COORDINATOR_NOT_READY):  # a fresh broker: no offsets topic yet
            return False
        raise
    return all((committed.get(TopicPartition(t, p)) or 0) > o for t, p, o in coords)
