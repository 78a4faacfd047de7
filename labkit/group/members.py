"""The members of a group a notebook drives, as threads of the notebook or as OS processes: what a
share group (:mod:`labkit.group.share`) and a KIP-848 group (:mod:`labkit.group.kip848`) have in common.

Thread members share the notebook's failure-injection switchboard (the panel and the API's switches
apply to them); process members can be SIGKILLed, and ship their events over
:mod:`labkit.group.wire` into the notebook's :class:`~labkit.events.EventLog`. A cell run again closes
the group it made before (same broker, same group id); every group still open is closed at exit.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from labkit.engine.injection import FailureInjector
from labkit.events import EventLog
from labkit.events.kinds import ConsumerStopped
from labkit.group.wire import EventPublisher, EventReader
from labkit.settings import Settings

__all__ = ["Members", "Reruns", "run_member_process"]


class Reruns:
    """The groups a notebook's process has open, and the last one made under each key (broker, group id...):
    a cell run again makes its group again, and the one its first run made (same key, still open) is
    closed first, its members leaving the Kafka group, instead of both running in it. Every group still
    open is closed at exit. Weak references: a group the notebook drops is not kept alive (it still dies).
    A group has ``closed`` and ``close(timeout_s=...)``, and says :meth:`closed` when it closes."""

    def __init__(self) -> None:
        self._live: weakref.WeakSet[Any] = weakref.WeakSet()
        self._latest: weakref.WeakValueDictionary[tuple[str, ...], Any] = weakref.WeakValueDictionary()
        atexit.register(self.close_all)

    def opened(self, group: Any, key: tuple[str, ...], on_replace: Callable[[Any], Any] | None = None) -> None:
        """``group`` was made under ``key``: close the open one made before under it
        (``on_replace(previous)`` first), and remember this one."""
        previous = self._latest.get(key)
        if previous is not None and not previous.closed:  # the same cell run again
            if on_replace is not None:
                on_replace(previous)
            previous.close()
        self._latest[key] = group
        self._live.add(group)

    def closed(self, group: Any) -> None:
        """``group`` is closed: nothing to close at exit."""
        self._live.discard(group)

    def close_all(self, timeout_s: float = 5) -> None:
        """Close every group still open (at exit: each failure passed over, so the others still close)."""
        for group in list(self._live):
            try:
                group.close(timeout_s=timeout_s)
            except Exception:
                pass


_RERUNS = Reruns()


class Members:
    """Members of ``group_id``, named ``<prefix>-1``, ``<prefix>-2``... A subclass says how to make a
    thread member (:meth:`_thread_member`: an object with ``start``, ``request_stop``, ``stop`` and
    ``alive``) and which module runs a process member (:attr:`PROCESS_MODULE`, with
    :meth:`_process_args`)."""

    PROCESS_MODULE = ""
    NAME_PREFIX = "member"

    def __init__(self, settings: Settings, group_id: str, *, events: EventLog | None = None,
                 injector: FailureInjector | None = None, processes: bool = False,
                 transient_targets: tuple[str, ...] = (), latency_s: float = 0.0) -> None:
        self.settings, self.group_id = settings, group_id
        self.events = events if events is not None else EventLog()
        self.injector = injector if injector is not None else FailureInjector(latency_s=latency_s)
        self.processes, self.transient_targets, self.latency_s = processes, tuple(transient_targets), latency_s
        self.run_id = uuid.uuid4().hex[:12]
        self.log_dir = Path(tempfile.mkdtemp(prefix=f"labkit-{self.NAME_PREFIX}-"))
        self._workers: dict[str, Any] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._wire: EventReader | None = None
        self._counter = 0
        self.closed = False
        _RERUNS.opened(self, (type(self).__name__, settings.bootstrap_servers, group_id))

    # --- what a subclass provides ----------------------------------------------------------------

    def _thread_member(self, name: str) -> Any:
        raise NotImplementedError

    def _process_args(self) -> list[str]:
        """The member process's own arguments, after the common ones."""
        return []

    # --- members ---------------------------------------------------------------------------------

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
        """Start one more member; its name."""
        if self.closed:
            raise RuntimeError(f"this {type(self).__name__} is closed")
        self._counter += 1
        name = f"{self.NAME_PREFIX}-{self._counter}"
        if self.processes:
            if self._wire is None:
                self._wire = EventReader(self.settings, self.run_id, self.events).start()
            cmd = [sys.executable, "-m", self.PROCESS_MODULE, "--name", name,
                   "--settings-json", json.dumps(asdict(self.settings)), "--run-id", self.run_id,
                   "--parent-pid", str(os.getpid()), "--transient-targets", ",".join(self.transient_targets),
                   "--latency-s", str(self.latency_s), *self._process_args()]
            with open(self.log_dir / f"{name}.log", "ab") as out:
                self._procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                                     stdin=subprocess.DEVNULL)
        else:
            self._workers[name] = self._thread_member(name).start()
        return name

    def kill(self, name: str) -> float:
        """SIGKILL a process member: it answers nothing and leaves nothing; returns when it was killed."""
        proc = self._procs[name]
        proc.send_signal(signal.SIGKILL)
        ts = time.time()
        proc.wait(10)
        self.events.append(ConsumerStopped(ts=ts, consumer=name, reason="killed"))
        return ts

    def stop(self, name: str, timeout_s: float = 10.0) -> None:
        """A clean stop: the member commits what it did, then leaves the group."""
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
        """Stop every member, all at once (each takes up to a poll and a leave), then the events reader."""
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
        shutil.rmtree(self.log_dir, ignore_errors=True)  # one temp dir per group would pile up in /tmp
        _RERUNS.closed(self)

    def logs(self, name: str, tail: int = 40) -> str:
        """The last ``tail`` lines of a process member's console output."""
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-tail:]) if path.exists() else ""

    def __enter__(self) -> Members:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --- a member process --------------------------------------------------------------------------------


def run_member_process(argv: list[str] | None, prog: str, description: str,
                       make_worker: Callable[[argparse.Namespace, Settings, FailureInjector, EventLog, Any], Any],
                       extra_args: Callable[[argparse.ArgumentParser], None] = lambda p: None) -> int:
    """The ``main`` of a member process started by :meth:`Members.add`: its worker
    (``make_worker(args, settings, injector, events, before_commit)``) runs until SIGTERM, SIGINT, its
    own end, or the notebook that started it going away; its events go to the notebook over the wire."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--name", required=True)
    p.add_argument("--settings-json", required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--parent-pid", type=int, default=0)
    p.add_argument("--transient-targets", default="")
    p.add_argument("--latency-s", type=float, default=0.0)
    extra_args(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings(**json.loads(args.settings_json))
    targets = {t for t in args.transient_targets.split(",") if t}
    events = EventLog()
    publisher = EventPublisher(settings, args.name, args.run_id)
    events.subscribe(publisher)
    injector = FailureInjector(transient=bool(targets), targets=targets or None, latency_s=args.latency_s)
    worker = make_worker(args, settings, injector, events, publisher.flush)
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
