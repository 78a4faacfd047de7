"""What happened, step by step: the frozen event records every layer emits.

Every step of the engine (a record received, processed, scheduled for a retry, retried, sent to the
DLT, an offset committed, partitions assigned / revoked / lost, the breaker changing state) emits one
frozen event. Events are plain data: :meth:`Event.to_dict` gives a JSON-serialisable dict with a
``kind`` key and :func:`event_from_dict` rebuilds the event, so other processes can ship them
through a Kafka topic or a pipe.

:class:`~labkit.events.log.EventLog` collects them.

The *record id* of an event is its ``order_id`` when known, else its record ``key``: the course
produces orders keyed by ``orderId``, so both name the same order (and a poison record, which has
no parsable order id, is still followed by its key).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = [
    "Event", "RecordEvent",
    "ConsumerStarted", "ConsumerStopped", "PartitionsAssigned", "PartitionsRevoked", "PartitionsLost",
    "Received", "Processed", "RetryScheduled", "Retried", "SentToDLT", "SentToRetryTopic",
    "Committed", "CommitFailed", "BreakerStateChanged", "ConsumptionPaused", "ConsumptionResumed",
    "Produced", "Replayed", "Acknowledged",
    "EVENT_TYPES", "event_from_dict", "partition_tuples", "ProcessedRow", "Partitions", "Offsets",
]  # fmt: skip

Partitions = tuple[tuple[str, int], ...]
Offsets = tuple[tuple[str, int, int], ...]
# A record processed at its first attempt (EventLog.record_processed): consumer, topic, partition,
# offset, key, order id, duplicate, when it was received and when processed (epoch seconds).
ProcessedRow = tuple[str, str, int, int, str | None, str | None, bool, float, float]


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all events: when (``ts``, epoch seconds) and who (``consumer``, a client id)."""

    ts: float = field(default_factory=time.time)
    consumer: str = ""

    @property
    def kind(self) -> str:
        """The event's type name (``"SentToDLT"``), also the ``kind`` key of :meth:`to_dict`."""
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict: the fields plus ``kind`` (tuples stay tuples; JSON makes them lists)."""
        return {"kind": self.kind, **asdict(self)}

    @property
    def record_id(self) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class RecordEvent(Event):
    """An event about one record: its coordinates, key (decoded text) and order id when known."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    order_id: str | None = None

    @property
    def record_id(self) -> str | None:
        return self.order_id if self.order_id is not None else self.key


# --- consumer lifecycle and rebalances ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsumerStarted(Event):
    group_id: str | None = None
    topics: tuple[str, ...] = ()
    mode: str | None = None


@dataclass(frozen=True, slots=True)
class ConsumerStopped(Event):
    reason: str = "stopped"


@dataclass(frozen=True, slots=True)
class PartitionsAssigned(Event):
    partitions: Partitions = ()


@dataclass(frozen=True, slots=True)
class PartitionsRevoked(Event):
    partitions: Partitions = ()


@dataclass(frozen=True, slots=True)
class PartitionsLost(Event):
    partitions: Partitions = ()


# --- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received(RecordEvent):
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class Processed(RecordEvent):
    attempt: int = 0
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class RetryScheduled(RecordEvent):
    attempt: int = 0  # the retry number being scheduled (1-based)
    max_attempts: int | None = None
    planned_delay_s: float = 0.0
    mode: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class Retried(RecordEvent):
    attempt: int = 0
    planned_delay_s: float = 0.0
    actual_delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SentToDLT(RecordEvent):
    reason: str = ""  # the error label (``ValidationException``)
    error_message: str = ""
    retry_count: int = 0
    dlt_topic: str | None = None
    dlt_partition: int | None = None
    dlt_offset: int | None = None


@dataclass(frozen=True, slots=True)
class SentToRetryTopic(RecordEvent):
    attempt: int = 0
    due_ms: int = 0
    retry_topic: str | None = None
    retry_partition: int | None = None
    retry_offset: int | None = None


@dataclass(frozen=True, slots=True)
class Committed(Event):
    offsets: Offsets = ()  # (topic, partition, next offset to read)
    during_rebalance: bool = False


@dataclass(frozen=True, slots=True)
class CommitFailed(Event):
    error: str = ""
    offsets: Offsets = ()
    during_rebalance: bool = False


@dataclass(frozen=True, slots=True)
class BreakerStateChanged(Event):
    old: str = ""
    new: str = ""


@dataclass(frozen=True, slots=True)
class ConsumptionPaused(Event):
    partitions: Partitions = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ConsumptionResumed(Event):
    partitions: Partitions = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Produced(RecordEvent):
    pass


@dataclass(frozen=True, slots=True)
class Replayed(RecordEvent):
    """A DLT record republished to its original topic (``topic``/``partition``/``offset``: the DLT
    record; ``target_*``: where the replayed copy landed)."""

    fixed: bool = False
    dry_run: bool = False
    target_topic: str | None = None
    target_partition: int | None = None
    target_offset: int | None = None


@dataclass(frozen=True, slots=True)
class Acknowledged(RecordEvent):
    """A share consumer's answer to the broker for one delivery (KIP-932): ``ACCEPT`` (done),
    ``RELEASE`` (give it back: a retry, counted by the broker) or ``REJECT`` (unprocessable). At
    ``delivery_count == delivery_limit`` a RELEASE makes the broker dead-letter the record."""

    ack: str = ""
    delivery_count: int = 0
    delivery_limit: int = 0
    reason: str = ""  # the error label (``ValidationException``), empty on ACCEPT
    error_message: str = ""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        ConsumerStarted, ConsumerStopped, PartitionsAssigned, PartitionsRevoked, PartitionsLost,
        Received, Processed, RetryScheduled, Retried, SentToDLT, SentToRetryTopic, Committed,
        CommitFailed, BreakerStateChanged, ConsumptionPaused, ConsumptionResumed, Produced, Replayed,
        Acknowledged,
    )
}  # fmt: skip


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value


def event_from_dict(data: dict[str, Any]) -> Event:
    """The inverse of :meth:`Event.to_dict` (JSON lists become tuples again; unknown keys ignored)."""
    try:
        cls = EVENT_TYPES[data["kind"]]
    except KeyError as exc:
        raise ValueError(f"unknown event kind {data.get('kind')!r}") from exc
    names = {f.name for f in fields(cls)}
    return cls(**{k: _tuplify(v) for k, v in data.items() if k in names})


def partition_tuples(tps: Iterable[Any]) -> Partitions:
    """``TopicPartition``s (or pairs) -> a sorted tuple of ``(topic, partition)``."""
    return tuple(sorted((tp[0], int(tp[1])) for tp in tps))
