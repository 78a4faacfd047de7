"""A consumer group on the KIP-848 protocol a notebook drives: N :class:`~labkit.engine.kip848.Kip848Worker`
members of one group, as threads of the notebook or as OS processes (``processes=True``: one can be
SIGKILLed, and the broker's session timeout is what evicts it), with every event in the notebook's
:class:`~labkit.events.EventLog`, so :class:`~labkit.observe.timeline.Timeline` and the rebalance plots
show the same picture as for the classic group of :class:`~labkit.group.supervisor.ConsumerGroup`.

The lite embedded broker (Tansu) does not speak the protocol: measured, a consumer with
``group.protocol=consumer`` there gets no error and no partition, ever. :class:`Kip848Group` refuses to
start there with :class:`~labkit.group.share.NotOnThisBroker` instead. Also
``python -m labkit.group.kip848`` (one worker process).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence

from labkit.broker.stuck_group import on_embedded_broker
from labkit.engine.injection import FailureInjector
from labkit.engine.kip848 import Kip848Worker
from labkit.events import EventLog
from labkit.group.assignment import Assignment, assignment_matches, shares_text
from labkit.group.members import Members, run_member_process
from labkit.group.share import NotOnThisBroker
from labkit.observe.timeline import Timeline, assignment_from_events
from labkit.settings import Settings
from labkit.wait import wait_until

__all__ = ["Kip848Group", "NO_KIP848", "require_kip848", "kip848_group_id"]

log = logging.getLogger("labkit.kip848")

_OWNERSHIP = ("ConsumerStarted", "ConsumerStopped", "PartitionsAssigned", "PartitionsRevoked", "PartitionsLost")


NO_KIP848 = ("the KIP-848 consumer group protocol (group.protocol=consumer) needs Apache Kafka 4.0 or later; "
             "the lite embedded broker does not speak it (its consumers would wait forever for partitions). "
             "Run the course on the default broker: labkit broker up --engine kafka")


def require_kip848(settings: Settings) -> None:
    """In a notebook on the embedded broker: say why this part cannot run and stop "Run all" here
    (``SystemExit`` shows one line in Jupyter, not a traceback)."""
    if on_embedded_broker(settings):
        raise SystemExit(NO_KIP848)


def kip848_group_id(settings: Settings) -> str:
    """The course's KIP-848 group for ``settings``: ``orders-kip848-group`` (under the same prefix as the
    consumer group). Its own name: a group's protocol is fixed while it has members."""
    group, suffix = settings.group_id, "consumer-group"
    return group[: -len(suffix)] + "kip848-group" if group.endswith(suffix) else f"{group}-kip848"


class Kip848Group(Members):
    """Members of ``group_id`` (default :func:`kip848_group_id`) on the KIP-848 protocol (see the module
    doc). ``injector``: the order service the thread members call (default: a new one, all switches off);
    process members get ``transient_targets`` (order ids whose every call fails) and ``latency_s``."""

    PROCESS_MODULE = "labkit.group.kip848"
    NAME_PREFIX = "kip848"

    def __init__(self, settings: Settings, group_id: str | None = None, *, events: EventLog | None = None,
                 injector: FailureInjector | None = None, processes: bool = False,
                 transient_targets: tuple[str, ...] = (), latency_s: float = 0.0) -> None:
        if on_embedded_broker(settings):
            raise NotOnThisBroker(NO_KIP848)
        super().__init__(settings, group_id or kip848_group_id(settings), events=events, injector=injector,
                         processes=processes, transient_targets=transient_targets, latency_s=latency_s)

    def _thread_member(self, name: str) -> Kip848Worker:
        return Kip848Worker(self.settings, name, self.group_id, injector=self.injector, events=self.events)

    def _process_args(self) -> list[str]:
        return ["--group-id", self.group_id]

    # --- the assignment, from the events -------------------------------------------------------------

    def assignment(self) -> Assignment:
        """``{member: ((topic, partition), ...)}`` of the running members, from their events."""
        names = set(self.names)
        ownership = self.events.of(*_OWNERSHIP)  # only these: the Timeline would read every event otherwise
        return {c: p for c, p in assignment_from_events(ownership).items() if c in names}

    def timeline(self) -> Timeline:
        return Timeline(self.events)

    def wait_for_assignment(self, expected: Sequence[int] | dict[str, int] | Callable[[Assignment], bool],
                            timeout_s: float = 30.0, partitions: int | None = None) -> Assignment:
        """Wait until the running members own ``expected`` partitions of the orders topic and every
        partition has exactly one owner; returns the assignment (the semantics of
        :meth:`labkit.group.supervisor.ConsumerGroup.wait_for_assignment`).

        ``expected``: sizes in any order (``[2, 2, 2]``), ``{name: size}``, or a predicate over the
        assignment map. ``partitions`` defaults to ``settings.orders_partitions``.
        """
        total = partitions if partitions is not None else self.settings.orders_partitions
        topic = self.settings.orders_topic
        seen: list[Assignment] = [{}]

        def check() -> Assignment | None:
            live = {c: tuple(tp for tp in p if tp[0] == topic) for c, p in self.assignment().items()}
            seen[0] = live
            return live if assignment_matches(live, expected, total) else None

        return wait_until(check, timeout_s, f"the partitions shared as {shares_text(expected)} (KIP-848)",
                          interval_s=0.1,
                          describe=lambda: {"running": self.names,
                                            "assignment": {c: [p for _, p in ps] for c, ps in seen[0].items()},
                                            "events": len(self.events)})


# --- the worker process ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    return run_member_process(
        argv, "python -m labkit.group.kip848", "one KIP-848 consumer of the course",
        lambda args, settings, injector, events, flush: Kip848Worker(
            settings, args.name, args.group_id, injector=injector, events=events, before_commit=flush),
        extra_args=lambda p: p.add_argument("--group-id", required=True))


if __name__ == "__main__":
    sys.exit(main())
