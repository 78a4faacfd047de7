"""A share group a notebook drives (KIP-932): N share consumers of the orders topic, as threads of the
notebook (one failure-injection switchboard for all, so the panel and the API's switches apply) or
as OS processes (``processes=True``: one can be SIGKILLed), with every event in the notebook's
:class:`~labkit.events.EventLog`.

:meth:`ShareGroup.setup` prepares the broker side: the DLQ topic, the group's configs (delivery limit,
lock duration, DLQ) and its start offsets - at the end of the orders topic, with Kafka's own
``kafka-share-groups --reset-offsets --to-latest``, so a run reads only the orders it produces and
not every order of the labs before it. Also ``python -m labkit.group.share`` (one worker process).
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
from dataclasses import asdict
from typing import Any

from labkit.broker import tools
from labkit.broker.stuck_group import on_embedded_broker
from labkit.engine.injection import FailureInjector
from labkit.engine.share import ShareWorker
from labkit.events import EventLog
from labkit.group.members import Members, run_member_process
from labkit.kafka.share_groups import ShareGroupConfig, dlq_entries, setup_share_group
from labkit.settings import Settings
from labkit.wait import WaitTimeout, wait_until

__all__ = ["ShareGroup", "NotOnThisBroker", "require_share_groups", "share_group_members", "share_group_offsets"]

log = logging.getLogger("labkit.share")



class NotOnThisBroker(RuntimeError):
    """Share groups need Apache Kafka 4.2+; the lite embedded broker has none."""


NO_SHARE_GROUPS = ("share groups need Apache Kafka 4.2 or later; the lite embedded broker has none. Run the "
                   "course on the default broker: labkit broker up --engine kafka")


def require_share_groups(settings: Settings) -> None:
    """In a notebook on the embedded broker: say why this notebook cannot run and stop "Run all" here
    (``SystemExit`` shows one line in Jupyter, not a traceback)."""
    if on_embedded_broker(settings):
        raise SystemExit(NO_SHARE_GROUPS)


def _describe(settings: Settings, group_id: str, what: str, timeout_s: float) -> list[list[str]]:
    """The rows of ``kafka-share-groups --describe --<what>`` for ``group_id``, split into cells."""
    done = subprocess.run(tools.command("kafka-share-groups", [
        "--bootstrap-server", settings.bootstrap_servers, "--describe", f"--{what}", "--group", group_id]),
        capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"kafka-share-groups could not describe {group_id}: "
                           f"{(done.stderr.strip() or done.stdout.strip())[-300:]}")
    return [line.split() for line in done.stdout.splitlines() if line.split()[:1] == [group_id]]


def share_group_offsets(settings: Settings, group_id: str, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """What the broker says of the group's share-partitions, with Kafka's own
    ``kafka-share-groups --describe --offsets``: ``{topic, partition, start_offset, lag}`` per partition
    (lag: records after the start offset not yet acknowledged)."""
    rows = [{"topic": c[1], "partition": int(c[2]),
             "start_offset": int(c[3]) if c[3].isdigit() else None, "lag": int(c[4]) if c[4].isdigit() else None}
            for c in _describe(settings, group_id, "offsets", timeout_s) if len(c) == 5 and c[2].isdigit()]
    if not rows:
        raise RuntimeError(f"kafka-share-groups shows no share-partition for {group_id} yet")
    return rows


def share_group_members(settings: Settings, group_id: str, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """The group's members as the broker assigned them, with Kafka's own
    ``kafka-share-groups --describe --members``: ``{client_id, partitions}`` per member, ``partitions``
    the ``(topic, partition)`` it may fetch from. With more members than partitions, a partition is
    given to several members: that is how a share group uses more consumers than partitions."""
    members = []
    for cells in _describe(settings, group_id, "members", timeout_s):
        if len(cells) < 5:  # GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS [ASSIGNMENT]
            continue
        partitions = []
        for part in (cells[5] if len(cells) > 5 else "").split(";"):
            topic, _, numbers = part.rpartition(":")
            partitions += [(topic, int(n)) for n in numbers.split(",") if topic and n.isdigit()]
        members.append({"client_id": cells[3], "partitions": partitions})
    return members


class ShareGroup(Members):
    """Share consumers of ``config.group_id`` (see the module doc). ``injector``: the order service the
    thread workers call (default: a new one, all switches off); process workers get
    ``transient_targets`` (order ids whose every call fails) and ``latency_s`` (each call's time) at start."""

    PROCESS_MODULE = "labkit.group.share"
    NAME_PREFIX = "share"

    def __init__(self, settings: Settings, config: ShareGroupConfig | None = None, *,
                 events: EventLog | None = None, injector: FailureInjector | None = None,
                 processes: bool = False, transient_targets: tuple[str, ...] = (), latency_s: float = 0.0) -> None:
        if on_embedded_broker(settings):
            raise NotOnThisBroker(NO_SHARE_GROUPS)
        self.config = config or ShareGroupConfig()
        super().__init__(settings, self.config.group_id, events=events, injector=injector, processes=processes,
                         transient_targets=transient_targets, latency_s=latency_s)

    def _thread_member(self, name: str) -> ShareWorker:
        return ShareWorker(self.settings, name, self.config, injector=self.injector, events=self.events)

    def _process_args(self) -> list[str]:
        return ["--config-json", json.dumps(asdict(self.config))]

    # --- the broker side ------------------------------------------------------------------------

    def setup(self, timeout_s: float = 30.0) -> ShareGroupConfig:
        """DLQ topic, group configs, start offsets at the end of the orders topic. The group must have
        no member (a crashed one is evicted after the share session timeout): retried until then."""
        setup_share_group(self.settings, self.config)
        args = ["--bootstrap-server", self.settings.bootstrap_servers, "--group", self.config.group_id,
                "--topic", self.settings.orders_topic, "--reset-offsets", "--to-latest", "--execute"]
        last = ""

        def reset() -> bool:
            nonlocal last
            done = subprocess.run(tools.command("kafka-share-groups", args), capture_output=True, text=True,
                                  timeout=60, stdin=subprocess.DEVNULL)
            last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
            return done.returncode == 0 and "Error" not in done.stdout

        try:
            wait_until(reset, timeout_s, what="the share group's start offsets", interval_s=1.0)
        except WaitTimeout:
            raise RuntimeError(f"could not set {self.config.group_id}'s start offsets: {last[0]}") from None
        return self.config

    # --- what became of the orders ----------------------------------------------------------------

    def settled(self, order_ids: list[str], since: dict | None = None) -> dict[str, Any]:
        """Where each order stands, from the events and the DLQ read back from the broker:
        ``accepted`` (ids), ``dead_lettered`` (id -> the broker's reason), ``in_flight`` (neither yet),
        ``deliveries`` (id -> ``[(ack, consumer), ...]``, the answers the consumers gave) and
        ``delivery_counts`` (id -> the broker's own count, from the DLQ record's headers)."""
        wanted = set(order_ids)
        deliveries: dict[str, list[tuple[str, str]]] = {}
        for event in self.events.of("Acknowledged"):
            if event.record_id in wanted:
                deliveries.setdefault(event.record_id, []).append((event.ack, event.consumer))
        accepted = sorted(i for i, d in deliveries.items() if any(ack == "ACCEPT" for ack, _ in d))
        entries = [d for d in dlq_entries(self.settings, self.config.dlq_topic, since)
                   if d["key"] in wanted and d["group"] == self.config.group_id]
        dead = {d["key"]: d["reason"] for d in entries}
        return {"accepted": accepted, "dead_lettered": dead,
                "in_flight": sorted(wanted - set(accepted) - set(dead)), "deliveries": deliveries,
                "delivery_counts": {d["key"]: d["delivery_count"] for d in entries}}

    def wait_settled(self, order_ids: list[str], since: dict | None = None, timeout_s: float = 60.0) -> dict:
        """:meth:`settled` once no order is in flight (every one accepted or dead-lettered by the broker)."""
        last: dict[str, Any] = {}

        def check() -> dict | None:
            nonlocal last
            last = self.settled(order_ids, since)
            return last if not last["in_flight"] else None

        return wait_until(check, timeout_s, what="every order accepted or in the DLQ",
                          describe=lambda: f"still in flight: {last.get('in_flight', '?')[:10]}")

    def wait_for_work(self, records: int = 10, timeout_s: float = 30.0) -> str:
        """Wait until the members have received ``records`` records; the name of the live member that
        received the latest one (it holds records now: the one to crash)."""
        def busy() -> str | None:
            received = [e for e in self.events.of("Received") if e.consumer in self.names]
            return received[-1].consumer if len(received) >= records else None

        return wait_until(busy, timeout_s, what=f"the share consumers to receive {records} records")

    def redelivered(self, name: str, since_ts: float) -> Any:
        """The records ``name`` received and never answered (it held them when it stopped), and who
        answered them after ``since_ts``: a DataFrame (order, accepted by, delivery count, seconds later)."""
        import pandas as pd

        answered_by_it = {e.record_id for e in self.events.of("Acknowledged") if e.consumer == name}
        held = [e.record_id for e in self.events.of("Received")
                if e.consumer == name and e.record_id not in answered_by_it]
        later = {e.record_id: e for e in self.events.of("Acknowledged") if e.ts >= since_ts and e.consumer != name}
        rows = [{"order": r, "answered by": later[r].consumer if r in later else None,
                 "answer": later[r].ack if r in later else None,
                 "delivery": later[r].delivery_count if r in later else None,
                 "seconds after the crash": round(later[r].ts - since_ts, 1) if r in later else None}
                for r in dict.fromkeys(held)]
        return pd.DataFrame(rows, columns=["order", "answered by", "answer", "delivery", "seconds after the crash"])

    # --- members --------------------------------------------------------------------------------

    def assignment(self, timeout_s: float = 30.0) -> Any:
        """Which members the broker lets fetch from each partition, once every running member has its
        partitions (``kafka-share-groups --describe --members``): a DataFrame, one row per partition of
        the orders topic, its members' names and how many."""
        import pandas as pd

        names = self.names
        prefix, suffix = "labkit-", f"-{socket.gethostname()}"  # client.id = labkit-<name>-<host>
        last: list[dict[str, Any]] = []

        def settled() -> dict[int, list[str]] | None:
            nonlocal last
            last = share_group_members(self.settings, self.config.group_id)
            by_name = {m["client_id"].removeprefix(prefix).removesuffix(suffix): m["partitions"] for m in last}
            if sorted(by_name) != sorted(names) or not all(by_name.values()):
                return None
            table: dict[int, list[str]] = {}
            for name in names:
                for topic, partition in by_name[name]:
                    if topic == self.settings.orders_topic:
                        table.setdefault(partition, []).append(name)
            return table

        table = wait_until(settled, timeout_s, what=f"the broker to give partitions to all {len(names)} members",
                           describe=lambda: f"members seen: {[m['client_id'] for m in last]}")
        return pd.DataFrame([{"partition": p, "consumers": ", ".join(table[p]), "how many": len(table[p])}
                             for p in sorted(table)]).set_index("partition")


# --- the worker process -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    return run_member_process(
        argv, "python -m labkit.group.share", "one share consumer of the course",
        lambda args, settings, injector, events, flush: ShareWorker(
            settings, args.name, ShareGroupConfig(**json.loads(args.config_json)), injector=injector,
            events=events, before_commit=flush),
        extra_args=lambda p: p.add_argument("--config-json", required=True))


if __name__ == "__main__":
    sys.exit(main())
