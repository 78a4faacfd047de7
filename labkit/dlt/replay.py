"""Replaying the Dead Letter Topic: read DLT records, optionally fix them, republish them to their
original topic (the module's "DLT reprocessor").

Filtered (error type, time range, key), rate limited, with a dry run; truncated DLT copies get their
full value back from the source topic. Safe twice: processing is idempotent by ``orderId``, so a
second replay only adds duplicates, which the consumer counts and does not apply again.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from labkit.dlt.envelope import DltEntry, as_bytes
from labkit.dlt.read import read_dlt
from labkit.kafka import clients

__all__ = ["ReplayReport", "DltReprocessor", "replay"]

log = logging.getLogger("labkit.dlt.replay")


@dataclass
class ReplayReport:
    """What a replay did (or, with ``dry_run``, would do)."""

    read: int = 0
    matched: int = 0
    fixed: int = 0
    skipped: int = 0  # the fix returned None, the order was already processed, or a truncated copy's source is gone
    already_processed: int = 0
    restored_from_source: int = 0  # truncated DLT copies whose full value was read back from the source topic
    truncated_unavailable: int = 0  # truncated DLT copies whose source record no longer exists
    republished: int = 0
    failed: int = 0
    dry_run: bool = False
    items: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "items"}


FixResult = bytes | str | Mapping[str, Any] | Any | None


def _fixed_value(result: Any) -> bytes:
    to_json = getattr(result, "to_json", None)
    if callable(to_json):  # an Order
        return to_json()
    value = as_bytes(result)
    assert value is not None
    return value


class DltReprocessor:
    """Replays DLT records to their original topic.

    * filters: ``error_type``, ``since``/``until`` (error time), ``key``;
    * ``fix(entry) -> new value`` (bytes, str, a dict, an ``Order``) or ``None`` to skip the record;
    * the target topic comes from the ``kafka_dlt-original-topic`` header, else the envelope;
      the key is the original key; headers ``labkit-replay-of`` say which DLT record it was;
    * ``dry_run``: report what would be sent, send nothing;
    * ``rate_per_s``: at most that many records per second (the ``sleep`` is injectable);
    * ``store``: anything with ``__contains__`` (an ``OrderStore``): orders already processed are
      skipped and counted. Without it the consumer's idempotence absorbs the duplicates.

    Replaying is safe twice: processing is idempotent by ``orderId``, so a second replay only adds
    duplicates, which the consumer counts and does not re-apply.
    """

    def __init__(
        self,
        settings: Any,
        *,
        producer: Any = None,
        events: Any = None,
        store: Any = None,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self._producer = clients.ProducerSlot(settings, producer)
        self.events = events
        self.store = store
        self.sleep = sleep
        self.clock = clock
        self.timeout_s = timeout_s

    @property
    def producer(self) -> Any:
        return self._producer.get()

    def close(self) -> None:
        self._producer.close()

    def __enter__(self) -> DltReprocessor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def replay(
        self,
        *,
        error_type: str | Iterable[str] | None = None,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        key: str | bytes | Iterable[str] | None = None,
        fix: Callable[[DltEntry], FixResult] | None = None,
        dry_run: bool = False,
        rate_per_s: float | None = None,
        entries: Iterable[DltEntry] | None = None,
    ) -> ReplayReport:
        report = ReplayReport(dry_run=dry_run)
        if entries is None:
            all_entries = read_dlt(self.settings)
        else:
            all_entries = list(entries)
        report.read = len(all_entries)
        selected = [e for e in all_entries if e.matches(error_type, since, until, key)]
        report.matched = len(selected)
        interval = 1.0 / rate_per_s if rate_per_s else 0.0
        next_at = self.clock()
        for entry in selected:
            item: dict[str, Any] = {"dlt_partition": entry.partition, "dlt_offset": entry.offset,
                                    "key": entry.key_text, "error_type": entry.error_type}
            report.items.append(item)
            if self.store is not None and entry.key_text is not None and entry.key_text in self.store:
                report.already_processed += 1
                report.skipped += 1
                item["action"] = "already processed"
                continue
            if entry.envelope.original_value_truncated:
                whole = self._restore(entry)
                if whole is None:
                    env = entry.envelope
                    report.truncated_unavailable += 1
                    report.skipped += 1
                    item["action"] = (f"skipped: the DLT holds only the first bytes of this value and "
                                      f"{env.original_topic}-{env.original_partition}@{env.original_offset} "
                                      f"no longer has the original")
                    log.warning("replay of DLT %s-%d@%d %s", entry.topic, entry.partition, entry.offset, item["action"])
                    continue
                entry = whole
                report.restored_from_source += 1
                item["value_from"] = "source topic"
            value = entry.envelope.raw_value
            if fix is not None:
                result = fix(entry)
                if result is None:
                    report.skipped += 1
                    item["action"] = "skipped by fix"
                    continue
                value = _fixed_value(result)
                report.fixed += 1
                item["fixed"] = True
            target = entry.original_topic
            item["target"] = target
            if dry_run:
                item["action"] = "would republish"
                self._emit(entry, target, None, fix is not None, True)
                continue
            if interval:
                wait = next_at - self.clock()
                if wait > 0:
                    self.sleep(wait)
                next_at = max(next_at, self.clock()) + interval
            headers = [
                ("labkit-replay-of", f"{entry.topic}-{entry.partition}@{entry.offset}".encode()),
                ("labkit-replay-error-type", entry.error_type.encode("utf-8")),
            ]
            try:
                md = self.producer.send(target, value=value, key=entry.key, headers=headers).get(
                    timeout=self.timeout_s
                )
            except Exception as exc:
                report.failed += 1
                item["action"] = f"failed: {exc!r}"
                log.error("replay of DLT %s-%d@%d failed: %s", entry.topic, entry.partition, entry.offset, exc)
                continue
            report.republished += 1
            item["action"] = "republished"
            item["target_partition"], item["target_offset"] = md.partition, md.offset
            self._emit(entry, target, md, fix is not None, False)
        log.info("DLT replay%s: %s", " (dry run)" if dry_run else "", report.as_dict())
        return report

    def _restore(self, entry: DltEntry) -> DltEntry | None:
        """A truncated DLT copy with its full original value, read back from the source topic at the
        envelope's coordinates; None if that record is gone (retention) or is not the same size."""
        from labkit.kafka.records import record_at

        env = entry.envelope
        try:
            record = record_at(self.settings, env.original_topic, env.original_partition, env.original_offset,
                               timeout_s=self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - unreadable is "unavailable", said in the report
            log.warning("could not read %s-%d@%d back: %r", env.original_topic, env.original_partition,
                        env.original_offset, exc)
            return None
        value = None if record is None else as_bytes(record.value)
        if value is None or (env.original_value_bytes is not None and len(value) != env.original_value_bytes):
            return None
        return dataclasses.replace(entry, envelope=env.with_original_value(value))

    def _emit(self, entry: DltEntry, target: str, md: Any, fixed: bool, dry_run: bool) -> None:
        if self.events is None:
            return
        from labkit.events import Replayed

        self.events.append(
            Replayed(
                consumer="dlt-reprocessor",
                topic=entry.topic,
                partition=entry.partition,
                offset=entry.offset,
                key=entry.key_text,
                fixed=fixed,
                dry_run=dry_run,
                target_topic=target,
                target_partition=None if md is None else md.partition,
                target_offset=None if md is None else md.offset,
            )
        )


def replay(settings: Any, **kwargs: Any) -> ReplayReport:
    """One-shot :meth:`DltReprocessor.replay` (own producer, closed afterwards). Constructor
    keywords (``producer``, ``events``, ``store``, ``sleep``) and replay keywords both accepted."""
    ctor = {k: kwargs.pop(k) for k in ("producer", "events", "store", "sleep", "clock", "timeout_s") if k in kwargs}
    with DltReprocessor(settings, **ctor) as reprocessor:
        return reprocessor.replay(**kwargs)
