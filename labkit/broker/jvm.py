"""The ``kafka`` engine: Apache Kafka 4.x (KRaft, combined broker+controller) on Java 17+.

Jars come from Maven Central through the pom shipped here (``mvn dependency:copy-dependencies``),
cached once per Kafka version. Each port gets its own config and data directory, formatted once,
so data survives a restart (unlike the embedded broker). Recipe: apache-kafka-from-maven.md.
"""

from __future__ import annotations

import importlib.resources
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from labkit.broker.errors import BrokerError
from labkit.broker.probe import port_is_free
from labkit.broker.state import BrokerRecord, cache_dir, launch, state_dir

ENGINE = "kafka"
KAFKA_VERSION = "4.1.1"
STOP_GRACE_S = 30.0  # SIGTERM runs Kafka's controlled shutdown; give it time before SIGKILL
HEAP = ["-Xms384m", "-Xmx384m"]
JVM_OPTS = ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true", "-XX:TieredStopAtLevel=1"]  # C1 only: faster start on 2 cores


def _resource(name: str) -> Path:
    return Path(str(importlib.resources.files("labkit.broker") / name))


def java_major() -> int:
    """Major version of ``java`` on PATH; BrokerError if there is none."""
    java = shutil.which("java")
    if not java:
        raise BrokerError(
            "--engine kafka needs Java 17 or newer, and no 'java' is on PATH: install a JDK "
            "(apt install openjdk-17-jre-headless, or conda install openjdk=17) or use --engine embedded"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise BrokerError(f"could not read the Java version from: {out.stderr.strip()[:200]}")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major


def check_java() -> None:
    major = java_major()
    if major < 17:
        raise BrokerError(
            f"--engine kafka needs Java 17 or newer (Kafka 4.x), found Java {major}: install a newer JDK "
            "or use --engine embedded"
        )


def lib_dir() -> Path:
    """The jars of Kafka ``KAFKA_VERSION``, fetched with Maven the first time."""
    lib = cache_dir() / f"kafka-{KAFKA_VERSION}" / "lib"
    if (lib / ".complete").exists():
        return lib
    mvn = shutil.which("mvn")
    if not mvn:
        raise BrokerError(
            "--engine kafka downloads Apache Kafka's jars with Maven, and no 'mvn' is on PATH: install Maven "
            "(apt install maven, or conda install maven) or use --engine embedded"
        )
    if lib.exists():
        shutil.rmtree(lib)  # never mix two Kafka versions' jars
    lib.mkdir(parents=True)
    cmd = [mvn, "-q", "-B", "-f", str(_resource("pom.xml")), "dependency:copy-dependencies",
           f"-DoutputDirectory={lib}", f"-Dkafka.version={KAFKA_VERSION}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as exc:
        raise BrokerError("Maven did not finish downloading Kafka's jars within 10 minutes") from exc
    if done.returncode != 0 or not any(lib.glob("kafka_2.13-*.jar")):
        raise BrokerError(f"Maven could not fetch Kafka {KAFKA_VERSION}: {(done.stdout + done.stderr)[-800:]}")
    (lib / ".complete").write_text(KAFKA_VERSION)
    return lib


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def home(port: int) -> Path:
    """Config, data and logs of the broker on ``port``."""
    return state_dir() / f"kafka-{port}"


def _configure(host: str, port: int) -> Path:
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
            ["java", "-Xmx256m", f"-Dlog4j2.configurationFile={_resource('log4j2.properties')}",
             "-cp", f"{lib_dir()}/*", "kafka.tools.StorageTool", "format",
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
    check_java()
    lib = lib_dir()
    config = _configure(host, port)
    cport = controller_port(port)
    if cport and not port_is_free(host, cport):
        raise BrokerError(f"Kafka's controller port {cport} is taken; free it or run: labkit broker reset --port {port}")
    log_path = home(port) / "broker.log"
    return launch(ENGINE, "Apache Kafka",
                  ["java", *HEAP, *JVM_OPTS, f"-Dkafka.logs.dir={home(port)}",
                   f"-Dlog4j2.configurationFile={_resource('log4j2.properties')}",
                   "-cp", f"{lib}/*", "kafka.Kafka", str(config)],
                  host, port, log_path, timeout_s)


def reset(port: int) -> None:
    """Delete the data and config of the broker on ``port`` (it must be stopped)."""
    shutil.rmtree(home(port), ignore_errors=True)
