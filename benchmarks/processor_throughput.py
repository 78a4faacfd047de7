"""OrderProcessor throughput vs a raw kafka-python loop, retry modes under failures, retry timing accuracy.

    python benchmarks/processor_throughput.py [--orders 10000] [--engine embedded|kafka]

1. Clean run: N valid orders; the raw loop (poll, json.loads, commit per poll) and the processor
   (pause mode) each consume all of them in their own group, same run. Goal: ratio >= 0.8.
2. Dirty runs: 1 % poison payloads and 5 % orders whose first call fails (transient), in the
   sleep, pause and topic modes; throughput as a ratio to the processor's clean run.
3. Retry timing: actual minus planned delay of every retry (Retried events), p50 and p99.
"""

from __future__ import annotations

import argparse
import logging
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time

from labkit import broker, clients, topics
from labkit.backoff import RetryPolicy, exponential, stop_after_attempt
from labkit.injection import FailureInjector
from labkit.orders import Order
from labkit.processor import OrderProcessor
from labkit.settings import load


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def produce(settings, n: int, poison_rate: float, seed: int = 7) -> tuple[set[str], set[str]]:
    """Produce n records (some poison); returns (ids of valid orders, ids of poison records)."""
    rng = random.Random(seed)
    producer = clients.producer(settings, linger_ms=5, batch_size=64 * 1024)
    valid, poison = set(), set()
    for i in range(n):
        oid = f"ORD-{i}"
        if rng.random() < poison_rate:
            producer.send(settings.orders_topic, key=oid.encode(), value=b"\xff not json")
            poison.add(oid)
        else:
            producer.send(settings.orders_topic, key=oid.encode(), value=Order(oid, 100 + i % 50).to_json())
            valid.add(oid)
    producer.flush(timeout=60)
    producer.close()
    return valid, poison


def raw_loop(settings, n: int, timeout_s: float = 300) -> float:
    consumer = clients.consumer(settings, settings.orders_topic, group_id=f"{settings.group_id}-raw",
                                max_poll_records=500)
    seen = 0
    start = None
    deadline = time.monotonic() + timeout_s
    while seen < n and time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=200)
        for records in batch.values():
            if start is None:
                start = time.perf_counter()
            for record in records:
                json.loads(record.value)
                seen += 1
        if batch:
            consumer.commit()
    took = time.perf_counter() - (start or time.perf_counter())
    consumer.close()
    if seen < n:
        raise RuntimeError(f"raw loop saw {seen}/{n} records in {timeout_s} s")
    return took


def processor_run(settings, n: int, mode: str, injector=None, group_suffix="", timeout_s: float = 600):
    policy = RetryPolicy(wait=exponential(0.05, 2.0, 1.0), stop=stop_after_attempt(3))
    proc = OrderProcessor(settings, mode=mode, injector=injector, policy=policy, max_poll_records=500,
                          group_id=f"{settings.group_id}-{mode}{group_suffix}")
    first = {}

    def done() -> bool:
        stats = proc.events.stats()
        if "t" not in first and stats["received"]:
            first["t"] = time.perf_counter()
        return stats["processed"] + stats["dlt"] >= n

    start = time.perf_counter()
    stats = proc.run(until=done, timeout_s=timeout_s)
    took = time.perf_counter() - first.get("t", start)
    if stats["processed"] + stats["dlt"] < n:
        raise RuntimeError(f"{mode}: only {stats['processed']} processed + {stats['dlt']} DLT of {n}")
    return took, proc.events


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--engine", default="embedded", choices=["embedded", "kafka"])
    args = parser.parse_args(argv)
    logging.getLogger("labkit").setLevel(logging.WARNING)  # one line per DLT record would drown the tables
    logging.getLogger("kafka").setLevel(logging.ERROR)
    os.environ["LABKIT_STATE_DIR"] = tempfile.mkdtemp(prefix="labkit-bench-")
    base = load(bootstrap_servers=f"127.0.0.1:{free_port()}")
    broker.up(args.engine, settings=base)
    n = args.orders
    try:
        clean = base.with_prefix("clean-")
        topics.create(clean)
        produce(clean, n, poison_rate=0.0)
        raw_s = raw_loop(clean, n)
        proc_s, _ = processor_run(clean, n, "pause")
        print(f"### Clean run, {n} valid orders, engine {args.engine}\n")
        print("| consumer | time | orders/s | ratio to raw |\n|---|---|---|---|")
        print(f"| raw kafka-python loop (poll, json.loads, commit) | {raw_s:.2f} s | {n / raw_s:,.0f} | 1.00 |")
        print(f"| OrderProcessor (pause mode, events, done-watermark commits) | {proc_s:.2f} s | {n / proc_s:,.0f} "
              f"| {raw_s / proc_s:.2f} |")

        print(f"\n### 1 % poison, 5 % transient (first call fails), {n} orders\n")
        print("| mode | time | orders/s | ratio to clean | retries | DLT | retry delay error p50 | p99 |")
        print("|---|---|---|---|---|---|---|---|")
        for mode in ("sleep", "pause", "topic"):
            dirty = base.with_prefix(f"dirty-{mode}-")
            topics.create(dirty)
            valid, poison = produce(dirty, n, poison_rate=0.01)
            rng = random.Random(3)
            flaky = {oid for oid in sorted(valid) if rng.random() < 0.05}
            injector = FailureInjector(fail_first=1, targets=flaky)
            took, events = processor_run(dirty, n, mode, injector=injector)
            stats = events.stats()
            errors = [e.actual_delay_s - e.planned_delay_s for e in events.of("Retried")]
            p50, p99 = percentile(errors, 50), percentile(errors, 99)
            print(f"| {mode} | {took:.2f} s | {n / took:,.0f} | {proc_s / took:.2f} | {stats['retries']} "
                  f"| {stats['dlt']} | {p50 * 1000:.0f} ms | {p99 * 1000:.0f} ms |")
    finally:
        broker.down(settings=base)
        broker.reset(settings=base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
