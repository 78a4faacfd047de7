"""Run every benchmark and write benchmarks/RESULTS.md: machine, date, engine, figures as tables.

    python benchmarks/run_all.py [--quick] [--only broker_startup,chaos]

Each benchmark is a script in this folder that prints Markdown tables on stdout; this runner only
collects them, so each script stays runnable on its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent

# (script, title, full-run arguments, quick-run arguments)
BENCHMARKS = [
    ("setup_time.py", "Set-up on a fresh machine: pip versus uv, cold caches (issue: reach)", [], []),
    ("broker_startup.py", "Broker start-up (issue: foundation)", [], ["--runs", "3"]),
    ("processor_throughput.py", "Processor throughput and retry timing (issue: engine)", [],
     ["--orders", "2000", "--clean-orders", "10000"]),
    ("failure_cost.py", "What a failed record costs, and topic mode with a service doing I/O (issue 18)", [],
     ["--calls", "500", "--orders", "3000", "--rounds", "1", "--latency-orders", "500"]),
    ("rebalance_latency.py", "Rebalance latency (issue: consumer groups)", [], ["--runs", "2"]),
    ("share_groups.py", "Share groups: throughput and redelivery latency (issue: Kafka 4.x)", [],
     ["--orders", "500", "--runs", "1"]),
    ("api_load.py", "Order API load (issue: services)", [], []),
    ("chaos.py", "Chaos run: nothing lost (issue: prove nothing is lost)", [], ["--orders", "3000"]),
    ("hostile_input.py", "Hostile input: statuses, DLT, restarts, RSS (issue 20: measure)", [], ["--n", "50"]),
    ("course_words.py", "What a student reads, and the three-hour agenda (issue: classroom)", [], []),
    ("course_runtime.py", "Course runtime, headless (issue: notebooks)", [], []),
    ("course_runtime.py", "Course runtime in the classroom: real backoffs, no LABKIT_FAST", ["--slow"], ["--slow"]),
]


def machine() -> str:
    sys.path.insert(0, str(HERE.parent))
    from labkit.broker import BrokerError, java

    mem = psutil.virtual_memory().total / 2**30
    try:
        runtime = f"Kafka runs on {java.find()}"
    except BrokerError as exc:
        runtime = f"no Java for Kafka ({exc})"
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, "
            f"Python {platform.python_version()}, {runtime}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (minutes, not tens of minutes)")
    parser.add_argument("--only", help="comma-separated script names without .py: only their sections of "
                                       "the output are replaced, the others are kept as they were")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else None
    kept = _sections(args.output) if wanted else {}
    sections = []
    for script, title, full, quick in BENCHMARKS:
        if wanted and script.removesuffix(".py") not in wanted:
            if title in kept:
                sections.append(kept[title])
            continue
        if not (HERE / script).exists():
            sections.append(f"## {title}\n\n_not run: `{script}` does not exist yet._\n")
            continue
        start = time.monotonic()
        done = subprocess.run([sys.executable, str(HERE / script), *(quick if args.quick else full)],
                              capture_output=True, text=True, timeout=3600)
        took = time.monotonic() - start
        failed = f"**failed** (exit {done.returncode}):\n\n```\n{done.stderr[-1500:]}\n```"
        body = done.stdout.strip() if done.returncode == 0 else failed
        sections.append(f"## {title}\n\n_Measured {dt.date.today().isoformat()}:_ "
                        f"`python benchmarks/{script} {' '.join(quick if args.quick else full)}`"
                        f" — {took:.0f} s\n\n{body}\n")
        print(f"{script}: exit {done.returncode} in {took:.0f} s", file=sys.stderr)
    header = (f"# Benchmark results\n\n{machine()}. Mode: {'quick' if args.quick else 'full'}; each section says "
              f"when it was measured.\nRegenerate with `make benchmarks`, or one section with "
              f"`python benchmarks/run_all.py --only NAME`.\n")
    args.output.write_text(header + "\n" + "\n".join(sections))
    print(args.output)
    return 0


def _sections(path: Path) -> dict[str, str]:
    """``{title: whole section}`` of an earlier RESULTS.md (empty if there is none)."""
    if not path.exists():
        return {}
    parts = path.read_text().split("\n## ")[1:]
    return {part.split("\n", 1)[0]: f"## {part.rstrip()}\n" for part in parts}


if __name__ == "__main__":
    sys.exit(main())
