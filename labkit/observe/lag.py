"""Consumer-group views: group state and members, the ``kafka-consumer-groups --describe`` lag table,
and a lag-over-time sampler. Re-exported by :mod:`labkit.observe.monitor`.

Log-end offsets come from :func:`labkit.kafka.offsets.log_end_offsets` (Fetch high watermark), never from
ListOffsets(LATEST), which the embedded broker gets wrong after batched produces.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable

import pandas as pd
from kafka import TopicPartition

from labkit.kafka.offsets import ask_group_coordinator, committed_offsets, log_end_offsets
from labkit.settings import Settings, load

__all__ = ["LAG_COLUMNS", "LagSampler", "format_lag_table", "group_state", "lag_table"]

LAG_COLUMNS = ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
               "CONSUMER-ID", "HOST", "CLIENT-ID"]
Owner = tuple[str, str, str]  # (consumer_id, host, client_id)


def _assigned(member: dict) -> list[TopicPartition] | None:
    """The member's partitions from its decoded assignment, None when the broker sent none."""
    assignment = member.get("member_assignment")
    if not isinstance(assignment, dict):
        return None
    return [TopicPartition(t["topic"], p) for t in assignment.get("assigned_partitions") or []
            for p in t["partitions"]]


def group_state(settings: Settings | None = None, group_id: str | None = None,
                timeout_s: float = 10.0) -> dict:
    """The group as ``describe_groups`` sees it: state, assignor and members.

    Returns ``{"group", "state", "protocol_type", "assignor", "members": [{"member_id",
    "client_id", "host", "group_instance_id", "partitions"}], "assignments_known", "error"}``.
    ``partitions`` is a sorted list of TopicPartition, or None when the broker does not say.

    Engine limits (measured, see ``docs/tansu-compat.md``): on the embedded broker the state
    (Stable, Empty, PreparingRebalance...) and member ids are right, but ``client_id``, ``host``,
    the assignor and the assignments come back empty (here: None, ``assignments_known=False``);
    an unknown group reads "Empty" there and "Dead" with an error on Apache Kafka. ``list_groups``
    is not used: its state is always "Unknown" on the embedded broker.
    """
    settings = settings or load()
    group_id = group_id or settings.group_id
    raw = ask_group_coordinator(settings, group_id, timeout_s, "describe",
                                lambda admin: admin.describe_groups([group_id]).get(group_id, {}))
    members = []
    for m in raw.get("members") or []:
        parts = _assigned(m)
        members.append({
            "member_id": m.get("member_id"),
            "client_id": m.get("client_id") or None,
            "host": m.get("client_host") or None,
            "group_instance_id": m.get("group_instance_id"),
            "partitions": sorted(parts) if parts is not None else None,
        })
    return {
        "group": group_id,
        "state": raw.get("group_state") or "Unknown",
        "protocol_type": raw.get("protocol_type") or None,
        "assignor": raw.get("protocol_data") or None,
        "members": members,
        "assignments_known": bool(members) and all(m["partitions"] is not None for m in members),
        "error": raw.get("error"),
    }


def _owners(state: dict) -> dict[TopicPartition, Owner]:
    return {tp: (m["member_id"], m["host"] or "-", m["client_id"] or "-")
            for m in state["members"] for tp in (m["partitions"] or [])}


def lag_table(settings: Settings | None = None, group_id: str | None = None,
              topics: Iterable[str] | None = None,
              assignments: dict[TopicPartition, Owner] | None = None,
              timeout_s: float = 10.0) -> pd.DataFrame:
    """The group's lag as ``kafka-consumer-groups --describe --group G`` prints it, as a DataFrame.

    Columns: ``LAG_COLUMNS``. CURRENT-OFFSET is the committed offset and LAG = LOG-END-OFFSET -
    CURRENT-OFFSET; both are ``pd.NA`` (the tool's "-") where the group has committed nothing.
    CONSUMER-ID / HOST / CLIENT-ID come from the broker's member assignments (Apache Kafka), else
    from ``assignments`` (``{tp: (consumer_id, host, client_id)}``, e.g. what the course's
    consumers report in their events; it wins over the broker), else "-" (embedded broker).

    Differences from the tool, on purpose: every partition of the listed topics appears, not only
    the committed or assigned ones (default topics: those the group committed or is assigned,
    else ``settings.orders_topic``); rows are sorted by topic and partition. ``df.attrs`` holds
    ``group``, ``state`` and ``notes`` (what the tool would print above the table).
    """
    settings = settings or load()
    group_id = group_id or settings.group_id
    state = group_state(settings, group_id, timeout_s)
    committed = committed_offsets(settings, group_id, timeout_s=timeout_s)
    owners = _owners(state) | dict(assignments or {})
    if topics is None:
        names = sorted({tp.topic for tp in committed} | {tp.topic for tp in owners})
        names = names or [settings.orders_topic]
    else:
        names = [topics] if isinstance(topics, str) else list(topics)
    ends = log_end_offsets(settings, names, timeout_s)
    rows = []
    for tp in sorted(ends):
        current = committed.get(tp)
        consumer_id, host, client = owners.get(tp, ("-", "-", "-"))
        rows.append([group_id, tp.topic, tp.partition, current, ends[tp],
                     None if current is None else ends[tp] - current, consumer_id, host, client])
    df = pd.DataFrame(rows, columns=LAG_COLUMNS)
    for col in ("PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"):
        df[col] = df[col].astype("Int64")
    notes = []
    if not state["members"]:
        notes.append(f"Consumer group '{group_id}' has no active members.")
    elif not owners:
        notes.append("The broker does not report member assignments (embedded broker): "
                     "CONSUMER-ID, HOST and CLIENT-ID show '-'.")
    df.attrs.update(group=group_id, state=state["state"], notes=notes)
    return df


