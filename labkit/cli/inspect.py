"""``labkit groups describe`` and ``labkit dlt show|count``: the module's Kafka CLI steps, without Docker.

The module's commands and their labkit twins:

* ``kafka-consumer-groups --describe --group orders-consumer-group`` - ``labkit groups describe``
* ``kafka-console-consumer --topic orders.DLT --from-beginning --max-messages 1`` -
  ``labkit dlt show --from-beginning --max-messages 1``
* ``curl -s localhost:18082/api/v1/dlt/count`` - ``labkit dlt count``

Apache Kafka's own ``kafka-consumer-groups`` and ``kafka-console-consumer`` are installed too
(:mod:`labkit.broker.tools`); these twins decode the DLT envelope and its ``kafka_dlt-*`` headers,
and give right log-end offsets on the embedded broker as well.

Every command is bounded in time and fails with one line (exit 1) when no broker answers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from labkit.errors import no_broker
from labkit.settings import Settings, from_args

__all__ = ["add_parser", "format_dlt_record"]

DEFAULT_TIMEOUT_MS = 10_000


class InspectError(RuntimeError):
    """A one-line reason the command could not answer."""


def _require_broker(settings: Settings) -> None:
    from labkit.kafka.probe import probe

    found = probe(*settings.host_port, timeout_s=2.0)
    if not found.ok:
        raise InspectError(no_broker(settings.bootstrap_servers, found.state))


def _run(fn):
    """Run a command; its expected failures become one line on stderr and exit code 1."""

    def wrapped(args) -> int:
        from labkit.kafka.offsets import OffsetsError

        try:
            return fn(args)
        except (InspectError, OffsetsError, TimeoutError) as exc:
            print(f"labkit: error: {exc}", file=sys.stderr)
            return 1

    return wrapped


# --- groups describe -----------------------------------------------------------------------------


@_run
def cmd_groups_describe(args) -> int:
    from labkit.observe.lag import format_lag_table, lag_table

    settings = from_args(args)
    _require_broker(settings)
    group = args.group or settings.group_id
    df = lag_table(settings, group, topics=args.topic or None, timeout_s=args.timeout_ms / 1000)
    print()
    print(format_lag_table(df))
    if args.state:
        print(f"\nGROUP {group} STATE {df.attrs.get('state')}")
    return 0


# --- dlt show / count ----------------------------------------------------------------------------


def _header_text(name: str, value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).replace("\n", "\\n")
    return f"{name}:{text[:117] + '...' if len(text) > 120 else text}"


def format_dlt_record(record: Any, value_only: bool = False) -> str:
    """One DLT record as ``dlt show`` prints it: coordinates, headers, then the envelope JSON
    (pretty when it is JSON, as-is otherwise)."""
    from labkit.dlt.envelope import decode_dlt_headers

    raw = record.value or b""
    try:
        value = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except (ValueError, UnicodeDecodeError):
        value = raw.decode("utf-8", errors="replace")
    if value_only:
        return raw.decode("utf-8", errors="replace")
    decoded = decode_dlt_headers(record.headers)
    headers = [_header_text(k, decoded.get(k, v)) for k, v in record.headers or []]
    key = None if record.key is None else record.key.decode("utf-8", errors="replace")
    return "\n".join([
        f"Partition:{record.partition}\tOffset:{record.offset}\tKey:{key}",
        "Headers: " + (", ".join(headers) if headers else "NO_HEADERS"),
        value,
    ])


@_run
def cmd_dlt_show(args) -> int:
    from kafka import TopicPartition

    from labkit.kafka import clients
    from labkit.kafka.offsets import log_end_offsets

    settings = from_args(args)
    _require_broker(settings)
    topic = args.topic or settings.dlt_topic
    idle_s = args.timeout_ms / 1000
    reader = clients.reader(settings, bootstrap_timeout_ms=args.timeout_ms)
    shown = 0
    try:
        parts = None
        deadline = time.monotonic() + idle_s
        while not parts:
            parts = reader.partitions_for_topic(topic)
            if not parts and time.monotonic() > deadline:
                raise InspectError(f"topic {topic} not found; create it with: labkit topics create")
            time.sleep(0 if parts else 0.05)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        reader.assign(tps)
        if args.from_beginning:
            reader.seek_to_beginning(*tps)
        else:  # only what arrives from now on (the high watermark: right on every engine)
            for tp, end in log_end_offsets(settings, topic, timeout_s=idle_s).items():
                reader.seek(tp, end)
        last = time.monotonic()
        while args.max_messages is None or shown < args.max_messages:
            batch = reader.poll(timeout_ms=200)
            records = sorted((r for rs in batch.values() for r in rs), key=lambda r: (r.partition, r.offset))
            for record in records:
                if args.max_messages is not None and shown >= args.max_messages:
                    break
                if shown and not args.value_only:
                    print()
                print(format_dlt_record(record, args.value_only), flush=True)
                shown += 1
            if records:
                last = time.monotonic()
            elif time.monotonic() - last > idle_s:
                break
    except KeyboardInterrupt:
        pass
    finally:
        reader.close(autocommit=False)
    print(f"Processed a total of {shown} messages", file=sys.stderr)
    return 0


@_run
def cmd_dlt_count(args) -> int:
    from labkit.observe.monitor import dlt_by_reason, dlt_count

    settings = from_args(args)
    if args.topic:
        settings = settings.replace(dlt_topic=args.topic)
    _require_broker(settings)
    timeout_s = args.timeout_ms / 1000
    count = dlt_count(settings, timeout_s=timeout_s)
    if args.json:
        out: dict[str, Any] = {"topic": settings.dlt_topic, "count": count}
        if args.by_reason:
            out["byReason"] = {str(k): int(v) for k, v in dlt_by_reason(settings, timeout_s).items()}
        print(json.dumps(out))
        return 0
    print(f"{settings.dlt_topic}: {count} record(s)")
    if args.by_reason and count:
        for reason, n in dlt_by_reason(settings, timeout_s).items():
            print(f"  {reason:<32} {n}")
    return 0


# --- parser --------------------------------------------------------------------------------------


def _common(p) -> None:
    p.add_argument("--timeout-ms", type=int, default=DEFAULT_TIMEOUT_MS,
                   help=f"give up after this long without an answer or a new message (default {DEFAULT_TIMEOUT_MS})")
    p.add_argument("--prefix", default="", help=argparse.SUPPRESS)  # Settings.with_prefix (isolated tests)


def add_parser(subparsers) -> None:
    g = subparsers.add_parser(
        "groups", help="consumer groups: the lag table (kafka-consumer-groups --describe)",
        description="Consumer groups, like kafka-consumer-groups.")
    gsub = g.add_subparsers(dest="action", required=True, metavar="ACTION")
    gd = gsub.add_parser(
        "describe", help="lag per partition, like kafka-consumer-groups --describe --group G",
        description="Print GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID, "
                    "like `kafka-consumer-groups --describe --group orders-consumer-group`. Log-end offsets "
                    "come from the Fetch high watermark (right on every engine). The embedded broker does not "
                    "report member assignments: CONSUMER-ID, HOST and CLIENT-ID then show '-'.")
    gd.add_argument("--group", help="group id (default orders-consumer-group)")
    gd.add_argument("--topic", action="append", help="topic(s) to show (default: those the group uses)")
    gd.add_argument("--state", action="store_true", help="also print the group state")
    _common(gd)
    gd.set_defaults(func=cmd_groups_describe)

    d = subparsers.add_parser(
        "dlt", help="the Dead Letter Topic: show records, count them",
        description="Read the Dead Letter Topic (orders.DLT).",
        epilog="kafka-console-consumer --topic orders.DLT --from-beginning --max-messages 1  ->  "
               "labkit dlt show --from-beginning --max-messages 1",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = d.add_subparsers(dest="action", required=True, metavar="ACTION")
    ds = dsub.add_parser(
        "show", help="print DLT records with their headers (kafka-console-consumer --topic orders.DLT)",
        description="Print DLT records: coordinates, the kafka_dlt-* headers decoded, and the JSON envelope. "
                    "Without --from-beginning, waits for new records only, like kafka-console-consumer. "
                    "Stops after --max-messages, or after --timeout-ms without a new record.")
    ds.add_argument("--topic", help="topic to read (default orders.DLT)")
    ds.add_argument("--from-beginning", action="store_true", help="start from the oldest record")
    ds.add_argument("--max-messages", type=int, help="stop after this many records")
    ds.add_argument("--value-only", action="store_true", help="print only the raw value, one line per record")
    _common(ds)
    ds.set_defaults(func=cmd_dlt_show)
    dc = dsub.add_parser("count", help="records in the DLT, read from the topic (like GET /api/v1/dlt/count)",
                         description="Count the records in the DLT (high watermark - beginning, per partition).")
    dc.add_argument("--topic", help="topic to count (default orders.DLT)")
    dc.add_argument("--by-reason", action="store_true", help="also count per error type")
    dc.add_argument("--json", action="store_true", help="print JSON like the API's /api/v1/dlt/count")
    _common(dc)
    dc.set_defaults(func=cmd_dlt_count)
