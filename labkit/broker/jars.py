"""Apache Kafka's jars, downloaded once from Maven Central by the lock file shipped with labkit.

``kafka-<version>.lock`` (written by ``scripts/lock_kafka_jars.py``) names every jar the broker and
its CLI tools need, with its SHA-256 and size: no Maven, no resolver, nothing but the standard
library. :func:`lib_dir` returns the cached jar folder, fetching what is missing or corrupt:

* each jar is streamed to a ``.part`` file, hashed on the way and renamed only when its SHA-256
  matches, so an interrupted or corrupt download never counts as a jar;
* a jar already cached is re-hashed only when its size or modification time changed since it was
  checked (``.verified.json``), so a warm start costs ~90 ``stat`` calls, not 56 MB of hashing;
* jars the lock does not name are removed (two Kafka versions on one classpath fail oddly).

``$LABKIT_MAVEN_REPOSITORY`` names another repository (a mirror), ``$LABKIT_CACHE_DIR`` another
cache. Every request has a timeout; every failure is one :class:`~labkit.broker.errors.BrokerError`
line saying what to do.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.resources
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil

from labkit.broker.errors import BrokerError
from labkit.paths import cache_dir

KAFKA_VERSION = "4.4.0"
DEFAULT_REPOSITORY = "https://repo.maven.apache.org/maven2"
TIMEOUT_S = 30.0  # per connection and per read: a dead network fails in seconds, not never
WORKERS = 6       # ~90 small files: parallel requests hide the per-file round trip
_CHUNK = 256 * 1024
_MANIFEST = ".verified.json"


@dataclass(frozen=True)
class Jar:
    """One line of the lock file."""

    group: str
    artifact: str
    version: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    @property
    def path_in_repository(self) -> str:
        """Maven 2 repository layout: ``org/apache/kafka/kafka-clients/4.4.0/kafka-clients-4.4.0.jar``."""
        return f"{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.filename}"


def lock_file(version: str = KAFKA_VERSION) -> Path:
    return Path(str(importlib.resources.files("labkit.broker") / f"kafka-{version}.lock"))


def locked_jars(version: str = KAFKA_VERSION) -> list[Jar]:
    """The jars the lock file of ``version`` names."""
    jars = []
    for line in lock_file(version).read_text().splitlines():
        if line and not line.startswith("#"):
            group, artifact, jar_version, sha256, size = line.split("\t")
            jars.append(Jar(group, artifact, jar_version, sha256, int(size)))
    return jars


def repository() -> str:
    return (os.environ.get("LABKIT_MAVEN_REPOSITORY") or DEFAULT_REPOSITORY).rstrip("/")


def cached_lib(version: str = KAFKA_VERSION) -> Path:
    """Where the jars of ``version`` live (whether or not they are there yet)."""
    return cache_dir() / f"kafka-{version}" / "lib"


def lib_dir(version: str = KAFKA_VERSION, progress: Callable[[int, int], None] | None = None) -> Path:
    """The folder holding every jar of the lock, each checked; downloads what is missing or corrupt.

    ``progress(done_bytes, total_bytes)`` is called while downloading (default: a bar on stderr)."""
    jars = locked_jars(version)
    lib = None
    try:
        lib = cached_lib(version)  # creates $LABKIT_CACHE_DIR: it fails like any other write
        lib.mkdir(parents=True, exist_ok=True)
        checked = _read_manifest(lib)
        missing = [jar for jar in jars if not _is_good(lib / jar.filename, jar, checked)]
        _remove_strays(lib, {jar.filename for jar in jars})
        if missing:
            _download(missing, lib, version, progress or ProgressBar(version, sum(j.size for j in missing)))
            for jar in missing:
                _remember(lib / jar.filename, checked)
        _write_manifest(lib, checked)
    except OSError as exc:
        raise _disk_error(exc, lib or Path(exc.filename or "the cache folder")) from None
    return lib


def _is_good(path: Path, jar: Jar, checked: dict[str, list[int]]) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    if st.st_size == jar.size and checked.get(jar.filename) == [st.st_size, st.st_mtime_ns]:
        return True
    if st.st_size == jar.size and _sha256(path) == jar.sha256:
        _remember(path, checked)
        return True
    checked.pop(jar.filename, None)
    return False  # corrupt or truncated: fetched again


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _remember(path: Path, checked: dict[str, list[int]]) -> None:
    st = path.stat()
    checked[path.name] = [st.st_size, st.st_mtime_ns]


def _read_manifest(lib: Path) -> dict[str, list[int]]:
    try:
        data = json.loads((lib / _MANIFEST).read_text())
        return data if isinstance(data, dict) else {}
    except (FileNotFoundError, ValueError):
        return {}


def _write_manifest(lib: Path, checked: dict[str, list[int]]) -> None:
    tmp = lib / f"{_MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(checked, sort_keys=True))
    tmp.replace(lib / _MANIFEST)


def _remove_strays(lib: Path, wanted: set[str]) -> None:
    """Delete jars of other versions, and the ``.part`` / manifest temp files of processes that died."""
    for path in lib.iterdir():
        if path.suffix == ".jar" and path.name not in wanted:
            path.unlink(missing_ok=True)
            continue
        if ".part-" in path.name:  # <jar>.part-<pid>-<thread>
            pid = path.name.rsplit("-", 2)[-2]
        elif path.name.startswith(f"{_MANIFEST}.") and path.name.endswith(".tmp"):  # .verified.json.<pid>.tmp
            pid = path.name.split(".")[-2]
        else:
            continue
        if not (pid.isdigit() and psutil.pid_exists(int(pid))):
            path.unlink(missing_ok=True)


def _download(jars: list[Jar], lib: Path, version: str, progress: Callable[[int, int], None]) -> None:
    total = sum(jar.size for jar in jars)
    done = [0]
    lock = threading.Lock()

    def advance(n: int) -> None:
        with lock:
            done[0] += n
            progress(done[0], total)

    progress(0, total)
    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(_fetch, jar, lib, advance) for jar in jars]:
            future.result()  # the first failure raises, with its one-line message
    progress(total, total)


def _fetch(jar: Jar, lib: Path, advance: Callable[[int], None]) -> None:
    """Download one jar to a ``.part`` file, hashing as it streams; rename it when the hash matches."""
    url = f"{repository()}/{jar.path_in_repository}"
    part = lib / f"{jar.filename}.part-{os.getpid()}-{threading.get_ident()}"
    for _attempt in (1, 2):  # a checksum mismatch is fetched once more: proxies do truncate
        digest, size = hashlib.sha256(), 0
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer, open(part, "wb") as out:
                while chunk := answer.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    advance(len(chunk))
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            part.unlink(missing_ok=True)
            reason = f"HTTP {exc.code} {exc.reason}" if isinstance(exc, urllib.error.HTTPError) else (
                getattr(exc, "reason", None) or exc)
            raise BrokerError(f"could not download Kafka's jars from {repository()}: {jar.filename}: {reason}; "
                              "run once with a network (or set LABKIT_MAVEN_REPOSITORY to a mirror), "
                              "or use --engine embedded") from None
        except OSError:
            part.unlink(missing_ok=True)
            raise
        if size == jar.size and digest.hexdigest() == jar.sha256:
            part.replace(lib / jar.filename)
            return
        part.unlink(missing_ok=True)
        advance(-size)
    raise BrokerError(f"{jar.filename} from {url} does not match its SHA-256 in labkit's lock file "
                      f"(got {size} bytes): the repository or a proxy serves a different file; "
                      "set LABKIT_MAVEN_REPOSITORY to a trusted mirror, or use --engine embedded")


def _disk_error(exc: OSError, lib: Path) -> BrokerError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        need = sum(jar.size for jar in locked_jars()) / 1e6
        return BrokerError(f"no space left on the disk of {lib} (Apache Kafka's jars need {need:.0f} MB): "
                           "free some space, or set LABKIT_CACHE_DIR to a folder on another disk")
    return BrokerError(f"could not write Kafka's jars to {lib}: {exc.strerror or exc}; "
                       "set LABKIT_CACHE_DIR to a writable folder")


class ProgressBar:
    """``Apache Kafka 4.4.0 jars  23.4 / 56.2 MB  [########............]  41 %`` on stderr, redrawn
    in place (a terminal and a notebook's output both honour ``\\r``) at most 5 times a second."""

    WIDTH = 24

    def __init__(self, version: str, total: int, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.last = 0.0
        self.finished = False
        print(f"First start of Apache Kafka {version}: downloading its jars ({total / 1e6:.0f} MB) "
              f"from {repository()} into {cached_lib(version)} - once only.", file=self.stream, flush=True)

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.finished or (done < total and now - self.last < 0.2):
            return
        self.last, self.finished = now, done >= total
        filled = self.WIDTH * done // max(total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        end = "\n" if done >= total else ""
        print(f"\r  {done / 1e6:5.1f} / {total / 1e6:.1f} MB  [{bar}] {100 * done // max(total, 1):3d} %",
              end=end, file=self.stream, flush=True)
