"""kafka-python client factories with the course's defaults: bounded timeouts, clear client ids.

Producers are not idempotent on purpose: after an embedded-broker restart, kafka-python's default
idempotent producer fails for good (``UnknownProducerIdError``), while a plain ``acks=all``
producer reconnects. The course needs at-least-once, which ``acks=all`` + retries gives.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.structs import MemberState

from labkit.kafka import corrupt
from labkit.settings import Settings, load

# partition.assignment.strategy names, as the Java client spells them
ASSIGNORS = ("range", "roundrobin", "sticky", "cooperative-sticky")

# kafka-python logs every refused connection at WARNING/ERROR; students should see ours instead.
logging.getLogger("kafka").setLevel(logging.CRITICAL)


def client_id(role: str) -> str:
    """``labkit-<role>-<host>-<pid>``: readable in group descriptions and broker logs."""
    return f"labkit-{role}-{socket.gethostname()}-{os.getpid()}"


def _base(settings: Settings) -> dict[str, Any]:
    return {
        "bootstrap_servers": settings.servers,
        "request_timeout_ms": settings.request_timeout_ms,
        "bootstrap_timeout_ms": settings.api_timeout_ms,
        "reconnect_backoff_max_ms": 1000,
    }


def producer(settings: Settings | None = None, **overrides: Any) -> KafkaProducer:
    """A producer with ``acks=all``, bounded ``max_block_ms`` and no idempotence (see module doc).

    ``allow_auto_create_topics=False``: a typo in a topic name fails after ``max_block_ms``
    instead of creating a topic with the broker's default partition count (brokers that honour
    the flag; the embedded broker creates the topic anyway)."""
    settings = settings or load()
    config = _base(settings) | {
        "client_id": client_id("producer"),
        "acks": "all",
        "enable_idempotence": False,
        "allow_auto_create_topics": False,
        "retries": 5,
        "linger_ms": 0,
        "max_block_ms": settings.api_timeout_ms,
        "delivery_timeout_ms": max(30_000, settings.request_timeout_ms + 1000),
    }
    return KafkaProducer(**(config | overrides))


class ProducerSlot:
    """A producer passed in (the caller's: never closed here) or made on first use (closed by
    :meth:`close`): what the processor, the KIP-848 worker and the DLT reprocessor each hold.

    >>> slot = ProducerSlot(None, given="the caller's producer")
    >>> slot.get(), slot.close(), slot.get()
    ("the caller's producer", None, "the caller's producer")
    """

    def __init__(self, settings: Settings | None, given: Any = None) -> None:
        self.settings, self._given, self._made = settings, given, None
        self._lock = threading.Lock()  # two threads asking at once make one producer

    def get(self) -> Any:
        made = self._given if self._given is not None else self._made
        if made is not None:
            return made
        with self._lock:
            if self._made is None:
                self._made = producer(self.settings)
            return self._made

    def close(self, timeout_s: float = 5.0) -> None:
        """Close the producer made here, if any (the next :meth:`get` makes a new one)."""
        with self._lock:
            made, self._made = self._made, None
        if made is not None:
            made.close(timeout=timeout_s)


def consumer(settings: Settings | None = None, *topics: str, **overrides: Any) -> KafkaConsumer:
    """A consumer with manual commits, earliest reset and the course's short session timeouts.

    ``allow_auto_create_topics=False`` so a typo does not silently create a 4-partition topic.
    """
    settings = settings or load()
    _patch_join_race()
    corrupt.install()  # a header key that is not UTF-8 no longer stops poll(): labkit/kafka/corrupt.py
    config = _base(settings) | {
        "client_id": client_id("consumer"),
        "group_id": settings.group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        "max_poll_interval_ms": settings.max_poll_interval_ms,
        "allow_auto_create_topics": False,
        # kafka-python's default (5 min) is how long a group took to notice that ``orders`` was deleted and
        # created again with more partitions (measured: 4 min with 2 of 6 partitions unconsumed). One small
        # Metadata request per session timeout makes the group rebalance onto the new partitions within one.
        "metadata_max_age_ms": settings.session_timeout_ms,
    }
    return KafkaConsumer(*topics, **(config | overrides))


def group_contact(consumer: Any) -> tuple[float | None, bool]:
    """``(when, rebalancing)``: the ``time.monotonic()`` of the consumer's last answer from its group
    coordinator (a heartbeat answered, a join completed; before any, when the consumer was made, so its
    contact age counts from its start), and whether a join is in progress (no heartbeats are sent
    then). What health needs to tell a consumer cut off from its broker.

    kafka-python has no public accessor for either: this reads its coordinator's ``Heartbeat`` and
    ``state`` (kafka-python 3.0: a ``MemberState`` string), and answers ``(None, False)`` if they move,
    so health falls back to its other checks instead of failing
    (``tests/unit/test_kafka_python_internals.py`` fails then).
    """
    coordinator = getattr(consumer, "_coordinator", None)
    heartbeat = getattr(coordinator, "heartbeat", None)
    try:
        when = max(heartbeat.last_receive, heartbeat.last_reset)
        state = coordinator.state
    except (AttributeError, TypeError):
        return None, False
    return (when if when != float("-inf") else None), state == MemberState.REBALANCING


def reader(settings: Settings | None = None, **overrides: Any) -> KafkaConsumer:
    """A group-less consumer for inspecting topics (assign + seek; never commits)."""
    return consumer(settings, group_id=None, client_id=client_id("reader"), **overrides)


def admin(settings: Settings | None = None, **overrides: Any) -> KafkaAdminClient:
    """An admin client; ``describe_groups`` is made tolerant of the embedded broker (see below)."""
    settings = settings or load()
    _patch_describe_groups()
    config = _base(settings) | {"client_id": client_id("admin")}
    return KafkaAdminClient(**(config | overrides))


def _patch_describe_groups() -> None:
    """The embedded broker returns every ACL-operation bit set; kafka-python then raises
    ``ValueError: 15 is not a valid ACLOperation`` in ``describe_groups``. Apache Kafka is unaffected.
    Dropping the (unused) authorized operations is the measured workaround.
    """
    if getattr(KafkaAdminClient, "_labkit_patched", False):
        return
    original = getattr(KafkaAdminClient, "_process_acl_operations", None)
    if original is None:
        return

    def tolerant(self, obj):
        try:
            return original(self, obj)
        except ValueError:
            obj["authorized_operations"] = None
            return obj

    KafkaAdminClient._process_acl_operations = tolerant
    KafkaAdminClient._labkit_patched = True


def _patch_join_race() -> None:
    """kafka-python 3.0.12 can leave a consumer in the group with no partitions, for good.

    Measured (about one run in 30 with both cores busy, Apache Kafka): the first join happens before the
    new topic's metadata is known, so the leader assigns nothing; the metadata update triggers a
    rejoin; ``poll()`` times out while that JoinGroup is in flight; meanwhile the leader's assignment
    makes the metadata snapshots equal, so on the next ``poll()`` ``need_rejoin()`` is False and
    ``join_group_async`` returns without awaiting the finished join: ``on_join_complete`` never runs,
    the member stays ``REBALANCING`` with heartbeats disabled and is evicted after the session timeout.
    A join task that is still pending, or finished but not yet consumed, means "rejoin still needed".
    """
    from kafka.coordinator.consumer import ConsumerCoordinator

    if getattr(ConsumerCoordinator, "_labkit_join_patched", False):
        return
    original = ConsumerCoordinator.need_rejoin

    def need_rejoin(self):
        if original(self):
            return True
        return self._subscription.partitions_auto_assigned() and getattr(self, "_join_task", None) is not None

    ConsumerCoordinator.need_rejoin = need_rejoin
    ConsumerCoordinator._labkit_join_patched = True


def assignors(name: str | None) -> list[Any] | None:
    """An assignor name -> kafka-python 3 assignor instances (None: kafka-python's default,
    ``[range, roundrobin]``). kafka-python refuses to mix eager and cooperative assignors."""
    if name is None or name == "default":
        return None
    from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

    table = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor,
             "sticky": StickyPartitionAssignor, "cooperative-sticky": CooperativeStickyAssignor}
    try:
        return [table[name]()]
    except KeyError:
        raise ValueError(f"unknown assignor {name!r}; choose one of {', '.join(ASSIGNORS)}") from None