def format_lag_table(df: pd.DataFrame) -> str:
    """The table laid out like ``kafka-consumer-groups --describe`` ("-" for missing values)."""
    def cell(value) -> str:
        return "-" if value is None or value is pd.NA or (isinstance(value, float) and value != value) \
            else str(value)

    cells = [[cell(v) for v in row] for row in df[LAG_COLUMNS].itertuples(index=False)]
    widths = []
    for i, name in enumerate(LAG_COLUMNS):
        fixed = {"PARTITION": 10, "CURRENT-OFFSET": 15, "LOG-END-OFFSET": 15, "LAG": 15}.get(name)
        widths.append(fixed or max([len(name)] + [len(r[i]) for r in cells]))
    lines = [" ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in [LAG_COLUMNS] + cells]
    return "\n".join(list(df.attrs.get("notes", [])) + ([""] if df.attrs.get("notes") else []) + lines)


class LagSampler:
    """Samples a group's per-partition lag every ``interval_s`` on a daemon thread.

With a broker (so not a doctest)::

    with LagSampler(settings, group_id, [settings.orders_topic]) as sampler:
        run_the_demo()
    sampler.frame()        # ts, topic, partition, lag (all of a partition's records if nothing is committed)

    Bounded: at most ``max_samples`` samples are kept (oldest dropped), each sample is bounded by
    ``timeout_s``, and ``stop()`` waits at most ``timeout_s`` for the thread. A failed sample
    (broker gone...) is counted in ``errors`` with ``last_error`` and sampling goes on.
    """

    COLUMNS = ["ts", "topic", "partition", "lag"]

    def __init__(self, settings: Settings | None = None, group_id: str | None = None,
                 topics: Iterable[str] | None = None, interval_s: float = 1.0,
                 max_samples: int = 10_000, timeout_s: float = 5.0):
        self.settings = settings or load()
        self.group_id = group_id or self.settings.group_id
        self.topics = [topics] if isinstance(topics, str) else list(topics or [self.settings.orders_topic])
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.errors = 0
        self.last_error: str | None = None
        self._samples: deque[list[tuple]] = deque(maxlen=max_samples)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> pd.DataFrame:
        """Take one sample now (synchronously), keep it and return its rows."""
        ends = log_end_offsets(self.settings, self.topics, self.timeout_s)
        committed = committed_offsets(self.settings, self.group_id, timeout_s=self.timeout_s)
        ts = pd.Timestamp.now(tz="UTC")
        # a partition the group never committed counts all its records: its consumers start at the
        # earliest offset (0 for the course's topics), so every record there is still to be read
        rows = [(ts, tp.topic, tp.partition, end - (committed.get(tp) or 0)) for tp, end in sorted(ends.items())]
        with self._lock:
            self._samples.append(rows)
        return self._frame([rows])

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.sample()
            except Exception as exc:  # keep sampling through a broker hiccup; counted, not hidden
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def start(self) -> LagSampler:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="labkit-lag-sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout_s + self.interval_s + 1)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> LagSampler:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _frame(self, samples) -> pd.DataFrame:
        df = pd.DataFrame([row for rows in samples for row in rows], columns=self.COLUMNS)
        df["partition"] = df["partition"].astype("Int64")
        df["lag"] = df["lag"].astype("Int64")
        return df

    def frame(self) -> pd.DataFrame:
        """Every kept sample: one row per (ts, topic, partition)."""
        with self._lock:
            samples = list(self._samples)
        return self._frame(samples)

    def totals(self) -> pd.DataFrame:
        """Total lag per sample (``ts``, ``lag``)."""
        df = self.frame()
        if not len(df):
            return pd.DataFrame(columns=["ts", "lag"])
        return df.groupby("ts", as_index=False)["lag"].sum()
