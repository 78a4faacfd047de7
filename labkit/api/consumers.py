"""The API's in-process consumer, chosen once: the classic consumer group of Labs 1-5
(:class:`GroupConsumer`, an :class:`~labkit.engine.processor.OrderProcessor`) or a member of the share
group of notebook 09 (:class:`ShareConsumer`, a :class:`~labkit.engine.share.ShareWorker`).

:class:`~labkit.api.service.ApiService` asks its consumer only for the few things that differ: how it
runs, which group and which dead-letter topic are its own, what it owns, how it reports itself, and
how the DLT count and the join are checked. Everything else (produce, the failure switches, the event
figures) is the same for both: the share worker calls the same :class:`FailureInjector` and emits into
the same :class:`~labkit.events.EventLog`, whose stats count a RELEASE as a retry and a REJECT (or a
RELEASE at the delivery limit) as a dead-lettered record.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from labkit.engine.injection import FailureInjector
from labkit.events import EventLog
from labkit.settings import Settings

__all__ = ["CONSUMERS", "GroupConsumer", "ShareConsumer", "dlt_topic_count", "group_id_of", "make_consumer"]

CONSUMERS = ("group", "share")  # the choices of ApiService(consumer=...) and `labkit api --consumer`

SHARE_NO_PARTITIONS = ("a share consumer owns no partition: the broker hands its records out one by one, "
                       "so there is no assignment to check")


class GroupConsumer:
    """The classic consumer group: an OrderProcessor that owns partitions and commits offsets."""

    kind = "group"
    owns_partitions = True

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    @property
    def group_id(self) -> str:
        return self.processor.group_id

    def dlt_topic(self, settings: Settings) -> str:
        return settings.dlt_topic

    @property
    def running(self) -> bool:
        return self.processor.running

    @property
    def owned(self) -> set[tuple[str, int]]:
        return set(self.processor.assignment)

    def run(self, stop: threading.Event) -> None:
        self.processor.run(stop=stop)

    def describe(self, error: str | None) -> dict[str, Any]:
        p = self.processor
        return {"id": p.consumer_id, "group": p.group_id, "mode": p.mode, "running": p.running,
                "partitions": [f"{t}-{n}" for t, n in p.assignment], "error": error}

    def dlt_count(self, settings: Settings, by_reason: bool, timeout_s: float) -> dict[str, Any]:
        return dlt_topic_count(settings, by_reason, timeout_s)

    def join(self, settings: Settings, timeout_s: float) -> None:
        """Wait until the processor owns partitions (or failed), then make sure no foreign consumer
        takes orders in its group (:class:`~labkit.observe.members.ForeignConsumers` otherwise)."""
        from labkit.observe.members import require_alone
        from labkit.wait import wait_until

        p = self.processor
        wait_until(lambda: p.assignment or p.error, timeout_s, "the API's consumer to join")
        require_alone(settings, p.group_client_ids)


class ShareConsumer:
    """A member of the course's share group (KIP-932): the broker retries a RELEASE and dead-letters
    to its DLQ topic itself. Its setup is notebook 09's (:func:`~labkit.kafka.share_groups.setup_share_group`:
    the DLQ topic and the group's configs), done when it starts, so an API started before its broker
    retries it like the classic consumer retries its join.

    The group is not moved to the end of ``orders`` (as notebook 09's ``ShareGroup.setup`` does for
    each run): like a consumer group, an API restarted later resumes where the group stands, and the
    orders produced meanwhile are not skipped."""

    kind = "share"
    owns_partitions = False

    def __init__(self, settings: Settings, config: Any = None, *, injector: FailureInjector,
                 events: EventLog, poll_interval_s: float = 0.2) -> None:
        from labkit.broker.stuck_group import on_embedded_broker
        from labkit.engine.share import ShareWorker
        from labkit.group.share import NO_SHARE_GROUPS, NotOnThisBroker
        from labkit.kafka.share_groups import ShareGroupConfig

        if on_embedded_broker(settings):  # Tansu answers no share-group request: say so before serving
            raise NotOnThisBroker(NO_SHARE_GROUPS)
        self.settings = settings
        self.config = config or ShareGroupConfig.of(settings)
        self.worker = ShareWorker(settings, f"api-{id(self) & 0xFFFF:04x}", self.config, injector=injector,
                                  events=events)
        self.poll_interval_s = poll_interval_s
        self._ready = threading.Event()

    @property
    def processor(self) -> Any:
        """The ShareWorker (``store``, ``counts``, ``error``), as ``ApiService.processor``."""
        return self.worker

    @property
    def group_id(self) -> str:
        return self.config.group_id

    def dlt_topic(self, settings: Settings) -> str:
        return self.config.dlq_topic

    @property
    def running(self) -> bool:
        return self._ready.is_set() and self.worker.alive and self.worker.error is None

    @property
    def owned(self) -> set[tuple[str, int]]:
        return set()

    def run(self, stop: threading.Event) -> None:
        """Set the group up, run the worker until ``stop``; its crash is raised (the service restarts it)."""
        from labkit.kafka.share_groups import setup_share_group

        setup_share_group(self.settings, self.config)
        self.worker.error = None
        self.worker.start()
        self._ready.set()
        try:
            while not stop.wait(self.poll_interval_s) and self.worker.alive:
                pass
        finally:
            self._ready.clear()
            self.worker.stop()  # its acknowledgements are committed, then it leaves the group
        if self.worker.error is not None:
            raise self.worker.error

    def describe(self, error: str | None) -> dict[str, Any]:
        w = self.worker
        return {"id": w.name, "group": self.config.group_id, "mode": "share", "running": self.running,
                "deliveryLimit": self.config.delivery_limit, "dlqTopic": self.config.dlq_topic,
                "acknowledgements": dict(w.counts), "partitions": None, "note": SHARE_NO_PARTITIONS,
                "error": error}

    def dlt_count(self, settings: Settings, by_reason: bool, timeout_s: float) -> dict[str, Any]:
        """The records of the share group's DLQ topic, written by the broker (not by this consumer)."""
        from labkit.kafka.offsets import count_records

        topic = self.config.dlq_topic
        out: dict[str, Any] = {"topic": topic, "count": count_records(settings, topic, timeout_s),
                               "writtenBy": f"the broker, for share group {self.config.group_id}"}
        if by_reason:
            from labkit.kafka.share_groups import dlq_entries

            out["byReason"] = dict(Counter(d["reason"] for d in dlq_entries(settings, topic, timeout_s=timeout_s)))
        return out

    def join(self, settings: Settings, timeout_s: float) -> None:
        """Wait until the share consumer runs (or failed). No foreign-member check: a share group is
        made to have several members; this API's figures are what its own member answered."""
        from labkit.wait import wait_until

        wait_until(lambda: self.running or self.worker.error, timeout_s, "the API's share consumer to start")

    def health(self, broker: dict[str, Any], error: str | None) -> tuple[str, dict[str, Any]]:
        """``(reason, consumer)`` for ``/health``: UP when the broker answers and the consumer runs."""
        consumer = {"enabled": True, "kind": "share", "id": self.worker.name, "group": self.config.group_id,
                    "running": self.running, "partitions": None, "note": SHARE_NO_PARTITIONS, "error": error}
        reason = "" if broker.get("ok") else broker.get("reason", "broker check failed")
        if not reason and not self.running:
            reason = f"share consumer not running ({error or 'starting'})"
        return reason, consumer


