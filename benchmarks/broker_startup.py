"""Time to ready and resident memory of the broker process, embedded vs Apache Kafka (median of 5).

    python benchmarks/broker_startup.py [--runs 5] [--engines embedded,kafka]

Each run starts a broker on a free port in a private state dir, measures the time until it answers a
Kafka Metadata request, reads its RSS once ready and again after creating the course topics, then stops it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import psutil

from labkit import broker, topics
from labkit.settings import load
from isolated import free_port, private_state_dir


def one_run(engine: str) -> tuple[float, float, float]:
    settings = load(bootstrap_servers=f"127.0.0.1:{free_port()}")
    start = time.perf_counter()
    info = broker.up(engine, settings=settings)
    ready_s = time.perf_counter() - start
    try:
        rss_ready = psutil.Process(info.pid).memory_info().rss / 2**20
        topics.create(settings)
        rss_topics = psutil.Process(info.pid).memory_info().rss / 2**20
    finally:
        broker.down(settings=settings)
        broker.reset(settings=settings)
    return ready_s, rss_ready, rss_topics


def measure(engines: list[str], runs: int) -> list[dict]:
    rows = []
    for engine in engines:
        samples = [one_run(engine) for _ in range(runs)]
        rows.append({
            "engine": engine,
            "runs": runs,
            "ready_s_median": statistics.median(s[0] for s in samples),
            "ready_s_max": max(s[0] for s in samples),
            "rss_ready_mb": statistics.median(s[1] for s in samples),
            "rss_with_topics_mb": statistics.median(s[2] for s in samples),
        })
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| engine | runs | time to ready (median) | worst | RSS when ready | RSS with topics |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['engine']} | {r['runs']} | {r['ready_s_median']:.3f} s | {r['ready_s_max']:.3f} s "
                     f"| {r['rss_ready_mb']:.0f} MB | {r['rss_with_topics_mb']:.0f} MB |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--engines", default="embedded,kafka")
    args = parser.parse_args(argv)
    private_state_dir("labkit-bench-")
    print(table(measure(args.engines.split(","), args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
