"""The module's scalable consumer service: one :class:`~labkit.engine.processor.OrderProcessor` per OS process.

    labkit consumer --name consumer-1                  # or: python -m labkit.group.worker
    labkit consumer --name consumer-2 --assignor cooperative-sticky

Each instance joins ``orders-consumer-group`` and

* logs every rebalance (``rebalance: revoked [...]`` / ``rebalance: assigned [...]``) to the console
  and to a log file (``--log-file``, default ``<state dir>/consumers/<name>.log``);
* on SIGTERM / SIGINT (``docker stop``, Ctrl-C) commits what is done, closes the consumer and so
  **leaves the group cleanly** (the others get its partitions after one rebalance);
* serves ``GET /health`` and ``GET /stats`` on ``--http-port`` (18083 like the module's .NET
  consumer; the next free port when several instances run on one machine);
* publishes every event it emits to the events topic (``settings.events_topic``), keyed by its
  name, value the JSON of ``event.to_dict()``, so a notebook's
  :class:`~labkit.group.supervisor.ConsumerGroup` sees every instance in one :class:`~labkit.events.EventLog`.

A SIGKILL (``docker kill``, an OOM kill) does none of that: the broker evicts the member only after
``session_timeout_ms`` without heartbeats, and its uncommitted records are delivered again.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from labkit.engine.processor import MODES
from labkit.errors import no_broker
from labkit.group.wire import EventPublisher
from labkit.kafka.clients import ASSIGNORS, assignors
from labkit.kafka.probe import probe
from labkit.paths import PrivateFileHandler, name_arg, write_private
from labkit.policy.health import ConsumerView, consumer_health
from labkit.settings import Settings, from_args

__all__ = ["DEFAULT_HTTP_PORT", "ConsumerService", "add_parser", "main"]

DEFAULT_HTTP_PORT = 18083

log = logging.getLogger("labkit.consumer")


def bind_http(handler: type[BaseHTTPRequestHandler], port: int, host: str = "127.0.0.1",
              tries: int = 50) -> ThreadingHTTPServer:
    """A server on ``port``, or the next free one (several instances on one machine)."""
    last: OSError | None = None
    for candidate in range(port, port + tries) if port else [0]:
        try:
            return ThreadingHTTPServer((host, candidate), handler)
        except OSError as exc:
            last = exc
    raise OSError(f"no free HTTP port in {port}..{port + tries - 1}: {last}")


class ConsumerService:
    """One consumer instance: the processor, its HTTP endpoint and its event publisher."""

    def __init__(self, settings: Settings, name: str, *, mode: str = "pause", assignor: str | None = None,
                 group_instance_id: str | None = None, injector: Any = None, http_port: int | None = DEFAULT_HTTP_PORT,
                 publish_events: bool = True, run_id: str | None = None, max_poll_records: int | None = None) -> None:
        from labkit.engine.processor import OrderProcessor
        from labkit.events import SERVICE_MAX_EVENTS, EventLog

        self.settings, self.name, self.mode = settings, name, mode
        self.assignor = assignor or "default"
        self.group_instance_id = group_instance_id
        self.events = EventLog(max_events=SERVICE_MAX_EVENTS)  # runs for hours: bounded memory
        self.stop_event = threading.Event()
        self.started = time.time()
        overrides: dict[str, Any] = {}
        strategy = assignors(assignor)
        if strategy is not None:
            overrides["partition_assignment_strategy"] = strategy
        if group_instance_id:
            overrides["group_instance_id"] = group_instance_id
        self.injector = injector
        self.publisher = EventPublisher(settings, name, run_id) if publish_events else None
        extra: dict[str, Any] = {"max_poll_records": max_poll_records} if max_poll_records else {}
        if self.publisher is not None:
            self.events.subscribe(self.publisher)
            extra["before_commit"] = self.publisher.flush  # events safe before the offset moves
        self.processor = OrderProcessor(settings, mode=mode, injector=injector, events=self.events,
                                        consumer_id=name, consumer_overrides=overrides, **extra)
        self.server = bind_http(self._handler(), http_port) if http_port is not None else None
        self.http_port = self.server.server_address[1] if self.server else None

    # --- HTTP ---------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """UP when this member consumes: its loop runs, the broker answers, its heartbeats are answered
        (labkit/policy/health.py). Owning no partition is fine here: a group may have idle members."""
        p = self.processor
        found = probe(*self.settings.host_port, timeout_s=1.0)
        age, rebalancing, _ = p.contact()
        ok, reason = consumer_health(ConsumerView(
            running=p.running, contact_age_s=age, rebalancing=rebalancing, group=p.group_id,
            broker_reason="" if found.ok else no_broker(self.settings.bootstrap_servers, found.state),
            error=None if p.error is None else repr(p.error)), self.settings)
        return {"status": "UP" if ok else "DOWN", "reason": reason or None, "name": self.name, "pid": os.getpid(),
                "group_id": self.processor.group_id, "mode": self.mode, "assignor": self.assignor,
                "group_instance_id": self.group_instance_id,
                "partitions": [f"{t}-{p}" for t, p in self.processor.assignment],
                "uptime_s": round(time.time() - self.started, 1)}

    def stats(self) -> dict[str, Any]:
        stats = dict(self.processor.stats)
        stats.update(name=self.name, partitions=[f"{t}-{p}" for t, p in self.processor.assignment],
                     events_published=self.publisher.sent if self.publisher else None,
                     injector=self.injector.snapshot() if self.injector is not None else None)
        return stats

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?")[0].rstrip("/")
                if path in ("/health", "/actuator/health"):
                    body = service.health()
                    code = 200 if body["status"] == "UP" else 503
                elif path in ("/stats", "/api/v1/stats"):
                    body, code = service.stats(), 200
                else:
                    body, code = {"error": f"unknown path {self.path}", "paths": ["/health", "/stats"]}, 404
                data = json.dumps(body, default=str).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # keep the console for rebalances
                pass

        return Handler

    # --- lifecycle ----------------------------------------------------------------------------------

    def run(self) -> int:
        """Run until :attr:`stop_event` is set (SIGTERM / SIGINT); 0 on a clean stop, 1 on an error."""
        if self.server is not None:
            threading.Thread(target=self.server.serve_forever, name="labkit-http", daemon=True).start()
        log.info("consumer %s (pid %d): group=%s topic=%s mode=%s assignor=%s%s http=%s",
                 self.name, os.getpid(), self.processor.group_id, self.settings.orders_topic, self.mode,
                 self.assignor, f" group_instance_id={self.group_instance_id}" if self.group_instance_id else "",
                 f"http://127.0.0.1:{self.http_port}" if self.http_port else "off")
        code = 0
        try:
            self.processor.run(stop=self.stop_event)
            log.info("consumer %s left the group cleanly (done offsets committed)", self.name)
        except Exception as exc:
            log.error("consumer %s stopped on an error: %r", self.name, exc)
            code = 1
        finally:
            if self.server is not None:
                self.server.shutdown()
                self.server.server_close()
            if self.publisher is not None:
                self.publisher.close()
        return code


# --- command line ---------------------------------------------------------------------------------


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", "--instance-id", dest="name", default=None, type=name_arg,
                   help="instance name, also its client id and the key of its events (default consumer-<pid>)")
    p.add_argument("--mode", choices=MODES, default="pause",
                   help="retry mode: pause (default, stays in the group), sleep (the module's naive "
                        "sleepWithBackoff), topic (retry topic)")
    p.add_argument("--assignor", choices=ASSIGNORS + ("default",), default=None,
                   help="partition.assignment.strategy (default: kafka-python's range+roundrobin)")
    p.add_argument("--session-timeout-ms", type=int, default=None, help="default 6000 (labkit settings)")
    p.add_argument("--heartbeat-interval-ms", type=int, default=None, help="default 1000 (labkit settings)")
    p.add_argument("--max-poll-interval-ms", type=int, default=None, help="default 300000")
    p.add_argument("--group-instance-id", default=None,
                   help="static membership (KIP-345): a restart within session.timeout.ms keeps the "
                        "partitions. Does not work on the embedded broker (Apache Kafka only)")
    p.add_argument("--group-id", default=None, help="default orders-consumer-group")
    p.add_argument("--transient-rate", type=float, default=0.0,
                   help="probability that the order service fails transiently (0 = never)")
    p.add_argument("--fail-first", type=int, default=0, help="the first N calls per order fail")
    p.add_argument("--latency-s", type=float, default=0.0,
                   help="every order takes this long (a slow handler: try it above max.poll.interval.ms)")
    p.add_argument("--seed", type=int, default=0, help="seed of the failure draws")
    p.add_argument("--max-poll-records", type=int, default=None,
                   help="most records one poll() returns (default 100); x latency must stay under max.poll.interval.ms")
    p.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT,
                   help=f"GET /health and /stats (default {DEFAULT_HTTP_PORT}; next free port if taken)")
    p.add_argument("--no-http", action="store_true", help="no HTTP endpoint")
    p.add_argument("--no-events", action="store_true", help="do not publish events to the events topic")
    p.add_argument("--bootstrap-servers", default=None, help="default $LABKIT_BOOTSTRAP_SERVERS or 127.0.0.1:9092")
    p.add_argument("--prefix", default=None, help="topic/group name prefix (isolated demos)")
    p.add_argument("--log-file", default=None, help="default <labkit state dir>/consumers/<name>.log")
    p.add_argument("--fast", action="store_true", help="shrink retry backoffs (LABKIT_FAST)")
    p.add_argument("--settings-json", default=None, help=argparse.SUPPRESS)  # ConsumerGroup passes its Settings
    p.add_argument("--run-id", default=None, help=argparse.SUPPRESS)  # header on published events
    p.add_argument("--ready-file", default=None, help=argparse.SUPPRESS)  # {name, pid, port} once serving
    p.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)  # exit when it dies


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``labkit consumer``."""
    p = subparsers.add_parser(
        "consumer", help="run one instance of the scalable order consumer (Lab 4)",
        description=__doc__.split("\n\n")[0] + " Start several to see rebalances; stop one with Ctrl-C "
                    "(clean leave) or kill -9 (crash).")
    _add_arguments(p)
    p.set_defaults(func=cmd_consumer)
    return p


