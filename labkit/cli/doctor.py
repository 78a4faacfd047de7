"""``labkit doctor``: what this machine has and lacks for the course, one line per check, before a lab fails.

    [OK]   python        3.11.2
    [WARN] port 18082    held by python3 -m labkit (pid 4242, user bob): the order API (labkit api) cannot ...
    [WARN] jq            not found: install it (apt install jq, brew install jq) for the module's curl ... | jq

``[FAIL]`` blocks the course (``labkit lab`` stops and prints the fix: no Java where a broker must start,
a port 9092 held by something that is not Kafka, a full disk); ``[WARN]`` is a step that will work less
well (a module command whose tool is missing, a service port already taken). Every
check is quick and bounded: the broker probe has a 2 s timeout, nothing else touches the network.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit import broker
from labkit.broker import jars, java
from labkit.kafka.probe import probe
from labkit.paths import state_dir
from labkit.settings import Settings, student_from_env

__all__ = ["Check", "run_checks", "render", "blocking", "add_parser"]

OK, WARN, FAIL = "OK", "WARN", "FAIL"
API_PORT, CONSUMER_PORT, KAFKA_UI_PORT = 18082, 18083, 8080  # the module's order API, consumer, Kafka UI
MIN_FREE_DISK = 1 << 30  # the broker's data for the whole course stays well under 1 GiB


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK, WARN or FAIL
    detail: str  # what was found, and for WARN / FAIL the fix


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order a set-up meets them."""
    checks = [_python()]
    broker_check, answering = _broker(settings)
    checks += [broker_check, _java(needed=not answering), _jars(needed=not answering)]
    checks += [_port(API_PORT, "the order API (labkit api)"), _port(CONSUMER_PORT, "the consumer's /health"),
               _port(KAFKA_UI_PORT, "Kafka UI (docker compose)")]
    checks += [_tool("curl", "the module's curl commands"), _tool("jq", "the module's curl ... | jq commands"),
               _disk(), _jupyter(), _shared_machine(settings)]
    return checks


def blocking(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == FAIL]


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    return "\n".join(f"[{c.status}]{' ' * (5 - len(c.status))}{c.name:<{width}}  {c.detail}" for c in checks)


# --- the checks ----------------------------------------------------------------------------------


def _python() -> Check:
    # an older Python cannot even import labkit: make setup refuses it with the fix (PYTHON=python3.11)
    return Check("python", OK, f"{'.'.join(map(str, sys.version_info[:3]))} ({sys.executable})")


def _broker(settings: Settings) -> tuple[Check, bool]:
    host, _, port = settings.bootstrap_servers.split(",")[0].strip().rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    found = probe(host, int(port), timeout_s=2.0)
    if found.ok:
        return Check("broker", OK, f"a Kafka broker answers at {settings.bootstrap_servers}: the course uses it"), True
    if found.state == "foreign":
        return Check("broker", FAIL, f"port {port} is held by something that is not Kafka ({_holder(int(port))}): "
                                     "stop it, or name another address with --bootstrap-server / "
                                     "LABKIT_BOOTSTRAP_SERVERS"), False
    return Check("broker", OK, f"nothing answers at {settings.bootstrap_servers} yet: make lab starts Apache "
                               f"Kafka {broker.jvm.KAFKA_VERSION} there"), False


def _java(needed: bool) -> Check:
    try:
        found = java.find()
    except broker.BrokerError as exc:
        return Check("java", FAIL if needed else WARN, f"{exc}" + ("" if needed else " (not needed now: a broker "
                                                                                     "already answers)"))
    return Check("java", OK, f"{found}")


def _jars(needed: bool) -> Check:
    lib, locked = jars.cached_lib(), jars.locked_jars()
    have = {p.name for p in lib.glob("*.jar")} if lib.is_dir() else set()
    missing = [j for j in locked if j.filename not in have]
    if not missing:
        return Check("kafka jars", OK, f"{len(locked)} jars cached in {lib}")
    status = WARN if needed else OK
    return Check("kafka jars", status, f"{len(missing)} of {len(locked)} to download once from Maven Central "
                                       f"(~56 MB; a mirror: LABKIT_MAVEN_REPOSITORY) into {lib}")