def dlt_topic_count(settings: Settings, by_reason: bool, timeout_s: float) -> dict[str, Any]:
    """``/api/v1/dlt/count`` of the classic DLT (``orders.DLT``, written by the consumer)."""
    from labkit.observe.monitor import dlt_by_reason, dlt_count

    out: dict[str, Any] = {"topic": settings.dlt_topic, "count": dlt_count(settings, timeout_s=timeout_s)}
    if by_reason:
        out["byReason"] = {str(k): int(v) for k, v in dlt_by_reason(settings, timeout_s=timeout_s).items()}
    return out


def group_id_of(settings: Settings, consumer: str = "group", share_config: Any = None) -> str:
    """The group an API with this ``consumer`` joins, known before it starts."""
    if consumer == "share":
        from labkit.kafka.share_groups import ShareGroupConfig

        return (share_config or ShareGroupConfig.of(settings)).group_id
    return settings.group_id


def make_consumer(consumer: str, settings: Settings, processor: Any, *, injector: FailureInjector,
                  events: EventLog, mode: str, policy: Any, share_config: Any = None) -> Any:
    """The one place the API's consumer is chosen. ``processor``: a classic processor given by the
    caller (then ``consumer`` must be ``group``)."""
    if consumer not in CONSUMERS:
        raise ValueError(f"consumer must be one of {', '.join(CONSUMERS)}, not {consumer!r}")
    if consumer == "share":
        if processor is not None:
            raise ValueError("a share consumer is made by the API itself: give no processor with consumer='share'")
        return ShareConsumer(settings, share_config, injector=injector, events=events)
    if processor is None:
        from labkit.engine.processor import OrderProcessor

        processor = OrderProcessor(settings, policy=policy, mode=mode, injector=injector, events=events)
    return GroupConsumer(processor)
