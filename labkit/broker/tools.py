"""Apache Kafka's own command-line tools, installed as commands by pip: ``kafka-topics``, ...

Each command runs the real tool class of Kafka (``org.apache.kafka.tools.TopicCommand`` for
``kafka-topics``, as Kafka's ``bin/kafka-topics.sh`` does) from labkit's cached jars on the same Java
as the broker, so the module's commands work as printed, without ``docker exec kafka``::

    kafka-topics --create --topic orders --partitions 6 --replication-factor 1 --bootstrap-server localhost:9092
    kafka-console-consumer --topic orders.DLT --from-beginning --max-messages 1 --bootstrap-server localhost:9092
    kafka-consumer-groups --describe --group orders-consumer-group --bootstrap-server localhost:9092

The first use downloads Kafka's jars if the broker has not already (a progress bar on stderr).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from labkit.broker import jars, java
from labkit.broker.errors import BrokerError

# command -> (main class, heap): the classes and heaps of Kafka 4.4's bin/*.sh scripts
TOOLS = {
    "kafka-topics": ("org.apache.kafka.tools.TopicCommand", "256m"),
    "kafka-console-consumer": ("org.apache.kafka.tools.consumer.ConsoleConsumer", "512m"),
    "kafka-console-producer": ("org.apache.kafka.tools.ConsoleProducer", "512m"),
    "kafka-consumer-groups": ("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "256m"),
    "kafka-configs": ("org.apache.kafka.tools.ConfigCommand", "256m"),
    "kafka-console-share-consumer": ("org.apache.kafka.tools.consumer.ConsoleShareConsumer", "512m"),
    "kafka-share-groups": ("org.apache.kafka.tools.consumer.group.ShareGroupCommand", "256m"),
}
# A tool runs for a second: the JIT's first tier and the serial GC start fastest.
JVM_OPTS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]


def commands_on_path(env: dict[str, str] | None = None) -> None:
    """Put this Python's script folder (``labkit``, ``kafka-topics``, ...) first on ``PATH`` of ``env``
    (default: this process's environment), once. A notebook kernel started from a venv that was never activated has the
    venv's Python but not its scripts on ``PATH``, so ``!kafka-topics`` would not be found."""
    env = os.environ if env is None else env
    scripts = str(Path(sys.executable).parent)
    parts = env.get("PATH", "").split(os.pathsep)
    if scripts not in parts:
        env["PATH"] = os.pathsep.join([scripts, *filter(None, parts)])


def command(tool: str, args: list[str]) -> list[str]:
    """The ``java`` command line that runs Kafka's ``tool`` with ``args``."""
    main_class, heap = TOOLS[tool]
    runtime = java.find()
    lib = jars.lib_dir()
    config = Path(__file__).with_name("tools-log4j2.properties")
    return [runtime.path, f"-Xmx{heap}", *JVM_OPTS, f"-Dlog4j2.configurationFile={config}",
            "-cp", f"{lib}{os.sep}*", main_class, *args]


def run(tool: str, args: list[str] | None = None) -> int:
    """Run Kafka's ``tool``; on POSIX the Python process becomes the JVM (signals and exit code are Kafka's)."""
    args = sys.argv[1:] if args is None else args
    try:
        argv = command(tool, args)
    except BrokerError as exc:
        print(f"{tool}: error: {exc}", file=sys.stderr)
        return 1
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(argv[0], argv)
    try:
        return subprocess.call(argv)
    except KeyboardInterrupt:
        return 130


def main() -> None:
    """Entry point of every tool command: which tool is read from the command's own name."""
    name = Path(sys.argv[0]).name.removesuffix(".exe")
    if name not in TOOLS:
        sys.exit(f"labkit.broker.tools: run as one of {', '.join(TOOLS)} (got {name!r})")
    sys.exit(run(name))