def _port(port: int, what: str) -> Check:
    """A taken port is a warning, never a block: JupyterLab still opens, and the one service that needs
    the port says so when it starts (the holder may be this student's own running kernel)."""
    name = f"port {port}"
    if _port_free("127.0.0.1", port):
        return Check(name, OK, f"free for {what}")
    return Check(name, WARN, f"held by {_holder(port)}: {what} cannot start there; if that is not yours "
                             "to keep, stop it (or start the service with --port)")


def _tool(name: str, why: str) -> Check:
    path = shutil.which(name)
    if path:
        return Check(name, OK, path)
    return Check(name, WARN, f"not found: install it (apt install {name}, brew install {name}) for {why}")


def _disk() -> Check:
    where = state_dir()
    probe_dir = where if where.exists() else Path.home()
    free = shutil.disk_usage(probe_dir).free
    detail = f"{free / 2**30:.1f} GiB free for the broker's data in {where}"
    return Check("disk", OK if free >= MIN_FREE_DISK else FAIL,
                 detail if free >= MIN_FREE_DISK else detail + ": free at least 1 GiB")


def _jupyter() -> Check:
    wanted = {"jupyterlab": "JupyterLab", "ipywidgets": "the failure panel", "jupyterlab_rise": "slides (RISE)"}
    missing = [f"{mod} ({why})" for mod, why in wanted.items() if importlib.util.find_spec(mod) is None]
    if missing:
        return Check("jupyter", WARN, "missing: " + ", ".join(missing) + ' - make setup installs them')
    return Check("jupyter", OK, "JupyterLab, ipywidgets, jupyterlab-rise installed")


def _shared_machine(settings: Settings) -> Check:
    users = _other_users()
    student = student_from_env()
    if not users:
        return Check("shared machine", OK, "no other user runs the course here")
    if student:
        return Check("shared machine", OK, f"{len(users)} other user(s); yours are the {student}.* topics and group")
    return Check("shared machine", WARN, f"{len(users)} other user(s) here ({', '.join(sorted(users)[:3])}): "
                                         "set LABKIT_STUDENT=<your name> so your topics and group are your own")


# --- helpers -------------------------------------------------------------------------------------


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _holder(port: int) -> str:
    """Who listens on ``port``: ``"python3 (pid 4242, user bob)"``, or ``"another process"``."""
    import psutil

    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                proc = psutil.Process(conn.pid)
                cmd = " ".join(proc.cmdline()[:3])
                return f"{cmd or proc.name()} (pid {conn.pid}, user {proc.username()})"
    except (psutil.Error, OSError):
        pass
    return "another process"


def _other_users() -> set[str]:
    """Other users running Jupyter or labkit on this machine (a JupyterHub, a shared VM)."""
    import psutil

    me, users = os.getuid(), set()
    for proc in psutil.process_iter(["uids", "username", "cmdline"]):
        try:
            info: dict[str, Any] = proc.info
            cmd = " ".join(info.get("cmdline") or [])
            if info["uids"] and info["uids"].real != me and ("jupyter" in cmd or "labkit" in cmd):
                users.add(info["username"])
        except (psutil.Error, KeyError, TypeError):
            continue
    return users


# --- the command ---------------------------------------------------------------------------------


def cmd_doctor(args: Any) -> int:
    from labkit.settings import from_args

    checks = run_checks(from_args(args))
    print(render(checks))
    failed = blocking(checks)
    print(f"\n{len(failed)} problem(s) block the course: fix the [FAIL] lines above." if failed
          else "\nready: nothing blocks the course.")
    return 1 if failed else 0


def add_parser(subparsers: Any) -> None:
    d = subparsers.add_parser("doctor", help="check this machine for the course: one line per check, with the fix",
                              description="Python, the broker that will run and why, Java, Kafka's jars, the "
                                          "module's ports, curl and jq, disk, JupyterLab, a shared machine. "
                                          "Exit 1 if something blocks the course.")
    d.set_defaults(func=cmd_doctor)
