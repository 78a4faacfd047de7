"""One frozen settings object: where the broker is, the course's topic names, client timeouts.

Kafka names with units (``session_timeout_ms``), validated when built, so a bad value fails at
once with a clear message instead of deep inside kafka-python. Read from the environment by
:func:`load`:

* ``LABKIT_BOOTSTRAP_SERVERS`` (fallback ``KAFKA_BOOTSTRAP_SERVERS``, default ``127.0.0.1:9092``)
* ``LABKIT_FAST=1`` shrinks waits and backoffs for CI without changing the logic.
* ``LABKIT_STUDENT`` (fallback ``JUPYTERHUB_USER``): on a machine many students share, each one's
  topics and group get the student's name as a prefix (``alice.orders``, ``alice.orders-consumer-group``):
  one broker, and nobody sees another's orders. Unset on a laptop: the module's own names.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")
MAX_STUDENT_LEN = 40  # Kafka topic names stop at 249 characters; the prefix stays readable


class SettingsError(ValueError):
    """A setting is invalid; the message says which and why."""


def bootstrap_from_env(env: dict[str, str] | None = None) -> str:
    """The bootstrap servers named by the environment, or the course default."""
    env = os.environ if env is None else env
    return env.get("LABKIT_BOOTSTRAP_SERVERS") or env.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_BOOTSTRAP


def fast_mode(env: dict[str, str] | None = None) -> bool:
    """True when ``LABKIT_FAST`` asks for shrunken waits (CI, headless runs)."""
    env = os.environ if env is None else env
    return env.get("LABKIT_FAST", "").strip().lower() in {"1", "true", "yes", "on"}


def student_name(raw: str) -> str:
    """A student's name as a topic-name prefix: lower case, anything but letters, digits, ``-``
    and ``_`` becomes ``-`` (a JupyterHub user may be an e-mail address).

    >>> student_name("Alice"), student_name("jean.dupont@ecole.fr")
    ('alice', 'jean-dupont-ecole-fr')
    """
    name = "".join(c if c in _NAME_CHARS else "-" for c in raw.strip().lower()).strip("-_")
    if not name:
        raise SettingsError(f"LABKIT_STUDENT must contain a letter or a digit, got {raw!r}")
    if len(name) > MAX_STUDENT_LEN:
        raise SettingsError(f"LABKIT_STUDENT is at most {MAX_STUDENT_LEN} characters, got {len(name)}: {raw!r}")
    return name


def student_from_env(env: dict[str, str] | None = None) -> str:
    """The student this environment names (``LABKIT_STUDENT``, else JupyterHub's user), or ``""``."""
    env = os.environ if env is None else env
    raw = env.get("LABKIT_STUDENT") or env.get("JUPYTERHUB_USER") or ""
    return student_name(raw) if raw.strip() else ""


@dataclass(frozen=True)
class Settings:
    """Everything a labkit client needs to know. Build with :func:`load` or ``Settings(...)``.

    Consumer defaults are *short sessions* on purpose, so a class sees rebalances happen: a member
    learns that the group is rebalancing from the answer to its next heartbeat, so a 1 s
    ``heartbeat_interval_ms`` settles a join or a clean leave in about a second, and a crashed
    consumer (no LeaveGroup) is evicted once ``session_timeout_ms`` (6 s, the lowest Apache Kafka
    accepts by default: ``group.min.session.timeout.ms``) passes without a heartbeat.
    kafka-python's defaults (45 s / 3 s) would mean a 45 s wait for a crash. Safe, because
    heartbeats come from a background thread, not from ``poll()``.
    Measured on Apache Kafka 4.4 (``benchmarks/rebalance_latency.py``): join 0.5 s, clean leave
    ~1 s, crash 6.0 s.
    """

    bootstrap_servers: str = DEFAULT_BOOTSTRAP
    orders_topic: str = "orders"
    dlt_topic: str = "orders.DLT"
    retry_topic: str = "orders.retry"
    events_topic: str = "labkit.events"  # consumer processes ship their events here (1 partition)
    group_id: str = "orders-consumer-group"
    orders_partitions: int = 6
    dlt_partitions: int = 3
    retry_partitions: int = 3
    replication_factor: int = 1
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1000
    max_poll_interval_ms: int = 300_000
    request_timeout_ms: int = 10_000
    api_timeout_ms: int = 10_000
    fast: bool = False
    student: str = ""  # whose namespace these names are in ("" = the module's own names)

    def __post_init__(self) -> None:
        if not self.bootstrap_servers or any(":" not in s for s in self.servers):
            raise SettingsError(
                f"bootstrap_servers must look like 'host:port[,host:port]', got {self.bootstrap_servers!r}"
            )
        for name in ("orders_partitions", "dlt_partitions", "retry_partitions", "replication_factor"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise SettingsError(
                f"heartbeat_interval_ms ({self.heartbeat_interval_ms}) must be lower than "
                f"session_timeout_ms ({self.session_timeout_ms}); Kafka advises at most a third of it"
            )
        if self.max_poll_interval_ms < self.session_timeout_ms:
            raise SettingsError("max_poll_interval_ms must be >= session_timeout_ms")

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]

    @property
    def host_port(self) -> tuple[str, int]:
        """The first bootstrap server as ``(host, port)``."""
        host, _, port = self.servers[0].rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def topics(self) -> dict[str, int]:
        """The course topics and their partition counts."""
        return {
            self.orders_topic: self.orders_partitions,
            self.dlt_topic: self.dlt_partitions,
            self.retry_topic: self.retry_partitions,
        }

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)

    def for_student(self, student: str) -> Settings:
        """The same settings in ``student``'s namespace: topics and group named ``<student>.<name>``.

        >>> s = Settings().for_student("Alice")
        >>> s.student, s.orders_topic, s.dlt_topic, s.group_id
        ('alice', 'alice.orders', 'alice.orders.DLT', 'alice.orders-consumer-group')
        """
        name = student_name(student)
        return self.replace(student="").with_prefix(f"{name}.").replace(student=name)

    def with_prefix(self, prefix: str) -> Settings:
        """The same settings with topic and group names prefixed (isolated tests and demos), inside
        the student's namespace if there is one.

        >>> Settings().for_student("bob").with_prefix("nb08-replay-").orders_topic
        'bob.nb08-replay-orders'
        """
        prefix = f"{self.student}.{prefix}" if self.student else prefix
        return self.replace(
            orders_topic=f"{prefix}orders",
            dlt_topic=f"{prefix}orders.DLT",
            retry_topic=f"{prefix}orders.retry",
            events_topic=f"{prefix}labkit.events",
            group_id=f"{prefix}orders-consumer-group",
        )


