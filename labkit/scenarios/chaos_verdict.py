"""The verdict of a chaos run (:mod:`labkit.scenarios.chaos`): the :class:`ChaosReport`, filled from the
broker (the DLT topic, the committed offsets) and the events (``Processed``), never from the events alone;
the reports as a Markdown table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labkit.events import EventLog
from labkit.settings import Settings

if TYPE_CHECKING:
    from labkit.scenarios.chaos import Feeder

__all__ = ["ChaosReport", "markdown_table", "uncommitted", "fill_verdict"]


@dataclass
class ChaosReport:
    """The outcome of one run; :attr:`ok` is the promise (nothing lost, every DLT record explained)."""

    engine: str
    mode: str
    orders: int
    poison: int
    kills: int = 0
    adds: int = 0
    removes: int = 0
    processed: int = 0  # distinct order ids with a Processed event
    dlt: int = 0  # distinct keys in the DLT topic
    dlt_records: int = 0  # records in the DLT topic (a crash between DLT write and commit repeats one)
    duplicates: int = 0  # Processed events beyond the first per order id
    retries: int = 0  # retries scheduled (transient failures), all consumers
    lost: list[str] = field(default_factory=list)
    poison_not_in_dlt: list[str] = field(default_factory=list)
    without_reason: list[str] = field(default_factory=list)
    dlt_reasons: dict[str, int] = field(default_factory=dict)
    uncommitted: dict[str, int] = field(default_factory=dict)  # "topic-partition" -> records not committed
    settled: bool = False
    seconds: float = 0.0
    actions: list[tuple[float, str, str]] = field(default_factory=list)
    error: str | None = None
    traces: dict[str, list[str]] = field(default_factory=dict)  # lost id -> what the events say about it
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.settled and not self.lost and not self.poison_not_in_dlt and not self.without_reason
                and not self.uncommitted and self.error is None)

    def row(self) -> dict[str, Any]:
        return {"engine": self.engine, "mode": self.mode, "orders": self.orders, "poison": self.poison,
                "kills": self.kills, "adds/removes": f"{self.adds}/{self.removes}", "retries": self.retries,
                "lost": len(self.lost),
                "duplicates": self.duplicates, "DLT": self.dlt, "DLT records": self.dlt_records,
                "DLT without reason": len(self.without_reason), "time": f"{self.seconds:.1f} s"}

    def summary(self) -> str:
        """One paragraph for an assertion message."""
        return (f"{self.row()} settled={self.settled} lost={self.lost[:10]} poison_not_in_dlt="
                f"{self.poison_not_in_dlt[:10]} without_reason={self.without_reason[:5]} "
                f"uncommitted={self.uncommitted} error={self.error} actions={self.actions} traces={self.traces} "
                f"notes={self.notes}")


def markdown_table(reports: list[ChaosReport]) -> str:
    """The reports as one Markdown table (the benchmark's output)."""
    if not reports:
        return ""
    rows = [r.row() for r in reports]
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(row[c]) for c in cols) + " |" for row in rows]
    return "\n".join(lines)


def uncommitted(settings: Settings, topics: list[str]) -> dict[str, int]:
    """Per ``topic-partition`` of ``topics``, the records the group has not committed yet (their
    consumers' group for the retry topic)."""
    from labkit.broker.stuck_group import retry_group_id
    from labkit.kafka.offsets import committed_offsets, log_end_offsets

    ends = log_end_offsets(settings, topics)
    committed = committed_offsets(settings, topics=[t for t in topics if t != settings.retry_topic])
    if settings.retry_topic in topics:  # its consumers' group: the main one, except on the embedded broker
        committed |= committed_offsets(settings, retry_group_id(settings, settings.group_id),
                                       topics=[settings.retry_topic])
    gaps = {}
    for tp, end in ends.items():
        done = committed.get(tp) or 0
        if done < end:
            gaps[f"{tp.topic}-{tp.partition}"] = end - done
    return gaps


def fill_verdict(report: ChaosReport, settings: Settings, events: EventLog, feeder: Feeder, read_dlt: Any,
                 duplicates: Any) -> None:
    """Fill the verdict from the broker (DLT topic) and the events (Processed)."""
    try:
        entries = read_dlt(settings, timeout_s=30)
    except Exception as exc:  # noqa: BLE001 - reported, and the run is not ok
        report.error = (report.error or "") + f" reading the DLT failed: {exc!r}"
        entries = []
    dlt_keys = Counter(e.key_text for e in entries)
    processed = {e.record_id for e in events.of("Processed") if e.record_id}
    report.processed = len(processed & set(feeder.ids))
    report.dlt = len(dlt_keys)
    report.dlt_records = len(entries)
    report.duplicates = duplicates(events)
    report.retries = len(events.of("RetryScheduled"))
    report.lost = [i for i in feeder.ids if i not in processed and i not in dlt_keys]
    report.poison_not_in_dlt = sorted(k for k in feeder.poison if k not in dlt_keys)
    report.without_reason = [f"{e.partition}@{e.offset}" for e in entries
                             if not (e.envelope.error_message or "").strip() or not e.envelope.error_type]
    report.dlt_reasons = dict(Counter(e.envelope.error_type for e in entries))
    report.traces = {i: _trace(events, i) for i in report.lost[:5]}


def _trace(events: EventLog, record_id: str) -> list[str]:
    """Where a lost record was produced, every event about it, and the commits that passed it."""
    lines, at = [], None
    for e in events.events:
        if e.record_id == record_id:
            lines.append(f"{e.kind} by {e.consumer} {e.topic}-{e.partition}@{e.offset}")
            if e.kind == "Produced":
                at = (e.topic, e.partition, e.offset)
    if at is not None:
        for e in events.of("Committed"):
            for topic, partition, offset in e.offsets:
                if (topic, partition) == at[:2] and offset > at[2]:
                    lines.append(f"first commit past it: {offset} by {e.consumer} at {e.ts:.3f}")
                    break
            else:
                continue
            break
        stops = [f"{e.consumer} {e.reason} at {e.ts:.3f}" for e in events.of("ConsumerStopped")]
        lines.append(f"stops: {stops}")
    return lines
