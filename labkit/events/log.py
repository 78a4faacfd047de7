"""The event log: collects the engine's events (thread-safe), notifies subscribers, and derives what
the notebooks plot: :meth:`EventLog.frame` (a pandas DataFrame, one row per event), :meth:`EventLog.stats`
and the no-loss :meth:`EventLog.ledger` (produced = processed + DLT + in flight). The consumer's hot
path records the Received and Processed events of a whole batch in one step
(:meth:`EventLog.record_processed`): kept compact, built into frozen events when first read, so
reading is unchanged.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any

from labkit.events.kinds import (
    Acknowledged,
    Event,
    Processed,
    ProcessedRow,
    Produced,
    Received,
    Retried,
    RetryScheduled,
    SentToDLT,
    SentToRetryTopic,
)
from labkit.lang import LABELLED

__all__ = ["EventLog", "SERVICE_MAX_EVENTS", "BLANK_MISSING"]

# Set in the ``attrs`` of the frames :meth:`EventLog.frame` builds (pandas keeps it through filters,
# ``assign``, column selections, ``round``): a notebook shows their missing values as empty cells
# (:func:`labkit.notebook.display.enable_tables`). A missing value there means "not a field of this
# kind of event" (a Received has no planned delay): NaN in every such cell is noise, not information.
BLANK_MISSING = "labkit.blank_missing"

# What a long-running service (``labkit api``, ``labkit consumer``) keeps for its views; its
# figures (stats, ledger) count every event regardless. 100 000 events are a few tens of MB.
SERVICE_MAX_EVENTS = 100_000

_PENDING = (Received, RetryScheduled, Retried, SentToRetryTopic)


def _received(row: ProcessedRow) -> Received:
    consumer, topic, partition, offset, key, _, _, received_ts, _ = row
    return Received(ts=received_ts, consumer=consumer, topic=topic, partition=partition, offset=offset, key=key)


def _processed(row: ProcessedRow) -> Processed:
    consumer, topic, partition, offset, key, order_id, duplicate, _, processed_ts = row
    return Processed(ts=processed_ts, consumer=consumer, topic=topic, partition=partition, offset=offset, key=key,
                     order_id=order_id, duplicate=duplicate)


class EventLog:
    """A thread-safe, append-only list of events with subscribers and pandas views.

    Stats and the ledger are kept **incrementally** as events arrive, so :meth:`stats` costs the
    same after ten events or ten million (the API answers ``/api/v1/stats`` from it).
    ``max_events`` bounds the events *kept* for :attr:`events`, :meth:`of` and :meth:`frame`
    (the newest ones; :attr:`dropped` counts the others) for long-running services; the figures
    still count every event ever appended. ``None`` (notebooks, tests) keeps everything.

    >>> log = EventLog()
    >>> log.append(Processed(consumer="c1", key="ORD-1", order_id="ORD-1"))
    >>> log.stats()["processed"]
    1
    """

    def __init__(self, events: Iterable[Event] = (), max_events: int | None = None) -> None:
        if max_events is not None and max_events < 1:
            raise ValueError(f"max_events must be >= 1 or None, got {max_events}")
        self._lock = threading.RLock()
        self._max = max_events
        # Events, and ProcessedRows that each stand for two (Received, Processed; see record_processed)
        self._events: deque[Event | ProcessedRow] = deque()
        self._subscribers: tuple[Callable[[Event], Any], ...] = ()  # replaced, never mutated: read without a copy
        self._reset()
        for event in events:
            self._record(event)

    def _reset(self) -> None:
        self._events.clear()
        self._size = 0  # events kept (a ProcessedRow counts two)
        self.dropped = 0
        self._kinds: Counter[str] = Counter()
        self._processed = 0
        self._duplicates = 0
        self._retries: Counter[int] = Counter()
        self._dlt: Counter[str] = Counter()
        self._status: dict[str, str] = {}  # record id -> processed | dlt | in_flight (its latest state)
        self._in_flight = 0
        self._produced: dict[str, None] = {}  # ids of Produced events, in order, once each
        self._per_partition: dict[tuple[str, int], Counter[str]] = {}
        self._compact = False  # some kept events are still ProcessedRows

    # --- writing ---------------------------------------------------------------------------------

    def _record(self, event: Event) -> None:
        """Keep the event and update the figures (caller holds the lock). Dispatches on the exact
        type (event classes are final). Records processed at once take :meth:`record_processed`."""
        self._keep(event, 1)
        cls = type(event)
        self._kinds[cls.__name__] += 1
        counted = new = None  # the per-partition figure it counts; the record's new state
        if cls is Processed:
            new = "processed"
            if event.duplicate:
                self._duplicates += 1
            else:
                self._processed += 1
                counted = "processed"
        elif cls is SentToDLT:
            self._dlt[event.reason] += 1
            counted = new = "dlt"
        elif cls is Produced:
            if event.record_id:
                self._produced[event.record_id] = None
        elif cls in _PENDING:
            new = "in_flight"
            if cls is RetryScheduled:
                self._retries[event.attempt] += 1
                counted = "retries"
        elif cls is Acknowledged and event.ack != "ACCEPT":  # a share consumer (its ACCEPT has a Processed)
            # the broker retries a RELEASE until the delivery limit, then dead-letters it like a REJECT:
            # the same figures as the consumer group's retries and DLT, so the panel reads them alike
            if event.ack == "RELEASE" and not 0 < event.delivery_limit <= event.delivery_count:
                self._retries[event.delivery_count] += 1
                counted, new = "retries", "in_flight"
            else:
                self._dlt[event.reason if event.ack == "REJECT" else "DeliveryLimitReached"] += 1
                counted = new = "dlt"
        if counted is not None and event.topic is not None and event.partition is not None:
            self._count(event.topic, event.partition, counted, 1)
        if new is not None:
            self._settle(event.record_id, new)

    def _count(self, topic: str, partition: int, figure: str, n: int) -> None:
        per = self._per_partition.get((topic, partition))
        if per is None:  # not setdefault(tp, Counter()): that builds a Counter per event
            per = self._per_partition[(topic, partition)] = Counter()
        per[figure] += n

    def _settle(self, rid: str | None, new: str) -> None:
        """A record's new state (``processed``, ``dlt`` or ``in_flight``) and the in-flight count."""
        if rid is None:
            return
        old = self._status.get(rid)
        if new == "in_flight" and old in ("processed", "dlt"):
            return  # a late step of a record already settled
        self._status[rid] = new
        self._in_flight += (new == "in_flight") - (old == "in_flight")

    def _keep(self, entry: Event | ProcessedRow, size: int) -> None:
        """Keep an event (size 1) or a ProcessedRow (size 2); drop the oldest beyond ``max_events``."""
        kept = self._events
        kept.append(entry)
        self._size += size
        while self._max is not None and self._size > self._max:
            first = kept[0]
            if isinstance(first, Event) or self._size - 2 >= self._max:
                kept.popleft()
                gone = 1 if isinstance(first, Event) else 2
            else:  # half a row goes: its Received; its Processed stays
                kept[0] = _processed(first)
                gone = 1
            self._size -= gone
            self.dropped += gone

    def record_processed(self, rows: list[ProcessedRow]) -> None:
        """A batch's happy path in one step: each row stands for the :class:`Received` and the
        :class:`Processed` event of a record processed at its first attempt.

        Why: it is the consumer's hot path. The figures are updated at once, but the rows are kept
        as they are (atomic values: the garbage collector stops tracking them) and the frozen
        events built when first read (:attr:`events`, :meth:`of`, :meth:`frame`), or at once when
        someone subscribed. Readers see exactly the events :meth:`append` would have kept, in the
        same order (ARCHITECTURE.md, "processed records are kept as rows").
        """
        if not rows:
            return
        events: list[Event] = []
        with self._lock:
            subscribers = self._subscribers
            if subscribers:  # they want events: build them now (the notebooks' live views)
                events = [event for row in rows for event in (_received(row), _processed(row))]
                for event in events:
                    self._record(event)
            else:
                self._record_rows(rows)
        for event in events:
            self._notify(subscribers, event)

    def _record_rows(self, rows: list[ProcessedRow]) -> None:
        """What :meth:`_record` does for each row's Received and Processed, in one pass."""
        if self._max is None:
            self._events.extend(rows)
            self._size += 2 * len(rows)
        else:
            for row in rows:
                self._keep(row, 2)
        self._compact = True
        status = self._status
        duplicates = in_flight = 0
        # the rows of a batch are one partition's records: count those without a tuple key each
        _, topic0, partition0, *_ = rows[0]
        processed_here = 0
        elsewhere: Counter[tuple[str, int]] = Counter()
        for _, topic, partition, _, key, order_id, duplicate, _, _ in rows:
            if duplicate:
                duplicates += 1
            elif partition == partition0 and topic == topic0:
                processed_here += 1
            else:
                elsewhere[topic, partition] += 1
            if order_id == key and key is not None:  # the usual case, in one step: in flight, then processed
                if status.get(key) == "in_flight":
                    in_flight += 1
                status[key] = "processed"
            else:
                self._settle(key, "in_flight")
                self._settle(order_id if order_id is not None else key, "processed")
        if processed_here:
            self._count(topic0, partition0, "processed", processed_here)
        for (topic, partition), n in elsewhere.items():
            self._count(topic, partition, "processed", n)
        self._in_flight -= in_flight
        n = len(rows)
        self._kinds["Received"] += n
        self._kinds["Processed"] += n
        self._duplicates += duplicates
        self._processed += n - duplicates

    def append(self, event: Event) -> None:
        with self._lock:
            self._record(event)
            subscribers = self._subscribers
        self._notify(subscribers, event)

    @staticmethod
    def _notify(subscribers: tuple[Callable[[Event], Any], ...], event: Event) -> None:
        for callback in subscribers:  # outside the lock: a slow subscriber must not block writers
            try:
                callback(event)
            except Exception:  # a broken plot must not break the consumer
                import logging

                logging.getLogger("labkit.events").exception("event subscriber %r failed", callback)

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            self.append(event)

    def subscribe(self, callback: Callable[[Event], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` on every new event; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    rest = list(self._subscribers)
                    rest.remove(callback)
                    self._subscribers = tuple(rest)

        return unsubscribe

    def clear(self) -> None:
        """Forget every event and every figure (subscribers stay)."""
        with self._lock:
            self._reset()

    # --- reading ---------------------------------------------------------------------------------

    @property
    def events(self) -> list[Event]:
        with self._lock:
            if self._compact:  # build the frozen events of record_processed's rows, once
                self._events = deque(event for e in self._events
                                     for event in ((e,) if isinstance(e, Event) else (_received(e), _processed(e))))
                self._compact = False
            return list(self._events)

    def __len__(self) -> int:
        with self._lock:
            return self._size

    def __iter__(self):
        return iter(self.events)

    def of(self, *kinds: type[Event] | str) -> list[Event]:
        """The events of the given kinds (classes or names), in order."""
        names = {k if isinstance(k, str) else k.__name__ for k in kinds}
        return [e for e in self.events if e.kind in names]

    def frame(self, kind: type[Event] | str | None = None):
        """A pandas DataFrame, one row per event: ``kind``, every field, and ``time`` (UTC datetime).

        A field declared ``int`` is a nullable ``Int64`` column (``attempt`` 1, not 1.0, even where
        another kind of event has no attempt), a ``bool`` field a nullable ``boolean`` one; a field a
        kind lacks is missing (``NA``/``NaN``), and the frame is marked :data:`BLANK_MISSING` so a
        notebook shows those cells empty."""
        import pandas as pd

        events = self.events if kind is None else self.of(kind)
        rows = [e.to_dict() for e in events]
        df = pd.DataFrame(rows)
        if df.empty:
            df = pd.DataFrame(columns=["kind", "ts", "consumer"])
        for column, dtype in _dtypes(tuple(sorted({type(e) for e in events}, key=lambda c: c.__name__))).items():
            if column in df:
                df[column] = df[column].astype(dtype)
        df["time"] = pd.to_datetime(df["ts"].astype(float), unit="s", utc=True)
        df.attrs[BLANK_MISSING] = True
        df.attrs[LABELLED] = True  # French column labels when shown; the names stay English for code
        return df

    def stats(self) -> dict[str, Any]:
        """Counts of every event appended: processed (first time), duplicates, retries per attempt,
        DLT per reason, records in flight, commits, rebalances. A share consumer's RELEASE counts as
        a retry, its REJECT and its RELEASE at the delivery limit as DLT (the broker writes its DLQ)."""
        with self._lock:
            kinds = self._kinds
            return {
                "received": kinds["Received"],
                "processed": self._processed,
                "duplicates": self._duplicates,
                "retries": sum(self._retries.values()),
                "retries_per_attempt": dict(sorted(self._retries.items())),
                "retried": kinds["Retried"],
                "dlt": sum(self._dlt.values()),
                "dlt_per_reason": dict(self._dlt),
                "sent_to_retry_topic": kinds["SentToRetryTopic"],
                "in_flight": self._in_flight,
                "commits": kinds["Committed"],
                "commit_failures": kinds["CommitFailed"],
                "assigned": kinds["PartitionsAssigned"],
                "revoked": kinds["PartitionsRevoked"],
                "lost": kinds["PartitionsLost"],
                "breaker_changes": kinds["BreakerStateChanged"],
            }

    def partition_counts(self) -> dict[tuple[str, int], dict[str, int]]:
        """``{(topic, partition): {"processed", "retries", "dlt"}}`` over every event appended
        (processed: first time only; retries: scheduled)."""
        with self._lock:
            return {tp: {k: c[k] for k in ("processed", "retries", "dlt")}
                    for tp, c in sorted(self._per_partition.items())}

    def status(self, record_id: str) -> str | None:
        """The latest state of one record id: ``processed``, ``dlt``, ``in_flight`` or None (unseen)."""
        with self._lock:
            return self._status.get(record_id)

    def ledger(self, produced_ids: Iterable[str] | None = None) -> dict[str, Any]:
        """The no-loss check: every produced id is processed, in the DLT, or in flight.

        ``produced_ids`` defaults to the ids of :class:`Produced` events. Each id counts once, in
        its latest state (an order sent to the DLT then replayed and processed counts as processed).
        ``ok`` is True when ``produced == processed + dlt + in_flight`` and nothing is ``lost``.
        """
        with self._lock:
            produced = list(self._produced if produced_ids is None else dict.fromkeys(produced_ids))
            states = [self._status.get(i) for i in produced]
        counts = Counter(states)
        result = {
            "produced": len(produced),
            "processed": counts["processed"],
            "dlt": counts["dlt"],
            "in_flight": counts["in_flight"],
            "lost": [i for i, state in zip(produced, states, strict=True) if state is None],
            "in_flight_ids": [i for i, state in zip(produced, states, strict=True) if state == "in_flight"],
        }
        accounted = result["processed"] + result["dlt"] + result["in_flight"]
        result["ok"] = not result["lost"] and result["produced"] == accounted
        result["settled"] = result["ok"] and result["in_flight"] == 0
        return result


@functools.lru_cache(maxsize=256)
def _dtypes(classes: tuple[type[Event], ...]) -> dict[str, str]:
    """The nullable pandas dtype of each field every one of ``classes`` declares alike: ``int``
    fields -> ``Int64``, ``bool`` fields -> ``boolean`` (the others keep pandas' inference)."""
    declared: dict[str, set[str]] = {}
    for cls in classes:
        for f in fields(cls):
            declared.setdefault(f.name, set()).add(str(f.type).replace(" ", ""))
    out = {}
    for name, types in declared.items():
        if types <= {"int", "int|None"}:
            out[name] = "Int64"
        elif types == {"bool"}:
            out[name] = "boolean"
    return out
