"""Notice that the broker lost its data while a client runs, and say so in one clear line.

The embedded broker keeps everything in memory: after a restart its topics, records, committed
offsets and groups are gone, and the first client metadata request silently re-creates the topics
with its default of 4 partitions (``docs/tansu-compat.md`` row 6). A consumer then sits on an
empty 4-partition ``orders`` and reports nothing - the worst kind of failure for a student.

:class:`BrokerWatch` is polled by long-running clients (the :class:`~labkit.engine.processor.OrderProcessor`
loop, about once a second, for the price of reading one small JSON file). It raises
:class:`BrokerDataLost` when

1. the broker labkit started on this port (its state record) is now **another process** and its
   engine is ``embedded`` - it restarted, so its data is gone. (The ``kafka`` engine keeps its data
   on disk: a restart there is survivable and only logged);
2. a topic the client reads **changed its partition count** or **vanished** from the cluster
   metadata while it ran - whatever the broker (a restart that lost data, or someone deleted it).
   A change *to* the count the course expects is the repair (``labkit topics create --recreate``):
   logged, and the group rebalances onto the new partitions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from labkit.broker import state
from labkit.broker.errors import BrokerError

__all__ = ["BrokerDataLost", "BrokerIdentity", "BrokerWatch", "identity", "restart_message"]

log = logging.getLogger("labkit.broker")

FIX = ("Run broker.ensure() (or `labkit topics delete` then `labkit topics create`) again, then produce "
       "the orders again")


class BrokerDataLost(BrokerError):
    """The broker restarted empty (or a topic in use vanished / changed shape); ``str(exc)`` says
    what happened and what to run. ``memory_restart``: a memory-only broker was replaced."""

    def __init__(self, message: str, memory_restart: bool = False) -> None:
        super().__init__(message)
        self.memory_restart = memory_restart

    def __reduce__(self):
        return type(self), (str(self), self.memory_restart)


@dataclass(frozen=True)
class BrokerIdentity:
    """Which process serves a port (from labkit's state record)."""

    engine: str
    pid: int
    started_at: float

    def same_process(self, other: BrokerIdentity) -> bool:
        return self.pid == other.pid and abs(self.started_at - other.started_at) < 1.0


def identity(host_port: tuple[str, int]) -> BrokerIdentity | None:
    """The broker labkit recorded on this port, or None (not started by labkit, or stopped)."""
    record = state.load(host_port[1])
    if record is None:
        return None
    return BrokerIdentity(record.engine, record.pid, record.started_at)


def restart_message(address: str, before: BrokerIdentity, after: BrokerIdentity) -> str:
    return (f"the embedded broker at {address} restarted (pid {before.pid} -> {after.pid}) and lost its data "
            f"(it keeps everything in memory): topics, records, committed offsets and consumer groups are gone. "
            f"{FIX}.")


class BrokerWatch:
    """Checks, at most every ``interval_s``, that the broker and the read topics are the ones seen
    at :meth:`start`. :meth:`check` raises :class:`BrokerDataLost`; it never blocks on the network."""

    def __init__(self, host_port: tuple[str, int], topics: Iterable[str], interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, vanish_checks: int = 3,
                 expected: dict[str, int] | None = None) -> None:
        self.host_port = host_port
        self.expected = dict(expected or {})
        self.address = f"{host_port[0]}:{host_port[1]}"
        self.topics = list(topics)
        self.interval_s, self.clock, self.vanish_checks = interval_s, clock, vanish_checks
        self.identity: BrokerIdentity | None = None
        self.shape: dict[str, int] = {}
        self._missing: dict[str, int] = {}
        self._next = 0.0

    def start(self) -> BrokerWatch:
        self.identity = identity(self.host_port)
        self.shape.clear()
        self._missing.clear()
        self._next = self.clock() + self.interval_s
        return self

    def check(self, cluster: Any = None) -> None:
        """``cluster``: the client's cached metadata (kafka-python ``ClusterMetadata``), or None."""
        now = self.clock()
        if now < self._next:
            return
        self._next = now + self.interval_s
        self._check_identity()
        if cluster is not None:
            self._check_topics(cluster)

    def _check_identity(self) -> None:
        current = identity(self.host_port)
        if current is None:  # stopped (or not labkit's): nothing to compare yet
            return
        before = self.identity
        if before is None or before.same_process(current):
            self.identity = current
            return
        if before.engine == "embedded" or current.engine == "embedded":
            raise BrokerDataLost(restart_message(self.address, before, current), memory_restart=True)
        log.warning("the %s broker at %s restarted (pid %d -> %d); its data is on disk, carrying on",
                    current.engine, self.address, before.pid, current.pid)
        self.identity = current

    def _check_topics(self, cluster: Any) -> None:
        for topic in self.topics:
            parts = cluster.partitions_for_topic(topic)
            seen = self.shape.get(topic)
            if parts is None:
                if seen is not None:
                    self._missing[topic] = self._missing.get(topic, 0) + 1
                    if self._missing[topic] >= self.vanish_checks:
                        raise BrokerDataLost(
                            f"topic {topic!r} vanished from the broker at {self.address} while this client "
                            "was reading it: the broker lost its data (the embedded broker keeps everything "
                            f"in memory, a restart empties it) or someone deleted the topic. {FIX}.")
                continue
            self._missing.pop(topic, None)
            if seen is None:
                self.shape[topic] = len(parts)
                if self.expected.get(topic, len(parts)) != len(parts):
                    log.warning("topic %s has %d partitions, the course expects %d: was it re-created by a client "
                                "after the broker lost its data? (broker.ensure() puts the course topics back)",
                                topic, len(parts), self.expected[topic])
            elif len(parts) != seen and len(parts) == self.expected.get(topic):
                # back to the course's count: the repair (``labkit topics create --recreate``), not a loss;
                # the group rebalances onto the new partitions at its next metadata refresh
                log.warning("topic %s has %d partitions again (it had %d): the consumers rebalance onto them",
                            topic, len(parts), seen)
                self.shape[topic] = len(parts)
            elif len(parts) != seen:
                raise BrokerDataLost(
                    f"topic {topic!r} now has {len(parts)} partitions instead of {seen} at {self.address}: the "
                    "broker lost its data and a client re-created the topic with the broker's default "
                    "(the embedded broker keeps everything in memory, a restart empties it). "
                    f"{FIX}; broker.ensure() replaces the re-created topics.")

