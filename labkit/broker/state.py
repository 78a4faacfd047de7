"""Where labkit keeps what it started: one JSON record per broker port, in a per-user state dir.

A record holds the PID, the process start time and its command line, the engine and the address.
``labkit broker down`` from any other process reads it and signals that PID only while it still is
the process labkit started: same start time (a PID reused after a reboot is another process) and a
command line that is this engine's broker (a record naming any other process, by accident or forged,
is dropped and said so, never signalled). Records are written atomically, ``0600``, never through a
link (:mod:`labkit.paths`); a broker's log is opened the same way.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from labkit.paths import UnsafePath, open_private, read_private, state_dir, write_private

# What the command line of each engine's broker contains (jvm.py and embedded.py build them).
SIGNATURES = {"kafka": ("kafka.Kafka",), "embedded": ("broker", "--listener-url")}


@dataclass(frozen=True)
class BrokerRecord:
    engine: str
    host: str
    port: int
    pid: int
    started_at: float  # psutil create_time of the process
    log: str
    cmdline: list[str] = field(default_factory=list)  # the argv labkit started it with ([] in older records)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def process(self) -> psutil.Process | None:
        """The running process this record names, if it still is the one labkit started; else None."""
        return self.identify()[0]

    def alive(self) -> bool:
        """True while *our* process runs (same PID, same start time, this engine's broker, not a zombie)."""
        return self.process() is not None

    def identify(self) -> tuple[psutil.Process | None, str | None]:
        """``(process, None)`` while the PID is the broker labkit started; ``(None, None)`` when nothing
        runs under it any more; ``(None, why)`` when another process does (never to be signalled)."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.started_at) >= 1.0:
                return None, f"pid {self.pid} is another process now (started at another time: a reused PID)"
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None, None
            actual = proc.cmdline()
        except psutil.NoSuchProcess:
            return None, None
        except psutil.Error as exc:
            return None, f"pid {self.pid} cannot be inspected ({type(exc).__name__})"
        marks = SIGNATURES.get(self.engine, ())
        recorded = [str(a) for a in self.cmdline[1:]]
        if not (marks or recorded) or not all(m in actual for m in marks) or not set(recorded) <= set(actual):
            shown = shlex.join(actual)
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            return None, f"pid {self.pid} runs `{shown}`, not the {self.engine} broker labkit started"
        return proc, None


def _path(port: int) -> Path:
    return state_dir() / f"broker-{port}.json"


def save(record: BrokerRecord) -> None:
    write_private(_path(record.port), json.dumps(asdict(record), indent=2))


def _read(path: Path) -> BrokerRecord:
    data = json.loads(read_private(path))
    if not isinstance(data, dict):
        raise TypeError("not a record")
    record = BrokerRecord(**data)
    if not isinstance(record.pid, int) or not isinstance(record.port, int) or not isinstance(record.cmdline, list):
        raise TypeError("not a record")
    return record


def load(port: int) -> BrokerRecord | None:
    try:
        return _read(_path(port))
    except (FileNotFoundError, UnsafePath, ValueError, TypeError):
        return None


def forget(port: int) -> None:
    _path(port).unlink(missing_ok=True)


def all_records() -> list[BrokerRecord]:
    """Every record of the state dir; an unreadable one (or a link) is removed."""
    records = []
    for path in sorted(state_dir().glob("broker-*.json")):
        try:
            records.append(_read(path))
        except FileNotFoundError:
            continue
        except (UnsafePath, ValueError, TypeError):
            path.unlink(missing_ok=True)
    return records


def stop_process(record: BrokerRecord, grace_s: float) -> str:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL. Returns how it ended.

    Only the process labkit started is signalled (:meth:`BrokerRecord.process`); a record naming any
    other process is answered ``not signalled: ...`` (the caller drops the record)."""
    proc, why = record.identify()
    if proc is None:
        return "was not running" if why is None else f"not signalled: {why}; stale record dropped"
    try:
        proc.send_signal(signal.SIGTERM)  # psutil checks it is still the same process (PID and start time)
        if wait_gone(record, grace_s):  # not proc.wait(): from another process a dead broker is a
            return "stopped"            # zombie until its parent reaps it, and wait() would time out
        proc.kill()
    except psutil.NoSuchProcess:
        return "stopped"
    wait_gone(record, 10.0)
    return f"killed (did not stop within {grace_s:.0f} s of SIGTERM)"


def tail(path: str | Path, lines: int = 15) -> str:
    try:
        text = read_private(path).splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def wait_gone(record: BrokerRecord, timeout_s: float = 5.0) -> bool:
    end = time.monotonic() + timeout_s
    while record.alive() and time.monotonic() < end:
        time.sleep(0.02)
    return not record.alive()


def launch(engine: str, what: str, argv: list[str], host: str, port: int, log_path: Path, timeout_s: float,
           env: dict[str, str] | None = None) -> BrokerRecord:
    """Start a broker process and wait until it answers a Kafka metadata request; its record.

    Output goes to ``log_path`` (truncated: an old line cannot fool anyone; ``0600``, never through
    a link: a link there is a ``BrokerError`` and nothing is started); the process gets its
    own session, so it outlives ``labkit broker up`` and Ctrl+C in a notebook does not reach it.
    Not ready within ``timeout_s`` (or dead): it is killed and a ``BrokerError`` names ``what``,
    the reason and the last lines of its log.
    """
    from labkit.broker.errors import BrokerError
    from labkit.kafka.probe import wait_until_ready

    try:
        fd = open_private(log_path, truncate=True)
    except UnsafePath as exc:
        raise BrokerError(f"{what} was not started: its log {exc}") from None
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    record = BrokerRecord(engine, host, port, proc.pid, psutil.Process(proc.pid).create_time(), str(log_path),
                          [str(a) for a in argv])
    found = wait_until_ready(host, port, timeout_s, alive=lambda: proc.poll() is None)
    if not found.ok:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        raise BrokerError(f"{what} did not become ready on {host}:{port} within {timeout_s:.0f} s "
                          f"({found.detail}). Last lines of {log_path}:\n{tail(log_path)}")
    return record
