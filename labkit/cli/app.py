"""The ``labkit`` command: brokers, topics, the course, and the module's services.

Every failure is one line on stderr that says what to do, with exit code 1 (2 for bad usage).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys

from labkit import broker
from labkit.broker.tools import commands_on_path
from labkit.lang import LANGUAGES
from labkit.paths import notebooks_dir
from labkit.settings import SettingsError, from_args

# The services' commands (consumer, api, groups, dlt...) live with their code: each module has add_parser(sub)
SERVICE_COMMANDS = ("labkit.group.worker", "labkit.cli.api", "labkit.cli.inspect", "labkit.cli.doctor")

KAFKA = ".".join(broker.jvm.KAFKA_VERSION.split(".")[:2])  # "4.4"
ENGINE_HELP = (f"auto (default): a Kafka already answering at the address, else start Apache Kafka {KAFKA}; "
               f"kafka: Apache Kafka {KAFKA} on Java 17+ (yours, or the bundled one; jars downloaded once); "
               "embedded: the lite broker (Tansu: no Java, memory only, instant start, not all of Kafka); "
               "external: the cluster at the bootstrap address, never started or stopped")

EPILOG_TOPICS = """\
The module's kafka-topics commands run as printed (Apache Kafka's own tool, installed with labkit;
no docker exec kafka), e.g.:
  kafka-topics --create --topic orders --partitions 6 --replication-factor 1 \\
      --bootstrap-server localhost:9092
  kafka-topics --list --bootstrap-server localhost:9092 | grep orders
(--create fails if the topic exists: add --if-not-exists to run it again.) The labkit twins:
  labkit topics create              creates all three at once, idempotent, and checks the partition counts
  labkit topics list | describe | delete [TOPIC...]
