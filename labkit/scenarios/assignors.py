"""Assignment strategies compared on a real group: how many partitions move, how long they pause.

The same scenario runs under each strategy kafka-python 3 offers: 2 consumers share the 6 orders
partitions, a 3rd joins (and, with ``leave=True``, then leaves cleanly). For the join (and the
leave) the table gives the partitions that changed owner, the longest time a partition had no
owner (the stop-the-world pause) and the time until every partition had its owner again.

* ``range`` - ``kafka.coordinator.assignors.range.RangePartitionAssignor`` (eager)
* ``roundrobin`` - ``kafka.coordinator.assignors.roundrobin.RoundRobinPartitionAssignor`` (eager)
* ``sticky`` - ``kafka.coordinator.assignors.sticky.sticky_assignor.StickyPartitionAssignor`` (eager)
* ``cooperative-sticky`` - ``kafka.coordinator.assignors.cooperative_sticky.CooperativeStickyAssignor``
  (cooperative)

**Eager** strategies revoke *every* partition of *every* member at each rebalance, then assign
them all again: every partition pauses, even those that stay put. **Cooperative** (KIP-429)
revokes only the partitions that move, in a first round, and assigns them in a second one: the
others keep flowing (but the rebalance takes two rounds).

Where kafka-python differs from the Java client:

* **No KIP-848** (the broker-driven "consumer" rebalance protocol, GA in Kafka 4.0,
  ``group.protocol=consumer``): kafka-python speaks only the classic protocol.
* **No mixing eager and cooperative assignors in one consumer**: ``partition_assignment_strategy
  = [range, cooperative-sticky]`` raises ``KafkaConfigurationError``. Java's default is exactly that
  pair, which lets a group move from range to cooperative-sticky "with a single rolling bounce";
  with kafka-python the move from eager to cooperative needs the whole group stopped (or two bounces
  through a different group id), never members of both kinds at once.
* kafka-python's default is ``[range, roundrobin]`` (Java: ``[range, cooperative-sticky]``), and in
  cooperative mode ``on_partitions_assigned`` receives only the *added* partitions.

Bounded in time: short sessions (:func:`labkit.broker.quick_session`) and a deadline per step.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pandas as pd

from labkit.events import EventLog
from labkit.group.supervisor import ConsumerGroup
from labkit.kafka.clients import ASSIGNORS
from labkit.observe.timeline import Timeline, rebalance_figures
from labkit.settings import Settings

__all__ = ["PROTOCOL", "compare", "run_scenario", "short_session", "embedded_broker",
           "static_restart"]

PROTOCOL = {"range": "eager", "roundrobin": "eager", "sticky": "eager", "cooperative-sticky": "cooperative"}


def _step(tl: Timeline, trigger: str) -> dict[str, Any]:
    """Figures of the rebalance triggered by ``trigger`` (``"join consumer-3"``), each partition
    counted once (:func:`labkit.observe.timeline.rebalance_figures`)."""
    gaps = tl.gaps()
    g = gaps[gaps["trigger"] == trigger]
    f = rebalance_figures(g)
    settled = f["settled_ts"] - g["trigger_ts"].iloc[0] if not g.empty else float("nan")
    return {"moved": f["partitions_moved"], "paused": f["partitions_paused"], "max_gap_s": round(f["max_gap_s"], 2),
            "pause_s": round(f["pause_s"], 2), "settled_s": round(settled, 2)}


def _fmt(assignment: dict[str, tuple]) -> str:
    return " ".join(f"{c}:{[p for _, p in parts]}" for c, parts in sorted(assignment.items()))


def embedded_broker(settings: Settings) -> bool:
    """True when the broker is the embedded one (Tansu names its cluster ``tansu_cluster``)."""
    from labkit.kafka import clients

    admin = clients.admin(settings)
    try:
        return str(admin.describe_cluster().get("cluster_id", "")).startswith("tansu")
    finally:
        admin.close()


def short_session(settings: Settings) -> tuple[int, int]:
    """``(session_timeout_ms, heartbeat_interval_ms)`` for quick comparisons on the broker at
    ``settings``' address: :func:`labkit.broker.quick_session` of its engine."""
    from labkit.broker import quick_session

    return quick_session("embedded" if embedded_broker(settings) else "kafka")


