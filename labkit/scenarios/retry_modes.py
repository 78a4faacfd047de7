"""Three ways to wait before a retry, run side by side on the same hiccup.

The module's error-handling pattern waits with ``sleepWithBackoff(retryCount)`` inside the poll
loop. The course's consumer (:class:`~labkit.engine.processor.OrderProcessor`) has three modes:

* ``sleep``: that pattern, ``time.sleep`` between attempts, no ``poll()`` meanwhile;
* ``pause``: pause the partition, keep the record aside, keep polling, retry when the backoff is over;
* ``topic``: hand the record to the retry topic (``orders.retry``) and move on.

:func:`start` runs one mode on its own topics and group (``Settings.with_prefix``), with a short
``max_poll_interval_ms`` and a backoff whose **total** is longer than it, although each single
wait is shorter (two retries of 1.2 s against 1.5 s). One order, ``ORD-SLOW``, fails twice then
succeeds; a few healthy ones are sent while it waits for its first retry. :func:`compare` puts the runs side by side.

With a broker (so not a doctest)::

    runs = [start(settings, mode) for mode in MODES]
    wait_all(runs, "assigned")
    for run in runs:
        run.send()
    wait_all(runs, "done")
    side_by_side(runs)

Introduced in notebook 05 (Lab 3, retries).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from labkit.engine.injection import FailureInjector
from labkit.engine.processor import MODES, OrderProcessor
from labkit.events import EventLog
from labkit.kafka import topics
from labkit.kafka.producer import send
from labkit.orders import Order, sample_orders
from labkit.policy.retry import RetryPolicy
from labkit.policy.wait import Fixed
from labkit.settings import Settings

__all__ = ["MODES", "MAX_POLL_INTERVAL_MS", "HEARTBEAT_INTERVAL_MS", "SLOW_ID", "ModeRun", "pitfall_policy",
           "start", "wait_all", "side_by_side"]

MAX_POLL_INTERVAL_MS = 1500
HEARTBEAT_INTERVAL_MS = 250  # kafka-python checks max_poll_interval_ms only when it wakes up to heartbeat
SLOW_ID = "ORD-SLOW"


def pitfall_policy() -> RetryPolicy:
    """Two retries 1.2 s apart: each wait is shorter than ``MAX_POLL_INTERVAL_MS``, their sum is not."""
    return RetryPolicy(wait=Fixed(1.2), max_attempts=3)


@dataclass
class ModeRun:
    """One consumer in one retry mode, on its own topics and group, with its own event log."""

    mode: str
    settings: Settings
    processor: OrderProcessor
    events: EventLog
    injector: FailureInjector
    slow_id: str = SLOW_ID
    order_ids: list[str] = field(default_factory=list)

    @property
    def assigned(self) -> bool:
        """The consumer owns partitions (it joined its group)."""
        return any(e.partitions for e in self.events.of("PartitionsAssigned"))

    def send(self, others: int = 3, timeout_s: float = 30.0) -> pd.DataFrame:
        """Produce the slow order; once its first attempt has failed, ``others`` healthy ones
        (``ORD-OK-1``…), which therefore arrive while it waits for its retry: what each mode does
        with them is the point. Logs them as ``Produced`` events so the ledger knows what to
        expect. Returns where they went."""
        from labkit.wait import wait_until

        sent = [self._produce(Order(self.slow_id, 100))]
        if self.injector.snapshot()["fail_first"]:
            wait_until(lambda: any(e.key == self.slow_id for e in self.events.of("RetryScheduled")), timeout_s,
                       f"{self.slow_id}'s first failure ({self.mode})", describe=self.state)
        if others:
            sent.append(self._produce(*sample_orders(others, prefix="ORD-OK-")))
        return pd.concat(sent, ignore_index=True)

    def _produce(self, *orders: Order) -> pd.DataFrame:
        sent = send(self.settings, *orders, events=self.events)
        self.order_ids += list(sent["key"])
        return sent

    def committed(self) -> dict[tuple[str, int], int]:
        """The highest offset this consumer committed per partition, from its ``Committed`` events."""
        out: dict[tuple[str, int], int] = {}
        for e in self.events.of("Committed"):
            for topic, partition, offset in e.offsets:
                out[(topic, partition)] = max(out.get((topic, partition), -1), offset)
        return out

    def done(self) -> bool:
        """Every order sent is processed (or in the DLT) **and** its offset is committed."""
        if not self.order_ids or not self.events.ledger(self.order_ids)["settled"]:
            return False
        committed = self.committed()
        return all(committed.get((e.topic, e.partition), -1) > e.offset for e in self.events.of("Produced"))

    def report(self) -> dict[str, Any]:
        """One row of :func:`compare`."""
        stats, ledger = self.events.stats(), self.events.ledger(self.order_ids)
        produced = {e.record_id: e.ts for e in self.events.of("Produced")}
        done: dict[str, float] = {}
        for e in self.events.of("Processed"):
            done.setdefault(e.record_id, e.ts)
        others = [done[i] - produced[i] for i in produced if i != self.slow_id and i in done]
        slow = done.get(self.slow_id, float("nan")) - produced.get(self.slow_id, float("nan"))
        return {
            "mode": self.mode,
            f"retries of {self.slow_id}": sum(e.key == self.slow_id
                                              for e in self.events.of("RetryScheduled")),
            f"{self.slow_id} done after (s)": round(slow, 1),
            "healthy orders done after (s, max)": round(max(others), 1) if others else float("nan"),
            "kicked out (partitions lost)": stats["lost"],
            "CommitFailedError": stats["commit_failures"],
            "redelivered (duplicates)": stats["duplicates"],
            "via the retry topic": stats["sent_to_retry_topic"],
            "orders lost": len(ledger["lost"]),
        }

    def state(self) -> str:
        """One line for a timeout message: joined? running? how many orders settled and committed?"""
        p = self.processor
        parts = [self.mode, "assigned" if self.assigned else "NOT assigned",
                 "running" if p.running else f"NOT running ({p.error!r})"]
        if self.order_ids:
            ledger = self.events.ledger(self.order_ids)
            parts.append(f"{ledger['processed'] + ledger['dlt']}/{ledger['produced']} settled")
            parts.append("committed" if self.done() else "NOT all committed")
        return ", ".join(parts)

    def stop(self) -> None:
        """Stop the consumer: it commits what is done and leaves its group."""
        self.processor.stop()


def start(settings: Settings, mode: str, *, prefix: str | None = None, policy: RetryPolicy | None = None,
          max_poll_interval_ms: int = MAX_POLL_INTERVAL_MS, fail_first: int = 2) -> ModeRun:
    """Start a consumer in ``mode`` on topics and a group prefixed ``prefix`` (default
    ``nb05-<mode>-``), created if missing. Its order service fails ``fail_first`` times for the
    slow order only. ``max_poll_interval_ms`` goes straight to the consumer: kafka-python accepts
    it below ``session_timeout_ms``, which :class:`~labkit.settings.Settings` refuses on purpose.

    The heartbeat interval is lowered to ``HEARTBEAT_INTERVAL_MS``: kafka-python's heartbeat thread
    notices an overdue ``poll()`` only when it wakes up to send a heartbeat, so with the course's
    2 s interval a 2.4 s sleep would be caught only if a wake-up happened to fall after 1.5 s.
    (The Java client's heartbeat thread checks much more often.)"""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    own = settings.with_prefix(prefix if prefix is not None else f"nb05-{mode}-")
    topics.create(own)
    events = EventLog()
    injector = FailureInjector(fail_first=fail_first, targets={SLOW_ID})
    processor = OrderProcessor(own, mode=mode, policy=policy or pitfall_policy(), injector=injector,
                               events=events,
                               consumer_overrides={"max_poll_interval_ms": max_poll_interval_ms,
                                                   "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS})
    processor.start()
    return ModeRun(mode, own, processor, events, injector)


def wait_all(runs: Iterable[ModeRun], what: str, timeout_s: float = 60.0) -> None:
    """Wait until every run is ``"assigned"`` (joined its group) or ``"done"`` (:meth:`ModeRun.done`);
    :class:`~labkit.wait.WaitTimeout` with each run's :meth:`ModeRun.state` otherwise."""
    from labkit.wait import wait_until

    runs = list(runs)
    if what not in ("assigned", "done"):
        raise ValueError(f"what must be 'assigned' or 'done', got {what!r}")
    check = (lambda r: r.assigned) if what == "assigned" else (lambda r: r.done())
    wait_until(lambda: all(map(check, runs)), timeout_s, f"every run {what}",
               describe=lambda: "; ".join(r.state() for r in runs))


def side_by_side(runs: Iterable[ModeRun]) -> pd.DataFrame:
    """The runs side by side: one column per mode, one row per measure (see :meth:`ModeRun.report`)."""
    return pd.DataFrame([run.report() for run in runs]).set_index("mode").astype(object).T