"""


# -- broker -----------------------------------------------------------------------------------------

def cmd_broker_up(args) -> int:
    info = broker.up(args.engine, settings=from_args(args), timeout_s=args.timeout)
    print(info)
    if info.log:
        print(f"log: {info.log}")
    return 0


def cmd_broker_down(args) -> int:
    for line in broker.down(settings=from_args(args), all_ports=args.all):
        print(line)
    return 0


def cmd_broker_status(args) -> int:
    info = broker.status(settings=from_args(args))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        engine = info["engine"] or "-"
        pid = info["pid"] or "-"
        print(f"{info['address']}: {info['state']} (engine {engine}, pid {pid}, answers {info['answers']})")
        for key in ("log", "data", "note"):
            if info.get(key):
                print(f"{key}: {info[key]}")
    return 0 if info["answers"] else 1


def cmd_broker_reset(args) -> int:
    print(broker.reset(settings=from_args(args)))
    return 0


# -- topics -----------------------------------------------------------------------------------------

def cmd_topics_create(args) -> int:
    from labkit.kafka import topics

    settings = from_args(args)
    for name, what in topics.create(settings, recreate=args.recreate).items():
        print(f"{name:<16} {settings.topics[name]} partitions  {what}")
    return 0


def cmd_topics_list(args) -> int:
    from labkit.kafka import topics

    for name in topics.list_topics(from_args(args), include_internal=args.internal):
        print(name)
    return 0


def cmd_topics_describe(args) -> int:
    from labkit.kafka import topics

    rows = topics.describe(from_args(args), args.names or None)
    current = None
    for row in rows:
        if row.topic != current:
            current = row.topic
            count = sum(1 for r in rows if r.topic == current)
            print(f"Topic: {current}\tPartitionCount: {count}\tReplicationFactor: {len(row.replicas)}")
        replicas = ",".join(map(str, row.replicas))
        isr = ",".join(map(str, row.isr))
        print(f"\tTopic: {row.topic}\tPartition: {row.partition}\tLeader: {row.leader}"
              f"\tReplicas: {replicas}\tIsr: {isr}")
    return 0


def cmd_topics_delete(args) -> int:
    from labkit.kafka import topics

    for name, what in topics.delete(from_args(args), args.names or None).items():
        print(f"{name:<16} {what}")
    return 0


# -- lab --------------------------------------------------------------------------------------------

def cmd_lab(args) -> int:
    from labkit.cli.doctor import blocking, render, run_checks

    settings = from_args(args)
    checks = run_checks(settings)  # before anything starts: a taken port or no Java is said with its fix
    if failed := blocking(checks):
        print(render(checks), file=sys.stderr)
        print(f"labkit lab: {len(failed)} problem(s) block the course: fix the [FAIL] lines above "
              "(labkit doctor checks again)", file=sys.stderr)
        return 1
    info = broker.ensure(settings, engine=args.engine)
    print(info)
    print("topics ready: " + ", ".join(f"{t} ({n})" for t, n in settings.topics.items()))
    # this install's scripts first: the kernel's `!labkit ...`, `!kafka-topics ...` and `!jupyter ...` then
    # use them, even from a venv that was never activated (make lab runs .venv/bin/labkit)
    env = lab_environment(args, os.environ) | {"LABKIT_BOOTSTRAP_SERVERS": settings.bootstrap_servers}
    commands_on_path(env)
    path = env["PATH"]
    cmd = jupyter_command(args, shutil.which("jupyter", path=path) or "jupyter")
    print("starting JupyterLab: " + " ".join(cmd))
    if args.dry_run:
        return 0
    return subprocess.call(cmd, env=env)


def lab_environment(args, base) -> dict[str, str]:
    """JupyterLab's environment, which its kernels inherit: ``--lang fr`` sets ``LABKIT_LANG=fr`` (every
    output in French, the consumer processes' too); ``--lang en`` drops a ``LABKIT_LANG`` left in the
    shell, so a kernel in ``notebooks/fr/`` still speaks French (:func:`labkit.lang.language`)."""
    env = {k: v for k, v in base.items() if k != "LABKIT_LANG"}
    if args.lang != "en":
        env["LABKIT_LANG"] = args.lang
    return env


def jupyter_command(args, jupyter: str = "jupyter") -> list[str]:
    """The ``jupyter lab`` command ``labkit lab`` runs: the course's notebooks, then JupyterLab's own
    options (``--no-browser``, ``--ip``, ``--port``, and whatever follows ``--``). With ``--lang fr`` it
    opens ``notebooks/fr/``; the root stays ``notebooks/``, so the English edition is one folder up."""
    cmd = [jupyter, "lab", f"--notebook-dir={notebooks_dir()}"]
    if args.lang != "en":
        # LabApp's, not ServerApp's: JupyterLab sets the server's default_url from its own (checked on 4.6)
        cmd.append(f"--LabApp.default_url=/lab/tree/{args.lang}")
    if args.no_browser:
        cmd.append("--no-browser")
    if args.jupyter_ip:
        cmd.append(f"--ip={args.jupyter_ip}")
    if args.jupyter_port is not None:
        cmd.append(f"--port={args.jupyter_port}")
    extra = list(args.jupyter_args)
    return cmd + (extra[1:] if extra[:1] == ["--"] else extra)


# -- parser -----------------------------------------------------------------------------------------

def _default_lang() -> str:
    chosen = os.environ.get("LABKIT_LANG", "").strip().lower()[:2]
    return chosen if chosen in LANGUAGES else "en"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labkit",
        description="The Kafka error-handling course: brokers, topics, notebooks and the module's services.",
    )
    parser.add_argument("--bootstrap-server", metavar="HOST:PORT",
                        help="Kafka address (default: $LABKIT_BOOTSTRAP_SERVERS, $KAFKA_BOOTSTRAP_SERVERS "
                             "or 127.0.0.1:9092)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = sub.add_parser("broker", help="start, stop and inspect a Kafka broker",
                       description="Start, stop and inspect the broker the course uses.")
    bsub = b.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = bsub.add_parser("up", help="start a broker (or reuse the running one) and wait until it answers",
                         description="Start a broker and return once it answers a Kafka Metadata request. "
                                     "auto: use a Kafka that already answers (e.g. docker compose), else start "
                                     f"Apache Kafka {KAFKA}.")
    up.add_argument("--engine", default="auto", choices=broker.ENGINES, help=ENGINE_HELP)
    up.add_argument("--port", type=int, dest="broker_port",
                    help="port to listen on (default: from the bootstrap address, 9092)")
    up.add_argument("--timeout", type=float,
                    help="seconds to wait until the broker answers (default: "
                         + ", ".join(f"{s:.0f} {e}" for e, s in broker.DEFAULT_TIMEOUT_S.items())
                         + "; Kafka's one-time jar download is not counted)")
    up.set_defaults(func=cmd_broker_up)
    down = bsub.add_parser("down", help="stop the broker labkit started (by its recorded PID)",
                           description="Stop the broker labkit started on the port, by the PID it recorded.")
    down.add_argument("--port", type=int, dest="broker_port", help="port of the broker to stop (default: 9092)")
    down.add_argument("--all", action="store_true", help="stop every broker labkit started")
    down.set_defaults(func=cmd_broker_down)
    st = bsub.add_parser("status", help="what runs at the address (exit 1 if nothing answers)",
                         description="Show the engine, PID and state of the broker at the address.")
    st.add_argument("--port", type=int, dest="broker_port")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_broker_status)
    rs = bsub.add_parser("reset", help="stop the broker and delete its data (Apache Kafka engine)",
                         description="Stop the broker on the port and delete its on-disk data.")
    rs.add_argument("--port", type=int, dest="broker_port")
    rs.set_defaults(func=cmd_broker_reset)

    t = sub.add_parser("topics", help="create, list, describe, delete the course topics",
                       description="The course topics: orders (6 partitions), orders.DLT (3), orders.retry (3).",
                       epilog=EPILOG_TOPICS, formatter_class=argparse.RawDescriptionHelpFormatter)
    tsub = t.add_subparsers(dest="action", required=True, metavar="ACTION")
    tc = tsub.add_parser("create", help="create orders (6), orders.DLT (3), orders.retry (3); idempotent",
                         description="Create the course topics if missing, then verify their partition counts.")
    tc.add_argument("--recreate", action="store_true",
                    help="delete and create again a topic whose partition count is wrong (its records are lost)")
    tc.set_defaults(func=cmd_topics_create)
    tl = tsub.add_parser("list", help="list topic names", description="List topic names, like kafka-topics --list.")
    tl.add_argument("--internal", action="store_true", help="include internal topics such as __consumer_offsets")
    tl.set_defaults(func=cmd_topics_list)
    td = tsub.add_parser("describe", help="partitions, leaders, replicas of topics",
                         description="Describe topics like kafka-topics --describe (default: the course topics).")
    td.add_argument("names", nargs="*", help="topics to describe (default: the course topics)")
    td.set_defaults(func=cmd_topics_describe)
    tdel = tsub.add_parser("delete", help="delete topics (default: the course topics)",
                           description="Delete topics, like the module's clean-up step.")
    tdel.add_argument("names", nargs="*", help="topics to delete (default: the course topics)")
    tdel.set_defaults(func=cmd_topics_delete)

    lab = sub.add_parser("lab", help="make sure the broker and topics are ready, then open JupyterLab on notebooks/",
                         description="Start (or reuse) a broker, create the course topics, open JupyterLab.")
    lab.add_argument("--engine", default="auto", choices=broker.ENGINES, help=ENGINE_HELP)
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser (remote machines)")
    lab.add_argument("--ip", dest="jupyter_ip", metavar="ADDRESS",
                     help="the address JupyterLab listens on (jupyter lab --ip; default: localhost)")
    lab.add_argument("--port", type=int, dest="jupyter_port", metavar="N",
                     help="JupyterLab's port (jupyter lab --port; default 8888, the next free one if taken). "
                          "Not the broker's: that one is --bootstrap-server")
    lab.add_argument("--lang", choices=LANGUAGES, default=_default_lang(),
                     help="the edition: fr opens notebooks/fr/ and every output is in French "
                          "(default: LABKIT_LANG, else en)")
    lab.add_argument("--dry-run", action="store_true", help="prepare everything but do not start JupyterLab")
    lab.add_argument("jupyter_args", nargs=argparse.REMAINDER,
                     help="more options for jupyter lab, after --, e.g. -- --ServerApp.token=secret")
    lab.set_defaults(func=cmd_lab)

    for name in SERVICE_COMMANDS:  # each declares its own commands next to its code
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("labkit: interrupted", file=sys.stderr)
        return 130
    except (broker.BrokerError, SettingsError) as exc:
        print(f"labkit: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a clear line, not a traceback wall; LABKIT_DEBUG=1 shows the traceback
        if os.environ.get("LABKIT_DEBUG"):
            raise
        from labkit.errors import friendly

        print(f"labkit: error: {friendly(exc)}", file=sys.stderr)
        return 1

