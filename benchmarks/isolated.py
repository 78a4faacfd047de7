"""A benchmark's own broker corner: a free port and a private state dir, removed when it exits.

Why: a benchmark must never touch a student's broker on 9092 nor their state dir, and must not
leave broker data behind in /tmp (a full run used to leave a directory per benchmark).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from labkit import broker
from labkit.settings import Settings, load

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


@contextlib.contextmanager
def own_broker(engine: str, prefix: str = "labkit-bench-") -> Iterator[Settings]:
    """A broker of ``engine`` on a free port with a private state dir: its settings, for the ``with``
    block; stopped and its data removed when the block ends, also on errors."""
    private_state_dir(prefix)
    settings = load(bootstrap_servers=f"127.0.0.1:{free_port()}")
    broker.up(engine, settings=settings)
    try:
        yield settings
    finally:
        broker.down(settings=settings)
        broker.reset(settings=settings)


def keep(path: Path) -> None:
    """Keep ``path`` after exit (say, the logs of a failed chaos run)."""
    _kept.add(path)
