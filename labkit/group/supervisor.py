"""A consumer group you can drive from a notebook: start N consumer processes, add one, stop one
cleanly, kill one with SIGKILL, and watch every instance's events in one :class:`EventLog`
(with a broker, so not a doctest)::

    with ConsumerGroup(settings, events=log) as group:
        group.start(1)
        group.wait_for_assignment([6])
        group.add()
        group.wait_for_assignment([3, 3])
        group.add()
        group.wait_for_assignment([2, 2, 2])
        group.kill("consumer-2")           # a real crash: evicted after session_timeout_ms
        group.wait_for_assignment([3, 3])

Each instance is ``python -m labkit.group.worker`` (one :class:`~labkit.engine.processor.OrderProcessor`
in its own OS process, see :mod:`labkit.group.worker`; started by :mod:`labkit.group.instance`). The
instances publish their events to
``settings.events_topic``; a background reader here feeds them into ``events`` (only this run's:
each published record carries this group's run id). The assignment map is derived from those
events (:func:`labkit.observe.timeline.assignment_from_events`), never from ``describe_groups``, which
returns no assignments on the embedded broker.

``processes=False`` runs the processors as threads of this process (quick demos; no crash).
Every process started here is stopped by its PID in :meth:`close`, on exceptions and at exit.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from labkit.events import ConsumerStopped, EventLog
from labkit.group.assignment import Assignment, assignment_matches, shares_text
from labkit.group.instance import Instance, in_thread, spawn
from labkit.group.members import Reruns
from labkit.group.wire import EventReader
from labkit.lang import LABELLED
from labkit.observe.timeline import Timeline, assignment_from_events
from labkit.paths import check_name, private_dir
from labkit.settings import Settings
from labkit.wait import WaitTimeout, wait_until

log = logging.getLogger("labkit.group")

__all__ = ["ConsumerGroup"]

# the last group started per (broker, group id, instance names): a notebook cell run again replaces
# its group instead of adding processes to the same Kafka group
_RERUNS = Reruns()


class ConsumerGroup:
    """N consumer instances of one group (see the module doc).

    Parameters: ``settings``; ``mode`` (processor retry mode); ``assignor`` (``range``,
    ``roundrobin``, ``sticky``, ``cooperative-sticky``; None = kafka-python's default);
    ``events`` (the notebook's EventLog; a new one if None); ``processes`` (True: OS processes);
    ``session_timeout_ms`` / ``heartbeat_interval_ms`` / ``max_poll_interval_ms`` (default: the
    settings'); ``transient_rate`` / ``fail_first`` / ``latency_s`` (the failure injector of every
    instance); ``max_poll_records`` (the most records one ``poll()`` returns; default 100);
    ``static`` (give each instance ``group_instance_id=<name>``); ``http`` (serve /health and /stats
    from each process; ports from 18083 up); ``name_prefix``; ``log_dir`` (where each instance's
    ``.log`` / ``.out`` go and are kept; None: a temp dir, removed by :meth:`close`).
    """

    def __init__(self, settings: Settings, mode: str = "pause", assignor: str | None = None,
                 events: EventLog | None = None, processes: bool = True, *,
                 session_timeout_ms: int | None = None, heartbeat_interval_ms: int | None = None,
                 max_poll_interval_ms: int | None = None, transient_rate: float = 0.0, fail_first: int = 0,
                 latency_s: float = 0.0, max_poll_records: int | None = None, static: bool = False, http: bool = True,
                 name_prefix: str = "consumer", log_dir: str | os.PathLike | None = None,
                 extra_args: Sequence[str] = ()) -> None:
        check_name(name_prefix, "name_prefix")  # instance names become file names in log_dir
        changes = {k: v for k, v in {"session_timeout_ms": session_timeout_ms,
                                     "heartbeat_interval_ms": heartbeat_interval_ms,
                                     "max_poll_interval_ms": max_poll_interval_ms}.items() if v is not None}
        self.settings = settings.replace(**changes) if changes else settings
        self.mode, self.assignor, self.processes = mode, assignor, processes
        self.events = events if events is not None else EventLog()
        self.injector_args = {"transient_rate": transient_rate, "fail_first": fail_first, "latency_s": latency_s}
        self.max_poll_records = max_poll_records
        self.static, self.http, self.name_prefix = static, http, name_prefix
        self.extra_args = list(extra_args)
        self.run_id = uuid.uuid4().hex[:12]
        self._own_log_dir = not log_dir
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="labkit-group-"))
        private_dir(self.log_dir)  # what it creates is 0700; the logs in it 0600
        self._instances: dict[str, Instance] = {}
        self._counter = 0
        self._lock = threading.Lock()
        self._wire: EventReader | None = None  # this run's events, from the events topic
        self.closed = False
        # the same cell run again: stop the first run's instances (they leave the group cleanly)
        _RERUNS.opened(self, (self.settings.bootstrap_servers, self.settings.group_id, name_prefix),
                       on_replace=lambda previous: log.info(
                           "closing the consumer group this process started before in %s (%s)",
                           self.settings.group_id, ", ".join(previous.names) or "no instance running"))

    # --- membership -----------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Names of the instances running now, in start order."""
        return [n for n, i in self._instances.items() if i.alive()]

    def pid(self, name: str) -> int | None:
        return self._instances[name].pid

    def start(self, n: int) -> list[str]:
        """Start ``n`` more instances at once; returns their names.

        On a new group prefer ``start(1)``, wait for its assignment, then :meth:`add` the others:
        when several kafka-python 3.0.12 members join a new group together, the leader may compute
        the first assignment before it has the topic's metadata (everyone gets nothing), trigger a
        second rebalance itself, and - seen on Apache Kafka, about once in 50 starts - never
        complete that join: it stays without partitions and without heartbeats, evicted for good
        (seen on Apache Kafka in 2 of ~40 two-member starts, threads; never with one member first)."""
        return [self.add() for _ in range(n)]

    def add(self, name: str | None = None, group_instance_id: str | None = None) -> str:
        """Start one instance (joining triggers a rebalance); returns its name (``ValueError`` for a
        name that is not a plain file name: it names the instance's files in ``log_dir``)."""
        if name is not None:
            check_name(name)
        if self.closed:
            raise RuntimeError("this ConsumerGroup is closed")
        with self._lock:
            if name is None:
                self._counter += 1
                name = f"{self.name_prefix}-{self._counter}"
                while name in self._instances and self._instances[name].alive():
                    self._counter += 1
                    name = f"{self.name_prefix}-{self._counter}"
            elif name in self._instances and self._instances[name].alive():
                raise ValueError(f"{name} is already running")
        if group_instance_id is None and self.static:
            group_instance_id = name
        if self.processes:
            if self._wire is None:
                self._wire = EventReader(self.settings, self.run_id, self.events).start()
            inst = spawn(self, name, group_instance_id)
        else:
            inst = in_thread(self, name, group_instance_id)
        self._instances[name] = inst
        return name

    def stop(self, name: str, timeout_s: float = 30.0) -> float:
        """Stop ``name`` cleanly (SIGTERM: it commits and leaves the group). Returns the seconds it
        took to exit. Waits (bounded) until its ``ConsumerStopped`` event has arrived."""
        inst = self._instances[name]
        t0 = time.monotonic()
        if inst.proc is not None:
            if inst.proc.poll() is None:
                inst.proc.send_signal(signal.SIGTERM)
                try:
                    inst.proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    inst.proc.kill()
                    inst.proc.wait(5)
                    self.events.append(ConsumerStopped(consumer=name, reason="killed"))
                    raise WaitTimeout(f"{name} did not stop within {timeout_s} s after SIGTERM; killed") from None
            took = time.monotonic() - t0
            try:
                self._wait_event(lambda e: e.kind == "ConsumerStopped" and e.consumer == name, 5.0)
            except WaitTimeout:  # its last events were lost: record the stop ourselves
                self.events.append(ConsumerStopped(consumer=name, reason="stopped"))
            return took
        inst.processor.stop(timeout_s)
        return time.monotonic() - t0

    def set_failures(self, **switches: Any) -> None:
        """Change the failure injector of every running thread-mode instance (``latency_s``,
        ``transient``, ``rate``...: :meth:`labkit.engine.injection.FailureInjector.set`). Process
        instances keep the switches they were started with."""
        for inst in self._instances.values():
            if inst.processor is not None and inst.processor.injector is not None:
                inst.processor.injector.set(**switches)

    def kill(self, name: str) -> float:
        """SIGKILL ``name``: a real crash (no commit, no LeaveGroup; the broker evicts it only after
        ``session_timeout_ms``). Records ``ConsumerStopped(reason="killed")``; returns its ts."""
        inst = self._instances[name]
        if inst.proc is None:
            raise NotImplementedError("a real crash needs processes=True (a thread cannot be SIGKILLed)")
        inst.proc.send_signal(signal.SIGKILL)
        ts = time.time()
        inst.proc.wait(10)
        self.events.append(ConsumerStopped(ts=ts, consumer=name, reason="killed"))
        return ts

    def freeze(self, name: str, seconds: float) -> None:
        """SIGSTOP ``name`` for ``seconds`` then SIGCONT: a long GC pause / frozen VM. No heartbeats
        meanwhile: longer than ``session_timeout_ms`` and the member is evicted (then rejoins)."""
        inst = self._instances[name]
        if inst.proc is None:
            raise NotImplementedError("freeze needs processes=True")
        os.kill(inst.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(inst.proc.pid, signal.SIGCONT)

    # --- observing --------------------------------------------------------------------------------

    def assignment(self) -> Assignment:
        """``{consumer: ((topic, partition), ...)}`` of the live instances, from the events."""
        assignment = assignment_from_events(self.events)
        return {c: p for c, p in assignment.items() if c in self._instances}

    def timeline(self) -> Timeline:
        return Timeline(self.events)

    def health(self, name: str, timeout_s: float = 2.0) -> dict:
        """``GET /health`` of a process instance (its port comes from its ready file)."""
        ready = wait_until(lambda: self._instances[name].ready(), timeout_s + 10, f"{name} serving HTTP")
        if not ready.get("port"):
            raise RuntimeError(f"{name} serves no HTTP endpoint (http=False)")
        return self._get(f"http://127.0.0.1:{ready['port']}/health", timeout_s)

    def stats(self, name: str, timeout_s: float = 2.0) -> dict:
        ready = wait_until(lambda: self._instances[name].ready(), timeout_s + 10, f"{name} serving HTTP")
        return self._get(f"http://127.0.0.1:{ready['port']}/stats", timeout_s)

    @staticmethod
    def _get(url: str, timeout_s: float) -> dict:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())

    def wait_for(self, predicate: Callable[[Assignment], Any], timeout_s: float = 30.0,
                 what: str = "condition") -> Any:
        """Wait until ``predicate(assignment)`` is truthy; returns its value."""
        return wait_until(lambda: predicate(self.assignment()), timeout_s, what,
                          describe=lambda: self._describe())

    def wait_for_assignment(self, expected: Sequence[int] | dict[str, int] | Callable[[Assignment], bool],
                            timeout_s: float = 30.0, partitions: int | None = None) -> Assignment:
        """Wait until the live instances own ``expected`` partitions of the orders topic and every
        partition has exactly one owner; returns the assignment.

        ``expected``: sizes in any order (``[2, 2, 2]``), ``{name: size}``, or a predicate over the
        assignment map. ``partitions`` defaults to ``settings.orders_partitions``.
        """
        total = partitions if partitions is not None else self.settings.orders_partitions
        topic = self.settings.orders_topic

        def check(assignment: Assignment) -> Assignment | None:
            live = {c: tuple(tp for tp in p if tp[0] == topic) for c, p in assignment.items() if c in self.names}
            return live if assignment_matches(live, expected, total) else None

        return self.wait_for(check, timeout_s, f"the partitions shared as {shares_text(expected)}")

    def wait_processed(self, order_ids: Iterable[str], timeout_s: float = 60.0) -> dict:
        """Wait until every order id is processed or in the DLT; returns the ledger."""
        ids = list(order_ids)
        return wait_until(lambda: (lambda led: led if led["settled"] else None)(self.events.ledger(ids)),
                          timeout_s, f"{len(ids)} orders settled",
                          describe=lambda: {k: v for k, v in self.events.ledger(ids).items()
                                            if k not in ("lost", "in_flight_ids")} | self._describe())

    def _wait_event(self, predicate: Callable[[Any], bool], timeout_s: float) -> Any:
        return wait_until(lambda: next((e for e in self.events.events if predicate(e)), None), timeout_s,
                          "event")

    def _describe(self) -> dict:
        return {"running": self.names, "assignment": {c: [p for _, p in ps] for c, ps in self.assignment().items()},
                "events": len(self.events), "dead": {n: i.proc.returncode for n, i in self._instances.items()
                                                     if i.proc is not None and i.proc.poll() is not None}}

    def logs(self, name: str, tail: int = 40, grep: str | None = None) -> str:
        """The last ``tail`` lines of an instance's console output (its rebalance log lines are
        there); with ``grep``, only the lines containing it, case-insensitive (``docker logs
        m04-dotnet-consumer-1 --tail 20 | grep -i rebalance``). Until :meth:`close`, which removes
        them unless ``log_dir`` was given."""
        path = self.log_dir / f"{name}.out"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        if grep is not None:
            lines = [line for line in lines if grep.lower() in line.lower()]
        return "\n".join(lines[-tail:])

    def assignment_table(self) -> Any:
        """The live instances and their partitions of the orders topic, one row each, by name:
        ``consumer, partitions, count`` (a pandas DataFrame)."""
        import pandas as pd

        topic = self.settings.orders_topic
        rows = [{"consumer": c, "partitions": [p for t, p in parts if t == topic],
                 "count": sum(t == topic for t, _ in parts)}
                for c, parts in sorted(self.assignment().items()) if c in self.names]
        table = pd.DataFrame(rows, columns=["consumer", "partitions", "count"])
        table.attrs[LABELLED] = True  # French column labels when shown; code indexes the English names
        return table

    # --- shutdown -------------------------------------------------------------------------------------

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop every instance (SIGTERM, then SIGKILL after ``timeout_s``) and the events reader."""
        if self.closed:
            return
        self.closed = True
        try:
            running = [i for i in self._instances.values() if i.alive()]
            for inst in running:
                if inst.proc is not None:
                    inst.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            for inst in running:
                if inst.proc is not None:
                    try:
                        inst.proc.wait(max(0.1, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        inst.proc.kill()
                        inst.proc.wait(5)
                else:
                    try:
                        inst.processor.stop(max(1.0, deadline - time.monotonic()))
                    except Exception:
                        pass
            if running and self._wire is not None:  # let the last ConsumerStopped events arrive
                try:
                    wait_until(lambda: {i.name for i in running}
                               <= {e.consumer for e in self.events.of("ConsumerStopped")}, 3.0, "stop events")
                except WaitTimeout:
                    pass
        finally:
            for inst in self._instances.values():  # never leave a process behind
                if inst.proc is not None and inst.proc.poll() is None:
                    inst.proc.kill()
                    inst.proc.wait(5)
            if self._wire is not None:
                self._wire.stop()
            _RERUNS.closed(self)
            if self._own_log_dir:  # a temp dir per group would pile up (hundreds per test run)
                shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> ConsumerGroup:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            for inst in self._instances.values():
                if inst.proc is not None and inst.proc.poll() is None:
                    inst.proc.kill()
        except Exception:
            pass
