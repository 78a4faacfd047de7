"""Reading a Dead Letter Topic back: every record, parsed, filtered; or the one of a given order."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from labkit.dlt.envelope import DltEntry, parse_dlt_record
from labkit.kafka.records import coordinates, topic_records
from labkit.settings import Settings, load

__all__ = ["read_dlt", "dlt_entry_of"]

log = logging.getLogger("labkit.dlt")


def read_dlt(
    settings: Any,
    *,
    topic: str | None = None,
    error_type: str | Iterable[str] | None = None,
    since: datetime | float | None = None,
    until: datetime | float | None = None,
    key: str | bytes | Iterable[str] | None = None,
    timeout_s: float = 15.0,
) -> list[DltEntry]:
    """Every record of the DLT (default ``settings.dlt_topic``) up to its high watermark, parsed
    and filtered (``error_type``, error time range ``since``/``until``, ``key``), in
    partition/offset order. Records that are not envelopes are skipped with a warning.

    Read by :func:`labkit.kafka.records.topic_records`: up to the high watermark seen at the start, right
    on every engine.
    """
    raw = topic_records(settings, topic or settings.dlt_topic, timeout_s=timeout_s)
    entries = []
    for record in raw:
        try:
            entry = parse_dlt_record(record)
        except ValueError as exc:
            log.warning("%s", exc)
            continue
        if entry.matches(error_type, since, until, key):
            entries.append(entry)
    return entries


def dlt_entry_of(settings: Settings | None, source: Any, timeout_s: float = 15.0) -> Any | None:
    """The DLT record (a :class:`~labkit.dlt.envelope.DltEntry` of ``settings.dlt_topic``) whose
    envelope points at ``source``: one record given as in :func:`labkit.kafka.records.coordinates`
    (a ``Produced`` event, a row of :func:`labkit.kafka.producer.send`, ``(partition, offset)`` of
    ``orders``…). The latest if it failed more than once (replayed, then failed again); None if
    the DLT holds none."""
    settings = settings or load()
    [wanted] = coordinates([source], settings.orders_topic)
    found = [e for e in read_dlt(settings, timeout_s=timeout_s)
             if (e.envelope.original_topic, e.envelope.original_partition,
                 e.envelope.original_offset) == wanted]
    return found[-1] if found else None
