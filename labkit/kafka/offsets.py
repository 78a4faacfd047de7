"""Offsets that are right on every engine: log-end offsets, committed offsets, record counts.

Why not just ``consumer.end_offsets()``? On the embedded broker (Tansu), ListOffsets(LATEST) - which
backs ``end_offsets``, ``seek_to_end``, ``auto_offset_reset='latest'`` and admin
``list_partition_offsets`` - returns *the base offset of the last batch + 1*. After ten records
produced in one batch it says 1, not 10, and lag computed from it goes negative. The high watermark
carried by every Fetch response is right on both engines, so :func:`log_end_offsets` reads it:

1. a group-less reader is assigned every partition and seeks each to ``max(0, latest - 1)``. That
   offset is always valid (it lies inside the last batch on Tansu, on the last record on Kafka), so
   the broker answers with data and the high watermark, never with OFFSET_OUT_OF_RANGE;
2. it polls until ``reader.highwater(tp)`` is known for every partition, before a deadline.

Verified on both engines with kafka-python 3.0.12: empty partitions get ``highwater == 0`` from an
empty Fetch response; after 10 records in one batch Tansu's ListOffsets says 1 while the high
watermark says 10 (Apache Kafka says 10 for both). ``highwater`` survives a ``seek``, so every call
uses a fresh reader: a stale value from an earlier fetch can never leak into a new figure.

ListOffsets(EARLIEST) (``beginning_offsets``) is right on both engines and is used as is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NotCoordinatorError,
)

from labkit.errors import no_broker
from labkit.kafka import clients
from labkit.settings import Settings, load

__all__ = [
    "OffsetsError",
    "beginning_offsets",
    "committed_offsets",
    "count_records",
    "log_end_offsets",
    "partitions_of",
    "watermarks",
]

_UNREACHABLE = (KafkaTimeoutError, KafkaConnectionError)
# a fresh Apache Kafka creates its offsets topic on the first FindCoordinator: ready about a second later
COORDINATOR_NOT_READY = (CoordinatorNotAvailableError, CoordinatorLoadInProgressError, NotCoordinatorError)


class OffsetsError(RuntimeError):
    """No broker, a missing topic or a deadline passed; ``str(exc)`` says which and what to do."""


def _no_broker(settings: Settings, exc: BaseException) -> OffsetsError:
    return OffsetsError(no_broker(settings.bootstrap_servers, type(exc).__name__))


def _names(topics: str | Iterable[str]) -> list[str]:
    names = [topics] if isinstance(topics, str) else list(dict.fromkeys(topics))
    if not names:
        raise ValueError("name at least one topic")
    return names


def ask_group_coordinator(settings: Settings, group_id: str, timeout_s: float, what: str,
                          call: Callable[[Any], Any]) -> Any:
    """``call(admin)`` on an admin client with bounded timeouts, closed after. A fresh Apache Kafka
    answers "coordinator not available" (retriable) until its offsets topic exists, about a second:
    that is waited out within ``timeout_s``. Anything else is an :class:`OffsetsError` saying
    ``could not <what> group <id>`` and why."""
    bounded = max(100, min(settings.api_timeout_ms, int(timeout_s * 1000)))
    try:
        admin = clients.admin(settings, bootstrap_timeout_ms=bounded, request_timeout_ms=bounded)
    except _UNREACHABLE as exc:
        raise _no_broker(settings, exc) from exc
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                return call(admin)
            except KafkaError as exc:
                waitable = isinstance(exc, COORDINATOR_NOT_READY) or getattr(exc, "retriable", False)
                if not waitable:
                    raise OffsetsError(f"could not {what} group {group_id!r}: {exc}") from exc
                if time.monotonic() + 0.2 > deadline:
                    raise OffsetsError(f"could not {what} group {group_id!r}: the group coordinator was "
                                       f"not ready within {timeout_s:g} s ({exc})") from exc
                time.sleep(0.2)
    finally:
        admin.close()


@contextmanager
def _reader(settings: Settings, timeout_s: float) -> Iterator[KafkaConsumer]:
    """A fresh group-less reader that never fetches more than it must, closed on exit."""
    bounded = max(100, min(settings.api_timeout_ms, int(timeout_s * 1000)))
    try:
        reader = clients.reader(settings, bootstrap_timeout_ms=bounded, fetch_max_wait_ms=100)
    except _UNREACHABLE as exc:
        raise _no_broker(settings, exc) from exc
    try:
        yield reader
    finally:
        reader.close()


def _partitions(reader: KafkaConsumer, names: list[str]) -> list[TopicPartition]:
    tps, missing = [], []
    for name in names:
        parts = reader.partitions_for_topic(name)
        if not parts:
            missing.append(name)
        tps += [TopicPartition(name, p) for p in sorted(parts or ())]
    if missing:
        raise OffsetsError(f"topic(s) not found: {', '.join(missing)}. "
                           "Create them with: labkit topics create")
    return tps


def partitions_of(settings: Settings | None, topics: str | Iterable[str],
                  timeout_s: float = 10.0) -> list[TopicPartition]:
    """Every partition of the given topics, sorted; OffsetsError if one is missing."""
    settings = settings or load()
    with _reader(settings, timeout_s) as reader:
        return _partitions(reader, _names(topics))


def _high_watermarks(reader: KafkaConsumer, tps: list[TopicPartition], deadline: float,
                     settings: Settings) -> dict[TopicPartition, int]:
    """Assign, seek inside each partition's last batch, poll until every high watermark is known."""
    reader.assign(tps)
    timeout_ms = max(1, int((deadline - time.monotonic()) * 1000))
    try:
        latest = reader.end_offsets(tps, timeout_ms=timeout_ms)  # possibly too low on Tansu; a seek target
    except KafkaTimeoutError as exc:
        raise OffsetsError(f"the broker at {settings.bootstrap_servers} did not list offsets in time") \
            from exc
    for tp in tps:
        reader.seek(tp, max(0, latest[tp] - 1))
    while True:
        highs = {tp: reader.highwater(tp) for tp in tps}
        unknown = [tp for tp, high in highs.items() if high is None]
        if not unknown:
            return highs  # type: ignore[return-value]
        left = deadline - time.monotonic()
        if left <= 0:
            named = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in unknown[:6])
            raise OffsetsError(f"no high watermark from the broker in time for {named}")
        reader.poll(timeout_ms=max(1, min(200, int(left * 1000))), max_records=500)


