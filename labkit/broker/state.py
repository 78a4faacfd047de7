"""Where labkit keeps what it started: one JSON record per broker port, in a per-user state dir.

A record holds the PID, the process start time (so a recycled PID is never killed), the engine
and the address. ``labkit broker down`` from any other process reads it and stops exactly that PID.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from labkit.paths import state_dir


@dataclass(frozen=True)
class BrokerRecord:
    engine: str
    host: str
    port: int
    pid: int
    started_at: float  # psutil create_time of the process
    log: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def alive(self) -> bool:
        """True while *our* process runs (same PID and same start time, not a zombie)."""
        try:
            proc = psutil.Process(self.pid)
            return abs(proc.create_time() - self.started_at) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False


def _path(port: int) -> Path:
    return state_dir() / f"broker-{port}.json"


def save(record: BrokerRecord) -> None:
    tmp = _path(record.port).with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2))
    tmp.replace(_path(record.port))


def load(port: int) -> BrokerRecord | None:
    try:
        return BrokerRecord(**json.loads(_path(port).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def forget(port: int) -> None:
    _path(port).unlink(missing_ok=True)


def all_records() -> list[BrokerRecord]:
    records = []
    for path in sorted(state_dir().glob("broker-*.json")):
        try:
            records.append(BrokerRecord(**json.loads(path.read_text())))
        except (ValueError, TypeError):
            path.unlink(missing_ok=True)
    return records


def stop_process(record: BrokerRecord, grace_s: float) -> str:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL. Returns how it ended."""
    if not record.alive():
        return "was not running"
    try:
        psutil.Process(record.pid).send_signal(signal.SIGTERM)
        if wait_gone(record, grace_s):  # not proc.wait(): from another process a dead broker is a
            return "stopped"            # zombie until its parent reaps it, and wait() would time out
        psutil.Process(record.pid).kill()
    except psutil.NoSuchProcess:
        return "stopped"
    wait_gone(record, 10.0)
    return f"killed (did not stop within {grace_s:.0f} s of SIGTERM)"


def tail(path: str | Path, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()
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

    Output goes to ``log_path`` (truncated: an old line cannot fool anyone); the process gets its
    own session, so it outlives ``labkit broker up`` and Ctrl+C in a notebook does not reach it.
    Not ready within ``timeout_s`` (or dead): it is killed and a ``BrokerError`` names ``what``,
    the reason and the last lines of its log.
    """
    from labkit.broker.errors import BrokerError
    from labkit.kafka.probe import wait_until_ready

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    record = BrokerRecord(engine, host, port, proc.pid, psutil.Process(proc.pid).create_time(), str(log_path))
    found = wait_until_ready(host, port, timeout_s, alive=lambda: proc.poll() is None)
    if not found.ok:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        raise BrokerError(f"{what} did not become ready on {host}:{port} within {timeout_s:.0f} s "
                          f"({found.detail}). Last lines of {log_path}:\n{tail(log_path)}")
    return record
