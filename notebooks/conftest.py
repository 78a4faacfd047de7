"""When pytest executes the notebooks (nbval), give them their own broker.

A free port, a private state dir and ``LABKIT_FAST=1`` are exported before any kernel starts, so
each notebook's ``broker.ensure()`` finds this broker instead of a student's broker on 9092.
``LABKIT_TEST_ENGINE`` picks the engine (``kafka``, Apache Kafka 4.4, by default; ``embedded`` for the lite one).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

from labkit import broker
from labkit.settings import load

_started = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_configure(config):
    engine = os.environ.get("LABKIT_TEST_ENGINE", "kafka")
    os.environ["LABKIT_FAST"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    if engine == "external":
        return
    _started["state_dir"] = os.environ["LABKIT_STATE_DIR"] = tempfile.mkdtemp(prefix="labkit-nb-")
    os.environ["LABKIT_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{_free_port()}"
    settings = load()
    _started["info"] = broker.up(engine, settings=settings)
    _started["settings"] = settings


# Notebooks that need a feature the lite embedded broker (Tansu) lacks: on it they are deselected, and
# tests/integration/test_share_group.py checks that such a notebook's first cell says why and stops.
NEEDS_APACHE_KAFKA = {"09_share_groups.ipynb": "share groups (KIP-932)"}


def pytest_collection_modifyitems(config, items):
    if os.environ.get("LABKIT_TEST_ENGINE", "kafka") != "embedded":
        return
    # The French edition runs the same code as the English one (tests/test_french_edition.py proves it):
    # executing it on one engine, the default, is enough.
    kept = [item for item in items
            if item.path.name not in NEEDS_APACHE_KAFKA and item.path.parent.name != "fr"]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def pytest_report_header(config):
    info = _started.get("info")
    header = f"notebooks run against: {info}" if info else "notebooks run against: external broker"
    if os.environ.get("LABKIT_TEST_ENGINE", "kafka") == "embedded":
        header += "; not run here (they need Apache Kafka): " + ", ".join(
            f"{name} ({why})" for name, why in NEEDS_APACHE_KAFKA.items()) + "; the French edition (run on kafka)"
    return header


def pytest_unconfigure(config):
    info = _started.pop("info", None)
    if info and info.started:
        try:
            broker.down(settings=_started.pop("settings"), all_ports=True)
        except broker.BrokerError:
            pass  # already stopped: 10_checkpoint_and_cleanup stops the broker as its last step
    state_dir = _started.pop("state_dir", None)
    if state_dir:  # the broker's data and logs: one directory per run would pile up in /tmp
        shutil.rmtree(state_dir, ignore_errors=True)
