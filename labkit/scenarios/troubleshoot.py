"""The module's three troubleshooting cases, reproduced on purpose and diagnosed with Lab 5's tools.

Each function runs one case on a real broker, in the topics and group of the ``settings`` it is
given (use a prefix, ``settings.with_prefix("nb07-stuck-")``: a clean slate), and returns a
:class:`Reproduction` - the symptom, the evidence the monitoring tools show, and what it means:

* :func:`stuck_consumer` - *Consumer bloqué*: the consumer process is frozen (``SIGSTOP``, a long
  GC pause, a hung call): it stays in the group, nobody takes its partitions, and only the lag
  table says something is wrong (LAG grows, CURRENT-OFFSET does not move);
* :func:`empty_dlt` - *DLT vide alors qu'il devrait y avoir des erreurs*: invalid orders that
  never reach a consumer (no consumer running; a typo in the topic name);
* :func:`rebalancing_too_often` - *Rebalancing trop fréquent*: a handler slower than
  ``max_poll_interval_ms`` gets its consumer thrown out of the group after every batch.

Every process and thread started here is stopped before the function returns (also on errors);
every wait has a deadline.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from labkit.events import EventLog
from labkit.lang import tr
from labkit.settings import Settings

__all__ = ["Reproduction", "stuck_consumer", "empty_dlt", "rebalancing_too_often"]


@dataclass
class Reproduction:
    """One troubleshooting case, reproduced: ``symptom`` (what a student sees), ``evidence``
    (tables and figures read from Kafka and from the events), ``diagnosis`` (what they mean)."""

    case: str
    symptom: str
    diagnosis: str
    evidence: dict[str, Any] = field(default_factory=dict)
    events: EventLog = field(default_factory=EventLog)

    def __str__(self) -> str:
        return tr("{case}\n  symptom:   {symptom}\n  diagnosis: {diagnosis}").format(
            case=self.case, symptom=self.symptom, diagnosis=self.diagnosis)


def _produce_invalid(settings: Settings, ids: list[str], topic: str | None = None, **producer_overrides: Any):
    """Send invalid orders (negative amounts: the consumer's rule sends them to the DLT)."""
    from labkit.kafka import clients
    from labkit.orders import Order

    producer = clients.producer(settings, **producer_overrides)
    try:
        futures = [producer.send(topic or settings.orders_topic, key=oid.encode(), value=Order(oid, -50).to_json())
                   for oid in ids]
        return [f.get(timeout=settings.api_timeout_ms / 1000) for f in futures]
    finally:
        producer.close(timeout=5)


def _lag_settled(settings: Settings, timeout_s: float) -> Any:
    """Wait until the group's committed offsets reached the log end: LAG 0 everywhere, or "-" on
    a partition that never held a record (nothing to commit there)."""
    from labkit.observe.lag import lag_table
    from labkit.wait import wait_until

    def settled():
        table = lag_table(settings)
        done = (table["LAG"].fillna(-1) == 0) | (table["CURRENT-OFFSET"].isna() & (table["LOG-END-OFFSET"] == 0))
        return [table] if bool(done.all()) else None  # a list: a DataFrame has no truth value

    return wait_until(settled, timeout_s, "lag back to 0")[0]


# --- Consumer bloqué --------------------------------------------------------------------------------


def stuck_consumer(settings: Settings, freeze_s: float = 4.0, orders: int = 30,
                   timeout_s: float = 40.0) -> Reproduction:
    """One consumer owns every partition; it is frozen (``SIGSTOP``) for ``freeze_s`` - shorter than
    ``session_timeout_ms``, so the broker still counts it as alive - while ``orders`` orders arrive.

    Evidence: ``lag_before`` / ``lag_during`` / ``lag_after`` (the ``kafka-consumer-groups
    --describe`` table), ``health_during`` (:func:`labkit.observe.monitor.health`: the group looks fine),
    ``lag_samples`` (:class:`~labkit.observe.lag.LagSampler`, for :func:`labkit.observe.plots.lag_over_time`),
    ``rebalances_during`` (0: nobody took over) and ``caught_up_s`` (thaw -> LAG 0 again)."""
    from labkit.group.supervisor import ConsumerGroup
    from labkit.kafka import clients, topics
    from labkit.kafka.producer import produce_orders
    from labkit.observe import monitor
    from labkit.observe.lag import LagSampler, lag_table
    from labkit.observe.timeline import Timeline

    if freeze_s * 1000 >= settings.session_timeout_ms:
        raise ValueError(f"freeze_s ({freeze_s}) must stay below session_timeout_ms "
                         f"({settings.session_timeout_ms} ms): "
                         "longer, and the broker evicts the frozen consumer (that is a crash, not a stuck consumer)")
    topics.create(settings)
    events = EventLog()
    evidence: dict[str, Any] = {"frozen_s": freeze_s}
    with ConsumerGroup(settings, events=events, http=False) as group, \
            LagSampler(settings, interval_s=0.25) as sampler:
        group.start(1)
        group.wait_for_assignment([settings.orders_partitions], timeout_s)
        warmup = produce_orders(settings, 6, events, prefix="ORD-STUCK-A")
        group.wait_processed(warmup, timeout_s)
        evidence["lag_before"] = _lag_settled(settings, timeout_s)
        settled_rebalances = len(Timeline(events).summary())
        freezer = threading.Thread(target=group.freeze, args=("consumer-1", freeze_s), daemon=True)
        freezer.start()
        t0 = time.monotonic()
        ids = []
        producer = clients.producer(settings)
        try:
            for k in range(orders):  # spread over most of the freeze
                ids += produce_orders(settings, 1, events, prefix="ORD-STUCK-", start=k + 1, producer=producer)
                time.sleep(max(0.0, t0 + (k + 1) * 0.7 * freeze_s / orders - time.monotonic()))
        finally:
            producer.close(timeout=5)
        evidence["lag_during"] = lag_table(settings)
        evidence["health_during"] = monitor.health(settings, require_consumers=True, timeout_s=2.0)
        freezer.join(freeze_s + 10)
        thawed = time.monotonic()
        group.wait_processed(ids, timeout_s)
        evidence["lag_after"] = _lag_settled(settings, timeout_s)
        evidence["caught_up_s"] = round(time.monotonic() - thawed, 2)
        sampler.sample()
        evidence["rebalances_during"] = len(Timeline(events).summary()) - settled_rebalances
    evidence["lag_samples"] = sampler.frame()
    evidence["order_ids"] = warmup + ids
    return Reproduction(
        tr("Consumer bloqué (stuck consumer)"),
        tr("no order processed for {s:g} s; the consumer process is still there and the group is '{state}'").format(
            s=freeze_s, state=evidence["health_during"].get("group_state")),
        tr("LAG grows while CURRENT-OFFSET stays put, and no rebalance happens: the member is alive for the "
           "broker (it was frozen for less than session_timeout_ms) but does not progress. Look at the consumer "
           "itself: a hung call, a long pause, a stuck thread."),
        evidence, events)


# --- DLT vide alors qu'il devrait y avoir des erreurs ----------------------------------------------


def empty_dlt(settings: Settings, invalid: int = 3, timeout_s: float = 40.0) -> Reproduction:
    """Invalid orders that should end in the DLT, but the DLT stays empty - twice:

    1. **no consumer runs**: the orders wait in ``orders``; the lag table shows them
       (LOG-END-OFFSET) and says the group has no active member; ``health`` is DOWN. Starting a
       consumer fixes it (``dlt_after_fix``);
    2. **a typo in the topic name** (``order`` for ``orders``), with the consumer running: the
       ``orders`` log end does not move and the group has nothing to do (LAG 0). With automatic
       topic creation (the embedded broker; Apache Kafka's default) the records land in a new
       topic nobody reads; with ``auto.create.topics.enable=false`` (the course's Apache Kafka, most
       production clusters) the producer fails after ``max.block.ms`` - the better outcome.

    Evidence keys: ``dlt_no_consumer``, ``lag_no_consumer``, ``health_no_consumer``,
    ``dlt_after_fix``, ``typo_topic``, ``typo_result`` (records written there, or the producer's
    error), ``lag_typo`` and ``dlt_typo``."""
    from labkit.group.supervisor import ConsumerGroup
    from labkit.kafka import topics
    from labkit.kafka.offsets import count_records
    from labkit.observe import monitor
    from labkit.observe.lag import lag_table

    topics.create(settings)
    events = EventLog()
    ev: dict[str, Any] = {}
    ids = [f"ORD-NOCONSUMER-{i}" for i in range(1, invalid + 1)]
    _produce_invalid(settings, ids)
    ev["dlt_no_consumer"] = monitor.dlt_count(settings)
    ev["lag_no_consumer"] = lag_table(settings)
    ev["health_no_consumer"] = monitor.health(settings, require_consumers=True, timeout_s=2.0)
    typo = settings.orders_topic[:-1] if settings.orders_topic.endswith("s") else settings.orders_topic + "s"
    ev["typo_topic"] = typo
    with ConsumerGroup(settings, events=events, processes=False) as group:
        group.start(1)
        group.wait_processed(ids, timeout_s)
        ev["dlt_after_fix"] = monitor.dlt_count(settings)
        end_before = lag_table(settings)["LOG-END-OFFSET"].sum()
        typo_ids = [f"ORD-TYPO-{i}" for i in range(1, invalid + 1)]
        try:
            # a producer left at the client default (auto-creation allowed): the broker decides
            _produce_invalid(settings, typo_ids, topic=typo, max_block_ms=3000, allow_auto_create_topics=True)
            ev["typo_result"] = tr("{n} record(s) written to the new topic '{topic}'").format(
                n=count_records(settings, typo), topic=typo)
        except Exception as exc:  # KafkaTimeoutError: the topic does not exist and is not created
            ev["typo_result"] = tr("the producer failed: {error}").format(error=f"{type(exc).__name__}: {exc}")
        ev["lag_typo"] = _lag_settled(settings, timeout_s)
        ev["orders_log_end_moved"] = int(ev["lag_typo"]["LOG-END-OFFSET"].sum() - end_before)
        ev["dlt_typo"] = monitor.dlt_count(settings)
    if typo in topics.list_topics(settings):
        topics.delete(settings, [typo])
    ev["order_ids"] = ids
    return Reproduction(
        tr("DLT vide alors qu'il devrait y avoir des erreurs (empty DLT)"),
        tr("{n} invalid orders sent, {dlt} record(s) in the DLT").format(n=invalid, dlt=ev["dlt_no_consumer"]),
        tr("The DLT is written by the consumer: no consumer, no DLT record - the lag table shows the orders waiting "
           "and an empty group. When the consumer runs and LAG stays 0 while the DLT stays empty, the orders never "
           "reached the topic it reads: check the producer's topic name (and its errors)."),
        ev, events)


# --- Rebalancing trop fréquent -----------------------------------------------------------------------


def rebalancing_too_often(settings: Settings, max_poll_records: int = 5, observe_s: float | None = None,
                          timeout_s: float = 40.0) -> Reproduction:
    """A handler slower than ``max_poll_interval_ms`` allows: one ``poll()`` returns
    ``max_poll_records`` orders (all in one partition: one key), and together they take the
    interval plus 1.5 heartbeats (kafka-python checks the interval once per heartbeat).
    kafka-python's heartbeat thread notices that ``poll()`` has not been called in time and makes the
    member leave the group in the middle of the batch; the batch ends, its commit fails
    (``CommitFailed``), the member rejoins (``lost``, then assigned again), gets the next batch - and
    it starts over, as long as a backlog is waiting.

    One consumer, short sessions (:func:`labkit.scenarios.assignors.short_session`); ``max_poll_interval_ms``
    = 3000 (embedded) or 6000 (Apache Kafka, which cannot go below the session). Observes
    ``observe_s`` (default: 2.5 batches + 1 s). Evidence: ``report``
    (:meth:`labkit.observe.timeline.Timeline.report`), ``rebalances`` (after the first assignment, not the
    final close), ``lost`` (times the member was thrown out), ``commit_failures``, ``produced`` /
    ``handled`` / ``duplicates`` and the ``config``.

    (With several slow members that all leave at once, the embedded broker's group can stay stuck -
    every SyncGroup answered "rebalance in progress" - which hides the cycle; hence one consumer.)"""
    from labkit.group.supervisor import ConsumerGroup
    from labkit.kafka import topics
    from labkit.kafka.producer import produce_orders
    from labkit.observe.journeys import duplicates
    from labkit.observe.timeline import Timeline
    from labkit.scenarios.assignors import short_session

    session, heartbeat = short_session(settings)
    max_poll = max(3000, session)
    # the heartbeat thread checks the poll interval once per heartbeat: overshoot by 1.5 heartbeats
    batch_s = (max_poll + 1.5 * heartbeat) / 1000
    latency_s = round(batch_s / max_poll_records, 3)
    observe_s = observe_s if observe_s is not None else 2.5 * batch_s + 1
    backlog = int(observe_s / latency_s) + max_poll_records
    topics.create(settings)
    events = EventLog()
    with ConsumerGroup(settings, events=events, processes=False, session_timeout_ms=session,
                       heartbeat_interval_ms=heartbeat, max_poll_interval_ms=max_poll, latency_s=latency_s,
                       max_poll_records=max_poll_records) as group:
        # one key: every order in one partition, so each poll() returns a full batch
        ids = produce_orders(settings, backlog, events, prefix="ORD-SLOW-", key="slow-customer")
        group.start(1)
        group.wait_for_assignment([settings.orders_partitions], timeout_s)
        start = len(Timeline(events).summary())
        time.sleep(observe_s)
        group.set_failures(latency_s=0.0)  # the batch in progress ends at once: a quick close
        ledger = events.ledger(ids)
    # after the close: a member busy in a batch learns it was thrown out only when the batch ends
    report = Timeline(events).report()
    evidence = {
        "config": {"session_timeout_ms": session, "max_poll_interval_ms": max_poll,
                   "max_poll_records": max_poll_records, "handler_s_per_order": latency_s,
                   "batch_s": round(latency_s * max_poll_records, 2)},
        "report": report,
        "rebalances": int((~report["trigger"].str.startswith("leave")).sum()) - start,
        "lost": len(events.of("PartitionsLost")),
        "commit_failures": len(events.of("CommitFailed")),
        "produced": len(ids), "handled": ledger["processed"] + ledger["dlt"], "duplicates": duplicates(events),
        "observed_s": observe_s,
        "order_ids": ids,
    }
    return Reproduction(
        tr("Rebalancing trop fréquent (rebalancing too often)"),
        tr("{rebalances} rebalance(s) in {s:g} s with a single consumer that never left: thrown "
           "out {lost} time(s), {failed} failed commit(s)").format(
            rebalances=evidence["rebalances"], s=observe_s, lost=evidence["lost"], failed=evidence["commit_failures"]),
        tr("A batch of {n} orders takes {batch_s:g} s, longer than "
           "max_poll_interval_ms ({max_poll} ms): the member is thrown out mid-batch ('lost' in the timeline), its "
           "commit fails and its records come again. Make the handler faster, lower max_poll_records, or raise "
           "max_poll_interval_ms. (A session_timeout_ms shorter than a healthy consumer's pauses gives the same "
           "picture.)").format(n=max_poll_records, batch_s=evidence["config"]["batch_s"], max_poll=max_poll),
        evidence, events)