def _logging(name: str, log_file: str | None) -> Path:
    from labkit.paths import state_dir

    path = Path(log_file) if log_file else state_dir() / "consumers" / f"{name}.log"
    fmt = logging.Formatter(f"%(asctime)s %(levelname)-7s [{name}] %(message)s")
    handlers = [logging.StreamHandler(sys.stderr), PrivateFileHandler(path)]  # 0600, never through a link
    for h in handlers:
        h.setFormatter(fmt)
    root = logging.getLogger("labkit")
    root.setLevel(logging.INFO)
    root.propagate = False
    for h in handlers:
        root.addHandler(h)
    return path


def _watch_parent(parent_pid: int, stop: threading.Event) -> None:
    """Leave cleanly when the process that started us dies (no orphan consumers after a crash)."""
    while not stop.wait(1.0):
        if os.getppid() != parent_pid:
            log.warning("parent process %d is gone: leaving the group", parent_pid)
            stop.set()


def cmd_consumer(args: argparse.Namespace) -> int:
    from labkit.engine.injection import FailureInjector

    name = args.name or f"consumer-{os.getpid()}"
    log_path = _logging(name, args.log_file)
    settings = from_args(args)
    injector = FailureInjector(transient=args.transient_rate > 0, rate=args.transient_rate or 1.0,
                               fail_first=args.fail_first, latency_s=args.latency_s, seed=args.seed)
    service = ConsumerService(settings, name, mode=args.mode, assignor=args.assignor,
                              group_instance_id=args.group_instance_id, injector=injector,
                              http_port=None if args.no_http else args.http_port,
                              publish_events=not args.no_events, run_id=args.run_id,
                              max_poll_records=args.max_poll_records)

    def on_signal(signum: int, frame: Any) -> None:
        log.info("consumer %s got %s: committing and leaving the group", name, signal.Signals(signum).name)
        service.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid, service.stop_event), daemon=True).start()
    if args.ready_file:
        write_private(args.ready_file, json.dumps({"name": name, "pid": os.getpid(), "port": service.http_port,
                                                   "log_file": str(log_path)}))
    log.info("consumer %s logging to %s", name, log_path)
    return service.run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.group.worker",
                                     description=__doc__.split("\n\n")[0])
    _add_arguments(parser)
    return cmd_consumer(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
