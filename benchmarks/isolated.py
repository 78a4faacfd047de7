"""A benchmark's own broker corner: a free port and a private state dir, removed when it exits.

Why: a benchmark must never touch a student's broker on 9092 nor their state dir, and must not
leave broker data behind in /tmp (a full run used to leave a directory per benchmark).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

_kept: set[Path] = set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_state_dir(prefix: str = "labkit-bench-") -> Path:
    """A new temp dir exported as ``LABKIT_STATE_DIR``; removed at exit unless :func:`keep` was called
    (after the benchmark's own ``finally: broker.down(...)``, which runs first)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["LABKIT_STATE_DIR"] = str(path)
    atexit.register(lambda: path in _kept or shutil.rmtree(path, ignore_errors=True))
    return path


def stop_process(proc: subprocess.Popen | None) -> None:
    """Stop a process the benchmark started (its API): SIGTERM, then SIGKILL if it ignores it for 30 s."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def keep(path: Path) -> None:
    """Keep ``path`` after exit (say, the logs of a failed chaos run)."""
    _kept.add(path)