def run_scenario(settings: Settings, strategy: str, leave: bool = False, processes: bool = False,
                 session_timeout_ms: int | None = None, heartbeat_interval_ms: int | None = None,
                 step_timeout_s: float = 40.0, events: EventLog | None = None) -> dict[str, Any]:
    """2 consumers (started one after the other), then a 3rd joins (then leaves if ``leave``),
    under one strategy, in a fresh group. Returns one row of :func:`compare` plus the run's ``events``.
    Sessions default to :func:`short_session`."""
    events = events if events is not None else EventLog()
    if session_timeout_ms is None:
        session_timeout_ms, default_hb = short_session(settings)
        heartbeat_interval_ms = heartbeat_interval_ms or default_hb
    heartbeat_interval_ms = heartbeat_interval_ms or max(100, session_timeout_ms // 3)
    group_id = f"{settings.group_id}-{strategy}-{uuid.uuid4().hex[:6]}"
    run_settings = settings.replace(group_id=group_id)
    with ConsumerGroup(run_settings, assignor=strategy, events=events, processes=processes, http=False,
                       session_timeout_ms=session_timeout_ms, heartbeat_interval_ms=heartbeat_interval_ms) as group:
        t0 = time.monotonic()
        # one member first, then the second: two members joining a new group at once can leave
        # one of them hung in kafka-python 3.0.12 (see ConsumerGroup.start)
        group.start(1)
        group.wait_for_assignment([settings.orders_partitions], step_timeout_s)
        group.add()
        group.wait_for_assignment([3, 3], step_timeout_s)
        before = group.assignment()
        third = group.add()
        after_join = group.wait_for_assignment([2, 2, 2], step_timeout_s)
        final = after_join
        if leave:
            group.stop(third)
            final = group.wait_for_assignment([3, 3], step_timeout_s)
        elapsed = time.monotonic() - t0
    tl = Timeline(events)
    row: dict[str, Any] = {"strategy": strategy, "protocol": PROTOCOL.get(strategy, "?")}
    steps = [("join", f"join {third}")] + ([("leave", f"leave {third}")] if leave else [])
    for label, trigger in steps:
        figures = _step(tl, trigger)
        row |= {f"{label}_{k}": v for k, v in figures.items()}
    row |= {"before": _fmt(before), "after_join": _fmt(after_join), "final_assignment": _fmt(final),
            "scenario_s": round(elapsed, 1), "events": events}
    return row


def compare(settings: Settings, strategies: tuple[str, ...] = ASSIGNORS, leave: bool = False,
            processes: bool = False, logs: dict[str, EventLog] | None = None, **kwargs: Any) -> pd.DataFrame:
    """Run :func:`run_scenario` under each strategy; one row per strategy with, for the join (and
    the leave with ``leave=True``): ``join_moved`` (partitions that changed owner),
    ``join_paused`` (partitions that had no owner for a while: all of them under an eager
    strategy), ``join_max_gap_s`` (the longest pause of one partition, the stop-the-world gap),
    ``join_pause_s`` (partition-seconds without owner, summed), ``join_settled_s`` (join -> every
    partition owned again); then the assignments. Pass a dict as ``logs`` to get each run's EventLog
    (``{strategy: EventLog}``, e.g. for :func:`labkit.observe.plots.rebalance_gantt`)."""
    rows = [run_scenario(settings, s, leave=leave, processes=processes, **kwargs) for s in strategies]
    for r in rows:
        events = r.pop("events")
        if logs is not None:
            logs[r["strategy"]] = events
    return pd.DataFrame(rows)


def static_restart(settings: Settings, session_timeout_ms: int = 15_000, heartbeat_interval_ms: int = 3_000,
                   timeout_s: float = 40.0, events: EventLog | None = None) -> dict[str, Any]:
    """Static membership (KIP-345) on a real group: two members with ``group_instance_id``
    (``consumer-1``, ``consumer-2``); consumer-2 is stopped and started again well within
    ``session_timeout_ms``. A static member sends no LeaveGroup on close, so the broker keeps its
    place: when it comes back with the same id it gets its partitions back **without a rebalance**.

    Returns ``before`` / ``after`` (consumer-2's partitions), ``restart_s`` (stop -> partitions
    back), ``others_rebalanced`` (consumer-1's assign / revoke / lost events during the restart:
    ``[]`` when static membership works) and ``events``. Apache Kafka only: the embedded broker does
    not implement it (it rebalances anyway, or never gives the partitions back -
    ``docs/tansu-compat.md``)."""
    events = events if events is not None else EventLog()
    group_id = f"{settings.group_id}-static-{uuid.uuid4().hex[:6]}"
    with ConsumerGroup(settings.replace(group_id=group_id), events=events, static=True, http=False,
                       session_timeout_ms=session_timeout_ms, heartbeat_interval_ms=heartbeat_interval_ms) as group:
        group.add()  # consumer-1 first: the group leader, it stays up
        group.wait_for_assignment([settings.orders_partitions], timeout_s)
        group.add()
        before = group.wait_for_assignment(lambda a: len(a) == 2 and all(a.values())
                                           and len({tp for p in a.values() for tp in p}) == settings.orders_partitions,
                                           timeout_s)
        mark = len(events)
        t0 = time.monotonic()
        group.stop("consumer-2")
        group.add("consumer-2")  # the same group_instance_id
        group.wait_for(lambda a: a.get("consumer-2") == before["consumer-2"], timeout_s,
                       "consumer-2 back with its partitions")
        restart_s = time.monotonic() - t0
        after = group.assignment().get("consumer-2", ())
        others = [f"{e.kind} {[p for _, p in e.partitions]}" for e in events.events[mark:]
                  if e.consumer == "consumer-1"
                  and e.kind in ("PartitionsAssigned", "PartitionsRevoked", "PartitionsLost")]
    return {"before": [p for _, p in before["consumer-2"]], "after": [p for _, p in after],
            "restart_s": round(restart_s, 1), "others_rebalanced": others, "events": events}
