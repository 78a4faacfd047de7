"""Share groups (KIP-932) on Apache Kafka 4.4: throughput, and how soon a RELEASEd record comes back.

    python benchmarks/share_groups.py [--orders 2000] [--flaky 50] [--consumers 1,2,3] [--runs 3]

Per consumer count and run, a fresh share group of the course's share consumers (threads of this
process, :class:`labkit.engine.share.ShareWorker`, no injected latency) on its own broker:

* **throughput**: ``--orders`` valid orders produced at once; from the first ``Received`` to the last
  ``ACCEPT``: orders per second through the whole group;
* **redelivery latency**: ``--flaky`` orders whose order-service call fails for their first 2 calls;
  from each ``RELEASE`` to the next delivery of the same record (its ``Received``, delivery count + 1).
  A share group has no backoff: this is the whole wait between two tries (the worker acknowledges a
  poll's records together, so it includes the rest of that poll's batch).

Prints Markdown tables (median of the runs; latency p50 / p99 over every redelivery of every run).
Bounded: every wait has a deadline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from isolated import free_port, private_state_dir  # noqa: E402

from labkit import broker  # noqa: E402
from labkit.events import EventLog  # noqa: E402
from labkit.group.share import ShareGroup  # noqa: E402
from labkit.kafka import producer, topics  # noqa: E402
from labkit.kafka.share_groups import ShareGroupConfig  # noqa: E402
from labkit.orders import Order  # noqa: E402
from labkit.settings import load  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def one_run(settings, consumers: int, n_orders: int, n_flaky: int, k: int) -> dict:
    config = ShareGroupConfig.of(settings, group_id=f"bench-share-{consumers}-{k}", delivery_limit=5)
    events = EventLog()
    with ShareGroup(settings, config, events=events) as group:
        group.setup()
        group.start(consumers)
        group.assignment(60)  # every member has its partitions before the clock starts
        prefix = f"B{consumers}-{k}-"
        good = [Order(f"{prefix}ORD-{i}", 10) for i in range(n_orders)]
        flaky = [Order(f"{prefix}FLAKY-{i}", 10) for i in range(n_flaky)]
        group.injector.set(transient=False, fail_first=2, targets={o.order_id for o in flaky})
        producer.produce(settings, good + flaky)
        settled = group.wait_settled([o.order_id for o in good + flaky], timeout_s=300)
        if settled["dead_lettered"]:
            raise RuntimeError(f"orders dead-lettered in a benchmark run: {settled['dead_lettered']}")

    good_ids = {o.order_id for o in good}
    received = [e for e in events.of("Received") if e.key in good_ids]
    accepted = [e for e in events.of("Acknowledged") if e.ack == "ACCEPT" and e.order_id in good_ids]
    elapsed = max(e.ts for e in accepted) - min(e.ts for e in received)

    redeliveries = []
    flaky_ids = {o.order_id for o in flaky}
    came_back = {(e.key, e.attempt): e.ts for e in events.of("Received") if e.key in flaky_ids}
    for e in events.of("Acknowledged"):
        if e.ack == "RELEASE" and e.order_id in flaky_ids and (e.order_id, e.delivery_count + 1) in came_back:
            redeliveries.append(came_back[(e.order_id, e.delivery_count + 1)] - e.ts)
    return {"throughput": len(good) / elapsed, "redeliveries": redeliveries,
            "members_with_work": len({e.consumer for e in accepted})}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--flaky", type=int, default=50)
    ap.add_argument("--consumers", default="1,2,3")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    private_state_dir("labkit-bench-share-")
    settings = load(bootstrap_servers=f"127.0.0.1:{free_port()}").with_prefix("bench-share-")
    t_start = time.monotonic()
    info = broker.up("kafka", settings=settings)
    rows = []
    try:
        topics.create(settings)
        for n in (int(c) for c in args.consumers.split(",")):
            runs = [one_run(settings, n, args.orders, args.flaky, k) for k in range(args.runs)]
            latencies = [s * 1000 for r in runs for s in r["redeliveries"]]
            rows.append((n, statistics.median(r["throughput"] for r in runs),
                         min(r["throughput"] for r in runs), max(r["throughput"] for r in runs),
                         statistics.median(r["members_with_work"] for r in runs),
                         percentile(latencies, 0.5), percentile(latencies, 0.99), len(latencies)))
    finally:
        if info.started:
            broker.down(settings=settings)
    print(f"<!-- {time.monotonic() - t_start:.0f} s -->", file=sys.stderr)
    print(f"### Share group on Apache Kafka 4.4: {args.orders} orders, {args.flaky} failing twice; "
          f"median (min-max) of {args.runs} runs\n")
    print("| consumers | orders/s | members that accepted orders | RELEASE -> next delivery p50 (ms) "
          "| p99 (ms) | redeliveries |")
    print("|---|---|---|---|---|---|")
    for n, med, lo, hi, busy, p50, p99, count in rows:
        print(f"| {n} | {med:.0f} ({lo:.0f}-{hi:.0f}) | {busy:.0f} | {p50:.1f} | {p99:.1f} | {count} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
