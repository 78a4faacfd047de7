"""Headless execution time of every notebook, in course order, on one broker (goal: < 5 min in total).

    python benchmarks/course_runtime.py [--engine kafka|embedded] [--slow] [--pause S] [--lab3-pause S]
                                        [--edition en|fr] [--only 09,10]

Like CI's nbval run: a broker on a free port, a private state dir, ``LABKIT_FAST=1`` (``--slow`` runs the
real backoffs), each notebook in a fresh kernel, in order. Prints a Markdown table; exits non-zero if a
notebook fails (its error is printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from isolated import free_port, private_state_dir
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def slowest_cell(nb) -> tuple[float, str]:
    """(seconds, "cell N: first line") of the longest code cell, from nbclient's timing metadata."""
    best = (0.0, "")
    for index, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type != "code" or "shell.execute_reply" not in timing:
            continue
        took = (datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
                - datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))).total_seconds()
        first = next((line for line in cell.source.splitlines()
                      if line.strip() and not line.startswith(("#", "import ", "from "))), "")
        if took > best[0]:
            best = (took, f"cell {index}: `{first.strip()[:60]}`")
    return best


LAB3_SWITCH_OFF = ("05_retries.ipynb", "c28")  # step 5.4: curl ...simulate-transient-error?enabled=false


def execute(client: NotebookClient, nb, name: str, pause_s: float, lab3_pause_s: float | None) -> None:
    """Run every code cell in one kernel, sleeping ``pause_s`` before each (the broker and the
    consumers do not wait while the class listens)."""
    if not pause_s and lab3_pause_s is None:
        client.execute()
        return
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            wait = lab3_pause_s if (name, cell.get("id")) == LAB3_SWITCH_OFF and lab3_pause_s is not None else pause_s
            time.sleep(wait)
            client.execute_cell(cell, index)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="kafka", choices=["kafka", "embedded"])
    parser.add_argument("--slow", action="store_true", help="without LABKIT_FAST (the classroom timings)")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds to wait before every code cell")
    parser.add_argument("--lab3-pause", type=float, default=None,
                        help="seconds to wait before Lab 3's step 5.4 (05, switch the errors off) instead")
    parser.add_argument("--edition", default="en", choices=["en", "fr"],
                        help="fr: the French notebooks (notebooks/fr/, run in their folder, so they speak French)")
    parser.add_argument("--only", default="", help="comma-separated notebook numbers, e.g. 09,10 (default: all)")
    args = parser.parse_args(argv)
    folder = NOTEBOOKS / "fr" if args.edition == "fr" else NOTEBOOKS
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    private_state_dir("labkit-course-")
    os.environ["LABKIT_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{free_port()}"
    os.environ["MPLBACKEND"] = "Agg"
    if not args.slow:
        os.environ["LABKIT_FAST"] = "1"

    from labkit import broker
    from labkit.settings import load

    settings = load()
    start = time.perf_counter()
    broker.up(args.engine, settings=settings)
    broker_s = time.perf_counter() - start
    rows, failed = [], None
    try:
        for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
            if only and path.name[:2] not in only:
                continue
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(nb, timeout=300, kernel_name="python3",
                                    resources={"metadata": {"path": str(folder)}})
            t0 = time.perf_counter()
            try:
                execute(client, nb, path.name, args.pause, args.lab3_pause)
            except CellExecutionError as exc:
                failed = f"{path.name}: {str(exc)[-1500:]}"
            rows.append((path.name, time.perf_counter() - t0, sum(c.cell_type == "code" for c in nb.cells),
                         slowest_cell(nb)))
            if failed:
                break
    finally:
        try:
            broker.down(settings=settings)
        except broker.BrokerError:
            pass  # 10_checkpoint_and_cleanup stops the broker itself
    total = sum(row[1] for row in rows)
    mode = "real backoffs" if args.slow else "LABKIT_FAST=1"
    if args.pause or args.lab3_pause:
        mode += f", {args.pause:g} s before every code cell" + (
            f", {args.lab3_pause:g} s before Lab 3's step 5.4" if args.lab3_pause is not None else "")
    edition = " (French edition)" if args.edition == "fr" else ""
    print(f"### Course runtime{edition}, engine {args.engine}, {mode}, {os.cpu_count()} cores\n")
    print("| notebook | code cells | time | slowest cell |\n|---|---|---|---|")
    for name, seconds, cells, (cell_s, cell) in rows:
        print(f"| {name} | {cells} | {seconds:.1f} s | {cell_s:.1f} s, {cell.replace('|', '&#124;')} |")
    print(f"| **total** (+ broker start {broker_s:.1f} s) | | **{total:.1f} s** ({total / 60:.1f} min) | |")
    if failed:
        print(f"\nFAILED {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
