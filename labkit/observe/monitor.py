"""Lab 5, monitoring: lag table, group state, lag over time, DLT counts, health.

The module's endpoints and Kafka commands, and their labkit twins::

    kafka-consumer-groups --describe --group orders-consumer-group   ->  monitor.lag_table(settings)
    curl :18082/api/v1/dlt/count                                     ->  monitor.dlt_count(settings)
    curl :18082/health                                               ->  monitor.health(settings)

Every figure is right on both engines: log-end offsets come from the Fetch high watermark
(:mod:`labkit.kafka.offsets`), and the DLT is counted and read up to that high watermark, never up to
ListOffsets(LATEST), which the embedded broker gets wrong after batched produces.
"""

from __future__ import annotations

import json

import pandas as pd

from labkit import errors as course_errors
from labkit.errors import no_broker
from labkit.kafka import topics
from labkit.kafka.offsets import count_records
from labkit.kafka.probe import probe
from labkit.kafka.records import topic_records
from labkit.lang import LABELLED
from labkit.observe.lag import LAG_COLUMNS, LagSampler, format_lag_table, group_state, lag_table
from labkit.settings import Settings, load

__all__ = [
    "LAG_COLUMNS", "LagSampler", "dlt_by_reason", "dlt_count", "dlt_frame",
    "format_lag_table", "group_state", "health", "lag_table",
]

FQCN_HEADER = "kafka_dlt-exception-fqcn"
DLT_COLUMNS = ["partition", "offset", "timestamp", "reason"]


def dlt_count(settings: Settings | None = None, timeout_s: float = 10.0) -> int:
    """How many records the DLT holds (sum of high watermark - beginning over its partitions)."""
    settings = settings or load()
    return count_records(settings, settings.dlt_topic, timeout_s)


def _reason(value: bytes | None, headers) -> str:
    """``errorType`` of the JSON envelope, else the exception class named by the Spring header."""
    try:
        envelope = json.loads(value) if value else None
    except (ValueError, UnicodeDecodeError):
        envelope = None
    if isinstance(envelope, dict) and isinstance(envelope.get("errorType"), str) and envelope["errorType"]:
        return envelope["errorType"]
    for key, raw in headers or []:
        if key == FQCN_HEADER and raw:
            name = raw.decode("utf-8", "replace").rsplit(".", 1)[-1]
            cls = getattr(course_errors, name, None)  # labkit's own: its Java-style label, as errorType
            if isinstance(cls, type) and issubclass(cls, BaseException):
                return course_errors.error_label(cls)
            return name
    return "unknown"


def dlt_frame(settings: Settings | None = None, timeout_s: float = 10.0) -> pd.DataFrame:
    """Every record in the DLT now: ``partition, offset, timestamp`` (UTC) and ``reason``.

    Reads each partition from its beginning up to the high watermark seen at the start
    (:func:`labkit.kafka.records.topic_records`), so records written meanwhile are left for the next
    call and the read always ends.
    """
    settings = settings or load()
    rows = [(r.partition, r.offset, r.timestamp, _reason(r.value, r.headers))
            for r in topic_records(settings, settings.dlt_topic, timeout_s=timeout_s)]
    df = pd.DataFrame(rows, columns=DLT_COLUMNS).sort_values(["partition", "offset"], ignore_index=True)
    df["timestamp"] = pd.to_datetime(df["timestamp"], unit="ms", utc=True)
    df.attrs[LABELLED] = True  # French column labels when shown; code indexes the English names
    return df


def dlt_by_reason(settings: Settings | None = None, timeout_s: float = 10.0) -> pd.Series:
    """DLT records per reason (``errorType``, else ``kafka_dlt-exception-fqcn``, else "unknown"),
    most frequent first; a Series named ``count`` indexed by ``reason``."""
    frame = dlt_frame(settings, timeout_s)
    return frame["reason"].value_counts().rename("count").rename_axis("reason")


def health(settings: Settings | None = None, group_id: str | None = None,
           require_consumers: bool = False, timeout_s: float = 5.0) -> dict:
    """Is the course's Kafka side healthy? Never raises; bounded by about ``timeout_s``.

    Checks, in order: the broker answers a Metadata request (raw probe, no client retries); the
    course topics exist; the group (default ``settings.group_id``): state, members and - where the
    broker reports assignments (Apache Kafka) - which partitions of ``orders`` have an owner.
    ``ok`` is False with a one-line ``reason`` when the broker or a topic is missing, or, with
    ``require_consumers=True``, when the group has no member or a known unassigned orders partition.
    """
    settings = settings or load()
    group_id = group_id or settings.group_id
    host, port = settings.host_port
    result: dict = {"ok": False, "reason": "", "broker": settings.bootstrap_servers,
                    "broker_state": None, "topics": {}, "group": group_id, "group_state": None,
                    "members": None, "partitions_assigned": None, "partitions_unassigned": None}
    found = probe(host, port, timeout_s=min(2.0, timeout_s))
    result["broker_state"] = found.state
    if not found.ok:
        result["reason"] = no_broker(settings.bootstrap_servers, f"{found.state}: {found.detail}")
        return result
    try:
        existing = set(topics.list_topics(settings))
        counts = {name: 0 for name in settings.topics}
        counts |= topics.partition_counts(settings, [name for name in settings.topics if name in existing])
        result["topics"] = counts
        missing = [n for n, c in counts.items() if c == 0]
        if missing:
            result["reason"] = (f"topic(s) missing: {', '.join(missing)}; "
                                "create them with: labkit topics create")
            return result
        state = group_state(settings, group_id, timeout_s)
    except Exception as exc:  # the broker went away mid-check, or answered garbage
        result["reason"] = f"{type(exc).__name__}: {exc}"
        return result
    result["group_state"] = state["state"]
    result["members"] = len(state["members"])
    if state["assignments_known"]:
        owned = {tp for m in state["members"] for tp in m["partitions"] if tp.topic == settings.orders_topic}
        result["partitions_assigned"] = sorted(tp.partition for tp in owned)
        result["partitions_unassigned"] = sorted(set(range(counts[settings.orders_topic]))
                                                 - set(result["partitions_assigned"]))
    if require_consumers and not state["members"]:
        result["reason"] = f"group {group_id!r} has no active consumer (state {state['state']})"
    elif require_consumers and result["partitions_unassigned"]:
        result["reason"] = f"orders partitions without a consumer: {result['partitions_unassigned']}"
    else:
        result["ok"] = True
    return result

