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

import argparse
import atexit
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from labkit.broker.stuck_group import on_embedded_broker
from labkit.engine.injection import FailureInjector
from labkit.engine.kip848 import Kip848Worker
from labkit.events import EventLog
from labkit.events.kinds import ConsumerStopped
from labkit.group.share import NotOnThisBroker
from labkit.group.supervisor import shares_text
from labkit.group.wire import EventPublisher, EventReader
from labkit.observe.timeline import Timeline, assignment_from_events
from labkit.settings import Settings
from labkit.wait import wait_until

__all__ = ["Kip848Group", "NO_KIP848", "require_kip848", "kip848_group_id"]

log = logging.getLogger("labkit.kip848")

Assignment = dict[str, tuple[tuple[str, int], ...]]
_OWNERSHIP = ("ConsumerStarted", "ConsumerStopped", "PartitionsAssigned", "PartitionsRevoked", "PartitionsLost")

_LIVE: weakref.WeakSet[Kip848Group] = weakref.WeakSet()
_LATEST: weakref.WeakValueDictionary[tuple[str, str], Kip848Group] = weakref.WeakValueDictionary()

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


@atexit.register
def _close_all() -> None:
    for group in list(_LIVE):
        try:
            group.close(timeout_s=5)
        except Exception:
            pass


class Kip848Group:
    """Members of ``group_id`` (default :func:`kip848_group_id`) on the KIP-848 protocol (see the module
    doc). ``injector``: the order service the thread members call (default: a new one, all switches off);
    process members get ``transient_targets`` (order ids whose every call fails) and ``latency_s``."""

    def __init__(self, settings: Settings, group_id: str | None = None, *, events: EventLog | None = None,
                 injector: FailureInjector | None = None, processes: bool = False,
                 transient_targets: tuple[str, ...] = (), latency_s: float = 0.0) -> None:
        if on_embedded_broker(settings):
            raise NotOnThisBroker(NO_KIP848)
        self.settings = settings
        self.group_id = group_id or kip848_group_id(settings)
        self.events = events if events is not None else EventLog()
        self.injector = injector if injector is not None else FailureInjector(latency_s=latency_s)
        self.processes, self.transient_targets, self.latency_s = processes, tuple(transient_targets), latency_s
        self.run_id = uuid.uuid4().hex[:12]
        self.log_dir = Path(tempfile.mkdtemp(prefix="labkit-kip848-"))
        self._workers: dict[str, Kip848Worker] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._wire: EventReader | None = None
        self._counter = 0
        self.closed = False
        previous = _LATEST.get((settings.bootstrap_servers, self.group_id))
        if previous is not None and not previous.closed:  # the same cell run again
            previous.close()
        _LATEST[(settings.bootstrap_servers, self.group_id)] = self
        _LIVE.add(self)

    # --- members -------------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """The members running now, in start order."""
        return [n for n, w in self._workers.items() if w.alive] + [
            n for n, p in self._procs.items() if p.poll() is None]

    def start(self, n: int) -> list[str]:
        """Start members until ``n`` run (a cell run twice does not double the group); their names."""
        while len(self.names) < n:
            self.add()
        return self.names

    def add(self) -> str:
        """Start one more member; its name (``kip848-1``, ``kip848-2``...)."""
        if self.closed:
            raise RuntimeError("this Kip848Group is closed")
        self._counter += 1
        name = f"kip848-{self._counter}"
        if self.processes:
            if self._wire is None:
                self._wire = EventReader(self.settings, self.run_id, self.events).start()
            cmd = [sys.executable, "-m", "labkit.group.kip848", "--name", name,
                   "--settings-json", json.dumps(asdict(self.settings)), "--group-id", self.group_id,
                   "--run-id", self.run_id, "--parent-pid", str(os.getpid()),
                   "--transient-targets", ",".join(self.transient_targets), "--latency-s", str(self.latency_s)]
            with open(self.log_dir / f"{name}.log", "ab") as out:
                self._procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                                     stdin=subprocess.DEVNULL)
        else:
            self._workers[name] = Kip848Worker(self.settings, name, self.group_id, injector=self.injector,
                                               events=self.events).start()
        return name

    def kill(self, name: str) -> float:
        """SIGKILL a process member: its partitions stay its own in the broker's eyes until the group's
        session timeout evicts it; nobody processes them meanwhile. Returns when it was killed."""
        proc = self._procs[name]
        proc.send_signal(signal.SIGKILL)
        ts = time.time()
        proc.wait(10)
        self.events.append(ConsumerStopped(ts=ts, consumer=name, reason="killed"))
        return ts

    def stop(self, name: str, timeout_s: float = 10.0) -> None:
        """A clean leave: the member commits, revokes its partitions and leaves the group."""
        if name in self._workers:
            self._workers[name].stop(timeout_s)
        elif self._procs[name].poll() is None:
            self._procs[name].terminate()
            try:
                self._procs[name].wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._procs[name].kill()
                self._procs[name].wait(5)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop every member (all at once), then the events reader."""
        if self.closed:
            return
        self.closed = True
        for worker in self._workers.values():
            worker.request_stop()
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.terminate()
        for name in list(self._workers) + list(self._procs):
            self.stop(name, timeout_s)
        if self._wire is not None:
            self._wire.stop()
        _LIVE.discard(self)

    def __enter__(self) -> Kip848Group:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

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
            owned = [tp for p in live.values() for tp in p]
            if callable(expected):
                ok = bool(expected(live))
            else:
                complete = len(owned) == total == len(set(owned))
                if isinstance(expected, dict):
                    ok = complete and {c: len(p) for c, p in live.items() if p or c in expected} == dict(expected)
                else:
                    ok = complete and sorted(len(p) for p in live.values()) == sorted(expected)
            return live if ok else None

        return wait_until(check, timeout_s, f"the partitions shared as {shares_text(expected)} (KIP-848)",
                          interval_s=0.1,
                          describe=lambda: {"running": self.names,
                                            "assignment": {c: [p for _, p in ps] for c, ps in seen[0].items()},
                                            "events": len(self.events)})

    def logs(self, name: str, tail: int = 40) -> str:
        """The last ``tail`` lines of a process member's console output."""
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-tail:]) if path.exists() else ""


# --- the worker process ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m labkit.group.kip848",
                                description="one KIP-848 consumer of the course")
    p.add_argument("--name", required=True)
    p.add_argument("--settings-json", required=True)
    p.add_argument("--group-id", required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--parent-pid", type=int, default=0)
    p.add_argument("--transient-targets", default="")
    p.add_argument("--latency-s", type=float, default=0.0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings(**json.loads(args.settings_json))
    targets = {t for t in args.transient_targets.split(",") if t}
    events = EventLog()
    publisher = EventPublisher(settings, args.name, args.run_id)
    events.subscribe(publisher)
    worker = Kip848Worker(settings, args.name, args.group_id,
                          injector=FailureInjector(transient=bool(targets), targets=targets or None,
                                                   latency_s=args.latency_s),
                          events=events, before_commit=publisher.flush)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.start()
    while not stop.wait(0.5) and worker.alive:
        if args.parent_pid and os.getppid() != args.parent_pid:
            break  # the notebook is gone: no orphan consumers
    worker.stop()
    publisher.close()
    return 0 if worker.error is None else 1


if __name__ == "__main__":
    sys.exit(main())
