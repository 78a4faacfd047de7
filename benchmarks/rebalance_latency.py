"""Rebalance latency of a real consumer group (OS processes), embedded broker vs Apache Kafka, classic
protocol vs KIP-848.

    python benchmarks/rebalance_latency.py [--runs 5] [--engines embedded,kafka] [--protocols classic,kip848]
                                           [--no-strategies] [--session-ms N] [--heartbeat-ms N]
                                           [--kip848-session-ms N] [--kip848-heartbeat-ms N]

Protocols: ``classic`` is the course's kafka-python group (:class:`~labkit.group.supervisor.ConsumerGroup`,
its session and heartbeat from the settings); ``kip848`` is the KIP-848 consumer protocol
(:class:`~labkit.group.kip848.Kip848Group`, confluent-kafka), on Apache Kafka only (the embedded broker does
not speak it), its session and heartbeat the broker's (``group.consumer.*`` in ``server.properties``) or,
with ``--kip848-session-ms``, the group's own (group configs: the same session as classic, for a fair crash).

Per run, in a fresh group with the course's settings (``labkit.settings``) unless overridden:
1 consumer, then 2 (3/3) -> a 3rd joins (2/2/2) -> it leaves with SIGTERM (3/3) -> one is SIGKILLed (6).

* **join**: from the joiner's ``ConsumerStarted`` event to every partition owned again;
* **clean leave**: from the leaver's revocation to the survivors owning every partition (timeline), and
  from SIGTERM to the same on the wall clock (with the leaving process's own shutdown);
* **crash**: from SIGKILL to the survivor owning every partition (eviction + rebalance);
* **max gap**: the longest time one partition had no owner in that rebalance (timeline).

Then the stop-the-world gap per assignment strategy (:func:`labkit.scenarios.assignors.compare`, 2 -> 3
consumers then a leave, short sessions). Prints Markdown tables; bounded: every wait has a deadline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from isolated import free_port, private_state_dir  # noqa: E402

from labkit import broker
from labkit.events import EventLog  # noqa: E402
from labkit.group.kip848 import Kip848Group  # noqa: E402
from labkit.group.supervisor import ConsumerGroup  # noqa: E402
from labkit.kafka import topics  # noqa: E402
from labkit.observe.timeline import Timeline  # noqa: E402
from labkit.scenarios.assignors import compare, short_session  # noqa: E402
from labkit.settings import load  # noqa: E402


def set_group_session(settings, group_id: str, session_ms: int, heartbeat_ms: int) -> None:
    """A KIP-848 group's own session and heartbeat (group configs, within the broker's min/max), set
    before its first member joins."""
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    from labkit.kafka.share_groups import confluent_config

    admin = AdminClient(confluent_config(settings, "admin"))
    entries = [ConfigEntry(k, str(v), incremental_operation=AlterConfigOpType.SET) for k, v in
               (("consumer.session.timeout.ms", session_ms), ("consumer.heartbeat.interval.ms", heartbeat_ms))]
    resource = ConfigResource(ResourceType.GROUP, group_id, incremental_configs=entries)
    for future in admin.incremental_alter_configs([resource], request_timeout=30).values():
        future.result(30)


def one_run(settings, k: int, protocol: str = "classic",
            kip848_session: tuple[int, int] | None = None) -> dict[str, float]:
    events = EventLog()
    st = settings.replace(group_id=f"{settings.group_id}-bench{k}")
    if protocol == "kip848":
        group_id = f"{st.group_id}-kip848"
        if kip848_session is not None:
            set_group_session(st, group_id, *kip848_session)
        group = Kip848Group(st, group_id=group_id, events=events, processes=True)
    else:
        group = ConsumerGroup(st, events=events, http=False)
    with group:
        group.start(1)  # one first, then add the others (see ConsumerGroup.start)
        group.wait_for_assignment([6], 60)
        second = group.add()
        group.wait_for_assignment([3, 3], 60)
        third = group.add()
        group.wait_for_assignment([2, 2, 2], 60)
        t0 = time.monotonic()
        group.stop(third)
        group.wait_for_assignment([3, 3], 60)
        leave_s = time.monotonic() - t0
        t0 = time.monotonic()
        group.kill(second)
        group.wait_for_assignment([6], 60)
        crash_s = time.monotonic() - t0
    summary = Timeline(events).summary().set_index("trigger")
    join = summary.loc[f"join {third}"]
    leave = summary.loc[f"leave {third}"]
    return {"join_s": join["settled_ts"] - join["trigger_ts"], "join_gap_s": join["max_gap_s"],
            "leave_s": leave["settled_ts"] - leave["trigger_ts"], "leave_wall_s": leave_s,
            "leave_gap_s": leave["max_gap_s"],
            "crash_s": crash_s, "crash_gap_s": summary.loc[f"crash {second}", "max_gap_s"]}


def protocol_label(protocol: str, session: tuple[int, int], kip848_session: tuple[int, int] | None = None) -> str:
    """The protocol and the session / heartbeat it ran with (the client's for classic, the broker's or the
    group's own for KIP-848)."""
    if protocol == "kip848" and kip848_session is not None:
        return f"KIP-848 (group: session {kip848_session[0]} ms / heartbeat {kip848_session[1]} ms)"
    if protocol == "kip848":
        props = dict(line.split("=", 1) for line in (Path(broker.__file__).parent / "server.properties")
                     .read_text().splitlines() if "=" in line and not line.startswith("#"))
        return (f"KIP-848 (broker: session {props['group.consumer.session.timeout.ms']} ms / heartbeat "
                f"{props['group.consumer.heartbeat.interval.ms']} ms)")
    return f"classic (session {session[0]} ms / heartbeat {session[1]} ms)"


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--engines", default="embedded,kafka")
    ap.add_argument("--protocols", default="classic,kip848", help="classic (kafka-python), kip848 (KIP-848)")
    ap.add_argument("--kip848-session-ms", type=int,
                    help="the KIP-848 group's own session (a group config; default: the broker's, 10000)")
    ap.add_argument("--kip848-heartbeat-ms", type=int, default=1000, help="with --kip848-session-ms")
    ap.add_argument("--no-strategies", action="store_true")
    ap.add_argument("--session-ms", type=int, help="session_timeout_ms (default: the course's)")
    ap.add_argument("--heartbeat-ms", type=int, help="heartbeat_interval_ms (default: the course's)")
    args = ap.parse_args()
    kip848_session = (args.kip848_session_ms, args.kip848_heartbeat_ms) if args.kip848_session_ms else None
    private_state_dir("labkit-bench-")

    latency_rows, strategy_tables = [], {}
    for engine in args.engines.split(","):
        settings = load(bootstrap_servers=f"127.0.0.1:{free_port()}").with_prefix(f"bench-{engine}-")
        settings = settings.replace(**{k: v for k, v in (("session_timeout_ms", args.session_ms),
                                                           ("heartbeat_interval_ms", args.heartbeat_ms)) if v})
        session = (settings.session_timeout_ms, settings.heartbeat_interval_ms)
        t_start = time.monotonic()
        info = broker.up(engine, settings=settings)
        try:
            topics.create(settings)
            for protocol in args.protocols.split(","):
                if protocol == "kip848" and engine == "embedded":
                    print("<!-- embedded: no kip848 runs, the embedded broker does not speak KIP-848 -->",
                          file=sys.stderr)
                    continue
                label_of = protocol_label(protocol, session, kip848_session)
                runs = [one_run(settings, k, protocol, kip848_session) for k in range(args.runs)]
                for key, label in (("join", "join (3rd consumer)"), ("leave", "clean leave (SIGTERM)"),
                                   ("crash", "crash (SIGKILL)")):
                    latency_rows.append((engine, label_of, label, fmt([r[f"{key}_s"] for r in runs]),
                                         fmt([r[f"{key}_gap_s"] for r in runs])))
                latency_rows.append((engine, label_of,
                                     "clean leave, SIGTERM -> all owned (wall clock, with the process exit)",
                                     fmt([r["leave_wall_s"] for r in runs]), "-"))
            if not args.no_strategies:
                strategy_tables[engine] = (short_session(settings), compare(settings, leave=True))
        finally:
            if info.started:
                broker.down(settings=settings)
        print(f"<!-- {engine}: {time.monotonic() - t_start:.0f} s -->", file=sys.stderr)

    print(f"### Rebalance latency, median (min-max) of {args.runs} runs\n")
    print("| engine | protocol | event | all partitions owned again after (s) "
          "| longest no-owner gap of a partition (s) |")
    print("|---|---|---|---|---|")
    for row in latency_rows:
        print("| " + " | ".join(row) + " |")
    for engine, ((session_ms, heartbeat_ms), df) in strategy_tables.items():
        print(f"\n### Stop-the-world gap per assignment strategy ({engine}, session {session_ms} ms / heartbeat "
              f"{heartbeat_ms} ms; 2 -> 3 consumers, then the 3rd leaves; one run)\n")
        print("| strategy | protocol | join: moved / paused | join: max gap (s) | join: settled (s) "
              "| leave: moved / paused | leave: max gap (s) | after join |")
        print("|---|---|---|---|---|---|---|---|")
        for r in df.itertuples(index=False):
            print(f"| {r.strategy} | {r.protocol} | {r.join_moved} / {r.join_paused} | {r.join_max_gap_s:.2f} "
                  f"| {r.join_settled_s:.2f} | {r.leave_moved} / {r.leave_paused} | {r.leave_max_gap_s:.2f} "
                  f"| {r.after_join} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
