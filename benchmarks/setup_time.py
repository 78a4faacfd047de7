"""How long the course's set-up takes on a fresh machine: pip versus uv, both with a cold cache.

    python benchmarks/setup_time.py [--runs 1]

Each run makes a new venv in a temp dir and installs the course (``-e ".[test]"``, what ``make setup``
installs) with an empty download cache: once with pip (``--no-cache-dir``), once with uv bootstrapped
from PyPI into the venv (``pip install uv``, then ``uv pip install``, its cache in a new temp dir), as the
Makefile does. The wheels still come over the network (or from ``PIP_FIND_LINKS``): that is the cold
case a student's first ``make lab`` meets. Prints a Markdown table, seconds per step.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 900  # a stuck index must not hang the benchmark


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, timeout=TIMEOUT_S, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def one_run() -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="labkit-setup-"))
    env = dict(os.environ, UV_CACHE_DIR=str(work / "uv-cache"))
    find_links = ["--find-links", os.environ["PIP_FIND_LINKS"]] if os.environ.get("PIP_FIND_LINKS") else []
    try:
        out = {}
        out["venv"] = timed([sys.executable, "-m", "venv", str(work / "pip")], env)
        pip = str(work / "pip" / "bin" / "python")
        out["pip install"] = timed([pip, "-m", "pip", "install", "-q", "--no-cache-dir", "-e", ".[test]"], env)
        timed([sys.executable, "-m", "venv", str(work / "uv")], env)
        py = str(work / "uv" / "bin" / "python")
        out["uv bootstrap (pip install uv)"] = timed([py, "-m", "pip", "install", "-q", "--no-cache-dir", "uv"], env)
        out["uv pip install"] = timed([str(work / "uv" / "bin" / "uv"), "pip", "install", "-q", "--python", py,
                                       "--native-tls", *find_links, "-e", ".[test]"], env)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    print(f"### Installing the course in a new venv, cold caches, median of {args.runs} run(s)\n")
    print("| step | seconds |")
    print("|---|---|")
    for step in runs[0]:
        print(f"| {step} | {statistics.median(r[step] for r in runs):.1f} |")
    pip_total = statistics.median(r["pip install"] for r in runs)
    uv_total = statistics.median(r["uv bootstrap (pip install uv)"] + r["uv pip install"] for r in runs)
    print(f"| **pip, in all** | **{pip_total:.1f}** |")
    print(f"| **uv, bootstrap included (what make setup does)** | **{uv_total:.1f}** |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