def watermarks(settings: Settings | None, topics: str | Iterable[str],
               timeout_s: float = 10.0) -> dict[TopicPartition, tuple[int, int]]:
    """``{tp: (beginning, end)}`` for every partition of the topics, right on both engines."""
    settings = settings or load()
    deadline = time.monotonic() + timeout_s
    with _reader(settings, timeout_s) as reader:
        try:
            tps = _partitions(reader, _names(topics))
            highs = _high_watermarks(reader, tps, deadline, settings)
            left_ms = max(1, int((deadline - time.monotonic()) * 1000))
            lows = reader.beginning_offsets(tps, timeout_ms=left_ms)
        except KafkaTimeoutError as exc:
            raise OffsetsError(f"the broker at {settings.bootstrap_servers} did not answer in time") from exc
    return {tp: (lows[tp], highs[tp]) for tp in tps}


def log_end_offsets(settings: Settings | None, topics: str | Iterable[str],
                    timeout_s: float = 10.0) -> dict[TopicPartition, int]:
    """The log-end offset (high watermark: offset of the next record) of every partition.

    Correct after batched produces on the embedded broker (see the module doc). Raises OffsetsError
    when no broker answers, a topic is missing, or the broker does not answer within ``timeout_s``.
    """
    settings = settings or load()
    deadline = time.monotonic() + timeout_s
    with _reader(settings, timeout_s) as reader:
        tps = _partitions(reader, _names(topics))
        return _high_watermarks(reader, tps, deadline, settings)


def beginning_offsets(settings: Settings | None, topics: str | Iterable[str],
                      timeout_s: float = 10.0) -> dict[TopicPartition, int]:
    """The first offset still in the log of every partition (ListOffsets EARLIEST: right on both)."""
    return {tp: low for tp, (low, _) in watermarks(settings, topics, timeout_s).items()}


def count_records(settings: Settings | None, topic: str, timeout_s: float = 10.0) -> int:
    """How many records the topic holds now: the sum of ``end - beginning`` over its partitions."""
    return sum(high - low for low, high in watermarks(settings, topic, timeout_s).values())


def committed_offsets(settings: Settings | None, group_id: str | None = None,
                      topics: str | Iterable[str] | None = None,
                      timeout_s: float = 10.0) -> dict[TopicPartition, int | None]:
    """The group's committed offsets (admin ``list_group_offsets``), the next offset it will read.

    Without ``topics``: only the partitions the group has committed. With ``topics``: every
    partition of them, ``None`` where nothing is committed (the "-" of ``kafka-consumer-groups``).
    ``group_id`` defaults to the course group (``settings.group_id``).
    """
    settings = settings or load()
    group_id = group_id or settings.group_id
    found = ask_group_coordinator(settings, group_id, timeout_s, "read the offsets of",
                                  lambda admin: admin.list_group_offsets({group_id: None}).get(group_id, {}))
    committed = {tp: (om.offset if om.offset is not None and om.offset >= 0 else None)
                 for tp, om in found.items()}
    if topics is None:
        return dict(sorted(committed.items()))
    names = _names(topics)
    wanted = partitions_of(settings, names, timeout_s)
    return {tp: committed.get(tp) for tp in wanted}
