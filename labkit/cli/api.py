"""The ``labkit api`` command: its options, then :func:`labkit.api.server.serve`.

Kept apart from :mod:`labkit.api.server` so that every ``labkit`` command starts without importing FastAPI
(a third of a second each time a notebook runs ``!labkit ...``)."""

from __future__ import annotations

import argparse
import sys

from labkit.api import DEFAULT_PORT
from labkit.settings import from_args


def cmd_api(args) -> int:
    settings = from_args(args)
    from labkit.api.server import PortInUse, serve  # FastAPI is imported only when the API really starts
    from labkit.group.share import NotOnThisBroker
    from labkit.paths import UnsafePath

    try:
        return serve(args.host, args.port, settings, mode=args.mode, consume=not args.no_consumer,
                     log_file=args.log_file or None, allowed_hosts=tuple(args.allowed_host),
                     consumer=args.consumer)
    except (PortInUse, UnsafePath, NotOnThisBroker) as exc:
        print(f"labkit api: error: {exc}", file=sys.stderr)
        return 1


def add_parser(subparsers) -> None:
    from labkit.api.consumers import CONSUMERS
    from labkit.engine.processor import MODES

    p = subparsers.add_parser(
        "api", help="the module's order API on :18082 (produces and consumes orders)",
        description="Serve the module's order API (POST /api/v1/orders, /api/v1/stats, /api/v1/dlt/count, "
                    "/health, /docs) with an in-process order consumer. Stop with Ctrl+C or SIGTERM: the "
                    "consumer commits and leaves its group.",
        epilog="The module's `docker logs m04-java-api | grep -E \"(Retry|attempt|DLT)\"` becomes "
               "`grep -E \"(Retry|attempt|DLT)\" labkit-api.log`. LABKIT_FAST=1 shrinks the retry backoff.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; use 0.0.0.0 to accept other machines)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="another name clients may call the API by (the Host header; repeatable; '*' for any), "
                        "e.g. a docker service name; also $LABKIT_API_ALLOWED_HOSTS (comma-separated). "
                        "Always allowed: localhost, 127.0.0.1, [::1], the --host address; with --host 0.0.0.0 "
                        "also any IP address and this machine's name")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"HTTP port (default {DEFAULT_PORT})")
    p.add_argument("--mode", choices=MODES, default="pause",
                   help="retry mode of the consumer: sleep (the pitfall), pause (default), topic (orders.retry)")
    p.add_argument("--consumer", choices=CONSUMERS, default="group",
                   help="the in-process consumer: group (the consumer group of Labs 1-5, default) or share "
                        "(a member of notebook 09's share group: the broker retries and dead-letters to "
                        "dlq.orders; Apache Kafka only); the endpoints and switches are the same")
    p.add_argument("--no-consumer", action="store_true", help="only produce; run no consumer in this process")
    p.add_argument("--log-file", default="labkit-api.log",
                   help="log file, besides the console (default ./labkit-api.log; '' for none)")
    p.add_argument("--session-timeout-ms", type=int,
                   help="consumer session.timeout.ms (default 6000; a crashed consumer is evicted after it)")
    p.add_argument("--heartbeat-interval-ms", type=int,
                   help="consumer heartbeat.interval.ms (default 1000, or a third of --session-timeout-ms)")
    # topic/group name prefix for isolated tests and demos (Settings.with_prefix); hidden
    p.add_argument("--prefix", default="", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_api)