def load(**overrides) -> Settings:
    """Settings from the environment, with keyword overrides; in the student's namespace when the
    environment names one (``LABKIT_STUDENT``), unless ``student=""`` is given."""
    values: dict[str, Any] = {"bootstrap_servers": bootstrap_from_env(), "fast": fast_mode()}
    student = overrides.pop("student", None)
    values.update(overrides)
    settings = Settings(**values)
    student = student_from_env() if student is None else student
    if student and not settings.student:
        named = {k for k in overrides if k in {"orders_topic", "dlt_topic", "retry_topic", "events_topic", "group_id"}}
        spaced = settings.for_student(student)
        settings = spaced.replace(**{k: getattr(settings, k) for k in named})  # explicit names win
    return settings


def from_args(args: Any) -> Settings:
    """The settings a command line asks for (an ``argparse.Namespace``; options it lacks are ignored),
    over :func:`load`'s: every ``labkit`` command reads its options through here.

    ``settings_json`` (a whole Settings, as ConsumerGroup passes it to its workers), else the broker
    address (``bootstrap_servers`` of a command, else labkit's global ``--bootstrap-server``; ``broker_port``
    keeps the host and changes the port) and the hidden ``prefix``; then Kafka client options
    (``session_timeout_ms``, ``heartbeat_interval_ms``: a third of the session when only that is given,
    ``max_poll_interval_ms``, ``group_id``) and ``fast``.

    >>> import argparse
    >>> s = from_args(argparse.Namespace(bootstrap_server="kafka:29092", session_timeout_ms=3000))
    >>> s.bootstrap_servers, s.session_timeout_ms, s.heartbeat_interval_ms
    ('kafka:29092', 3000, 1000)
    """
    def option(name: str) -> Any:
        return getattr(args, name, None)

    if option("settings_json"):
        settings = Settings(**json.loads(args.settings_json))
    else:
        overrides = {}
        servers = option("bootstrap_servers") or option("bootstrap_server")
        if servers:
            overrides["bootstrap_servers"] = servers
        if option("broker_port"):
            host, _ = load(**overrides).host_port
            overrides["bootstrap_servers"] = f"{host}:{args.broker_port}"
        settings = load(**overrides)
        if option("prefix"):
            settings = settings.with_prefix(args.prefix)
    changes = {name: option(name) for name in ("session_timeout_ms", "heartbeat_interval_ms",
                                               "max_poll_interval_ms", "group_id") if option(name) is not None}
    if "session_timeout_ms" in changes and "heartbeat_interval_ms" not in changes:
        changes["heartbeat_interval_ms"] = max(100, changes["session_timeout_ms"] // 3)
    if option("fast"):
        changes["fast"] = True
    return dataclasses.replace(settings, **changes) if changes else settings
