"""Chaos run: nothing lost while consumers crash, restart, join and leave (embedded and Apache Kafka).

    python benchmarks/chaos.py [--orders 10000] [--engine embedded|kafka|both] [--mode pause|topic|both]
                               [--duration S]

Per engine and retry mode (:mod:`labkit.scenarios.chaos`): ``--orders`` records produced over ``--duration``
seconds (default: 45 s for 10 000), 1 % poison payloads (not UTF-8 / not JSON), consumed by a group
of 3 consumer processes whose order service fails 5 % of its calls (transient, retried with the
module's backoff x0.05), while a controller SIGKILLs a random consumer every 3-6 s and starts a
fresh one; every 4th action adds one or stops one cleanly instead (2-4 consumers). At the end, read
from the broker: every produced orderId processed or in the DLT (lost must be 0), every poison payload
in the DLT, every DLT record with a reason, every offset committed. Duplicates (re-processing after a
crash) are counted.

Each engine runs on its own free port with a private state dir, stopped by PID at the end.
Exit status 1 when any configuration lost an order or failed a check.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from isolated import free_port, keep, private_state_dir  # noqa: E402

from labkit import broker
from labkit.kafka import topics  # noqa: E402
from labkit.scenarios.chaos import ChaosConfig, markdown_table, run_chaos  # noqa: E402
from labkit.settings import load  # noqa: E402


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--engine", choices=["embedded", "kafka", "both"], default="both")
    parser.add_argument("--mode", choices=["pause", "topic", "both"], default="both")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds over which the orders are produced while the controller acts "
                             "(default: --orders / 220, between 15 and 60: 45 s for 10 000)")
    parser.add_argument("--settle-timeout", type=float, default=120.0,
                        help="cap on the wait for every order to be processed or in the DLT (default 120)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = float(min(60, max(15, round(args.orders / 220))))
    logging.getLogger("labkit").setLevel(logging.WARNING)
    state = private_state_dir("labkit-chaos-")
    engines = ["embedded", "kafka"] if args.engine == "both" else [args.engine]
    modes = ["pause", "topic"] if args.mode == "both" else [args.mode]

    reports = []
    for engine in engines:
        session_ms, heartbeat_ms = broker.quick_session(engine)
        base = load(bootstrap_servers=f"127.0.0.1:{free_port()}", session_timeout_ms=session_ms,
                    heartbeat_interval_ms=heartbeat_ms, max_poll_interval_ms=max(10_000, session_ms))
        t0 = time.monotonic()
        info = broker.up(engine, settings=base)
        log(f"{engine} broker ready in {time.monotonic() - t0:.1f} s ({info})")
        try:
            for mode in modes:
                settings = base.with_prefix(f"chaos-{mode}-")
                topics.create(settings)
                config = ChaosConfig(orders=args.orders, mode=mode, duration_s=args.duration,
                                     kill_every_s=(3.0, 6.0), settle_timeout_s=args.settle_timeout, seed=args.seed)
                log(f"{engine} / {mode}: {args.orders} orders over {args.duration:g} s")
                report = run_chaos(settings, config, engine=engine, log=log,
                                   log_dir=state / f"{engine}-{mode}")
                log(("  ok: " if report.ok else "  NOT OK: ") + report.summary())
                reports.append(report)
        finally:
            broker.down(settings=base)
            broker.reset(settings=base)

    print(f"### Chaos: {args.orders} orders per run (1 % poison, 5 % transient failures), 3 consumers "
          f"(2-4): every 3-6 s a SIGKILL + restart, every 4th time a consumer added or stopped instead; "
          f"production over {args.duration:g} s\n")
    print(markdown_table(reports))
    print("\n`lost`: produced orderIds neither processed nor in the DLT topic (must be 0). `duplicates`: "
          "extra processings after crashes (at-least-once; idempotence by orderId absorbs them), counted from "
          "the events the consumers ship, so a lower bound: a SIGKILLed consumer's last events die with it. "
          "`DLT records` > `DLT`: a consumer crashed between the DLT write and the commit, so the "
          "record was sent again. `time`: from the first consumer start to the last check.")
    reasons = sorted({r for rep in reports for r in rep.dlt_reasons})
    if reasons:
        print("\n### DLT records per reason (errorType)\n")
        print("| engine | mode | " + " | ".join(reasons) + " |")
        print("|---|---|" + "---|" * len(reasons))
        for rep in reports:
            counts = " | ".join(str(rep.dlt_reasons.get(r, 0)) for r in reasons)
            print(f"| {rep.engine} | {rep.mode} | {counts} |")
    bad = [r for r in reports if not r.ok]
    if bad:
        keep(state)
        log(f"consumer logs kept in {state}")
        for r in bad:
            log(f"FAILED {r.engine}/{r.mode}: {r.summary()}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
