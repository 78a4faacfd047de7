"""One member of a :class:`~labkit.group.supervisor.ConsumerGroup`: started as a worker process
(``python -m labkit.group.worker``, :mod:`labkit.group.worker`) or as a processor on a thread of this
process; its PID, whether it is alive, the ready file it writes once serving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.paths import open_private, read_private

if TYPE_CHECKING:
    from labkit.group.supervisor import ConsumerGroup

__all__ = ["Instance", "spawn", "in_thread"]


class Instance:
    """One member of a :class:`~labkit.group.supervisor.ConsumerGroup`: a worker process (``proc``) or a
    processor on a thread (``processor``), and the files it writes."""

    def __init__(self, name: str, proc: subprocess.Popen | None = None, processor: Any = None,
                 ready_file: Path | None = None, log_file: Path | None = None) -> None:
        self.name, self.proc, self.processor = name, proc, processor
        self.ready_file, self.log_file = ready_file, log_file
        self.started = time.time()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.processor is not None and self.processor.running

    def ready(self) -> dict | None:
        if self.ready_file is None:
            return None
        try:
            return json.loads(read_private(self.ready_file))
        except (OSError, ValueError):  # not written yet (or not a file labkit wrote)
            return None


def spawn(group: ConsumerGroup, name: str, group_instance_id: str | None) -> Instance:
    """``name`` started as ``python -m labkit.group.worker`` with ``group``'s settings, mode, failure
    injector and options; its console output goes to ``<log_dir>/<name>.out``."""
    ready = group.log_dir / f"{name}.ready.json"
    ready.unlink(missing_ok=True)
    log_file = group.log_dir / f"{name}.log"
    cmd = [sys.executable, "-m", "labkit.group.worker", "--name", name, "--mode", group.mode,
           "--settings-json", json.dumps(asdict(group.settings)), "--run-id", group.run_id,
           "--ready-file", str(ready), "--parent-pid", str(os.getpid()), "--log-file", str(log_file),
           "--transient-rate", str(group.injector_args["transient_rate"]),
           "--fail-first", str(group.injector_args["fail_first"]),
           "--latency-s", str(group.injector_args["latency_s"])]
    if group.assignor:
        cmd += ["--assignor", group.assignor]
    if group.max_poll_records:
        cmd += ["--max-poll-records", str(group.max_poll_records)]
    if group_instance_id:
        cmd += ["--group-instance-id", group_instance_id]
    cmd += ["--http-port", "18083"] if group.http else ["--no-http"]
    cmd += group.extra_args
    out = os.fdopen(open_private(group.log_dir / f"{name}.out"), "ab")
    try:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        out.close()
    return Instance(name, proc=proc, ready_file=ready, log_file=log_file)


def in_thread(group: ConsumerGroup, name: str, group_instance_id: str | None) -> Instance:
    """``name`` started as an :class:`~labkit.engine.processor.OrderProcessor` on a thread of this
    process, with ``group``'s settings, mode, failure injector and options (no crash possible)."""
    from labkit.engine.injection import FailureInjector
    from labkit.engine.processor import OrderProcessor
    from labkit.kafka.clients import assignors

    overrides: dict[str, Any] = {}
    if assignors(group.assignor) is not None:
        overrides["partition_assignment_strategy"] = assignors(group.assignor)
    if group_instance_id:
        overrides["group_instance_id"] = group_instance_id
    rate = group.injector_args["transient_rate"]
    injector = FailureInjector(transient=rate > 0, rate=rate or 1.0, fail_first=group.injector_args["fail_first"],
                               latency_s=group.injector_args["latency_s"])
    extra = {"max_poll_records": group.max_poll_records} if group.max_poll_records else {}
    processor = OrderProcessor(group.settings, mode=group.mode, injector=injector, events=group.events,
                               consumer_id=name, consumer_overrides=overrides, **extra)
    processor.start()
    return Instance(name, processor=processor)
