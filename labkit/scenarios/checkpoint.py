"""The module's checkpoint (*Checkpoint de validation*), verified on the broker, not ticked by hand.

Each item of the module's list becomes a check that reads real state: topic metadata, records in
``orders`` and ``orders.DLT``, the group's committed offsets, the consumers' rebalance events
(published to the events topics), the ``Retry`` lines of the service logs, and a live call to the
stats endpoints compared with the DLT topic. :func:`verify` returns the ✅/❌ table;
:func:`catch_up` runs, through the order API, only the lab steps whose evidence is missing (so
notebook 10 also works on its own).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from labkit.dlt.read import read_dlt
from labkit.kafka import topics
from labkit.kafka.offsets import committed_offsets
from labkit.kafka.records import topic_records
from labkit.lang import LABELLED, tr
from labkit.paths import state_dir
from labkit.settings import Settings

__all__ = ["verify", "catch_up", "mark_caught_up", "NOTEBOOK_OF", "CAUGHT_UP", "VALID_IDS", "RETRY_LINE"]

VALID_IDS = tuple(f"ORD-{i}" for i in range(1, 6))
ORDER_STEPS = ("valid", "invalid", "retries")  # the checks that look at the records of ``orders``
# where each item's evidence comes from: what to run when it is missing
NOTEBOOK_OF = {"topic": "02_topics", "valid": "03_valid_flow", "invalid": "04_dead_letter_topic",
               "retries": "05_retries", "rebalancing": "06_rebalancing", "stats": "07_monitoring"}
CAUGHT_UP = "✅ (run by 10)"  # evidence that catch_up made, not the student (shown as tr(CAUGHT_UP))
RETRY_LINE = re.compile(r"\bRetry \d+/\S+ .*\(key ORD-RETRY\)")


def _keyed(records: list[Any], key: str) -> list[Any]:
    return [r for r in records if r.key == key.encode()]


def _committed_past(settings: Settings, copies: list[list[Any]]) -> bool:
    """Whether, for every list of copies of one order, the group committed past at least one copy:
    the order was processed once, even if a later copy went where the group does not read (09's
    share-group API) or waits for a consumer that is not running."""
    from kafka import TopicPartition

    committed = committed_offsets(settings, topics=settings.orders_topic)

    def past(r: Any) -> bool:
        return (committed.get(TopicPartition(r.topic, r.partition)) or 0) > r.offset

    return bool(copies) and all(rs and any(past(r) for r in rs) for rs in copies)


# --- the checks: each returns (passed, evidence) --------------------------------------------------

def _topic(settings: Settings, name: str, partitions: int) -> tuple[bool, str]:
    counts = topics.partition_counts(settings) if name in topics.list_topics(settings) else {}
    found = counts.get(name)
    return found == partitions, tr("{name}: {found} partition(s), {expected} expected").format(
        name=name, found=found or tr("missing"), expected=partitions)


def _valid(settings: Settings, orders: list[Any]) -> tuple[bool, str]:
    found = {oid: _keyed(orders, oid) for oid in VALID_IDS}
    missing = [oid for oid, rs in found.items() if not rs]
    if missing:
        return False, tr("not in {topic}: {ids}").format(topic=settings.orders_topic, ids=", ".join(missing))
    done = _committed_past(settings, list(found.values()))
    evidence = tr("{n} orders in {topic}, all committed by {group}") if done else \
        tr("{n} orders in {topic}, not all committed by {group}")
    return done, evidence.format(n=len(VALID_IDS), topic=settings.orders_topic, group=settings.group_id)


def _invalid(settings: Settings, orders: list[Any]) -> tuple[bool, str]:
    sources = {(r.partition, r.offset) for r in _keyed(orders, "ORD-INVALID")}
    entries = [e for e in read_dlt(settings, key="ORD-INVALID")
               if (e.envelope.original_partition, e.envelope.original_offset) in sources]
    if not entries:
        return False, tr("no DLT record for ORD-INVALID in {topic}").format(topic=settings.dlt_topic)
    env = entries[-1].envelope
    where = f"{settings.dlt_topic}-{entries[-1].partition}@{entries[-1].offset}"
    return "Invalid amount" in env.error_message, f"{where}: {env.error_message}"


def log_files() -> list[Path]:
    """Where the services write their logs: the state directory, and ``labkit-api.log`` here."""
    found = sorted(state_dir().rglob("*.log")) if state_dir().exists() else []
    here = Path.cwd() / "labkit-api.log"
    return found + ([here] if here.is_file() else [])


def _retries(settings: Settings, orders: list[Any]) -> tuple[bool, str]:
    for path in log_files():
        with path.open(encoding="utf-8", errors="replace") as lines:
            hits = [line.strip() for line in lines if RETRY_LINE.search(line)]
        if hits:
            processed = _committed_past(settings, [_keyed(orders, "ORD-RETRY")])
            evidence = tr("{n} Retry line(s) in {file}; ORD-RETRY committed") if processed else \
                tr("{n} Retry line(s) in {file}; ORD-RETRY not committed")
            return processed, evidence.format(n=len(hits), file=path.name)
    return False, tr("no 'Retry … (key ORD-RETRY)' line in the service logs")


def _rebalance_events(settings: Settings) -> list[dict]:
    events = []
    if settings.events_topic in topics.list_topics(settings):
        for record in topic_records(settings, settings.events_topic):
            try:
                events.append(json.loads(record.value))
            except (TypeError, ValueError):
                continue
    return [e for e in events if isinstance(e, dict) and e.get("kind") in ("PartitionsRevoked", "PartitionsAssigned")]


def _rebalancing(settings: Settings) -> tuple[bool, str]:
    events = _rebalance_events(settings)
    revoked = {e.get("consumer") for e in events if e["kind"] == "PartitionsRevoked"}
    assigned = {e.get("consumer") for e in events if e["kind"] == "PartitionsAssigned"}
    ok = bool(revoked) and len(assigned) >= 2
    return ok, tr("{n} rebalance events: {assigned} consumer(s) assigned, {revoked} revoked").format(
        n=len(events), assigned=len(assigned), revoked=len(revoked))


def _stats(settings: Settings) -> tuple[bool, str]:
    import httpx

    from labkit.api.server import ApiServer
    from labkit.observe.monitor import dlt_count

    with ApiServer(settings, port=0, consume=False) as api:
        stats = httpx.get(f"{api.url}/api/v1/stats", timeout=10)
        count = httpx.get(f"{api.url}/api/v1/dlt/count", timeout=15)
    in_topic = dlt_count(settings)
    served = count.json().get("count") if count.status_code == 200 else None
    ok = stats.status_code == 200 and served == in_topic
    return ok, tr("GET /api/v1/stats {status}; GET /api/v1/dlt/count = {served}, DLT topic holds {held}").format(
        status=stats.status_code, served=served, held=in_topic)


CHECKS: list[tuple[str, str, Callable[..., tuple[bool, str]]]] = [
    ("Topic `orders` créé avec 6 partitions", "topic", lambda s, o: _topic(s, s.orders_topic, s.orders_partitions)),
    ("Topic `orders.DLT` créé", "topic", lambda s, o: _topic(s, s.dlt_topic, s.topics[s.dlt_topic])),
    ("Messages valides traités correctement", "valid", _valid),
    ("Message invalide routé vers DLT", "invalid", _invalid),
    ("Retries observés dans les logs", "retries", _retries),
    ("Rebalancing déclenché et observé", "rebalancing", lambda s, o: _rebalancing(s)),
    ("Statistiques d'erreurs consultées", "stats", lambda s, o: _stats(s)),
]


def verify(settings: Settings) -> pd.DataFrame:
    """One row per checkpoint item: the module's wording, ✅/❌, the evidence read from Kafka, and for
    a ❌ the notebook to run (``to_do``)."""
    try:
        exists = settings.orders_topic in topics.list_topics(settings)
        orders = topic_records(settings, settings.orders_topic) if exists else []
    except Exception as exc:  # noqa: BLE001 - every check then says why it could not look
        orders, unreadable = [], exc
    else:
        unreadable = None
    rows = []
    for wording, step, check in CHECKS:
        try:
            if unreadable is not None and step in ORDER_STEPS:
                raise unreadable
            ok, evidence = check(settings, orders)
        except Exception as exc:  # a check that cannot run is a failed check, with the reason
            ok, evidence = False, tr("could not check: {error}").format(error=f"{type(exc).__name__}: {exc}")
        rows.append({"checkpoint": wording, "result": "✅" if ok else "❌", "evidence": evidence,
                     "to_do": "" if ok else tr("run {notebook}").format(notebook=NOTEBOOK_OF[step]), "step": step})
    table = pd.DataFrame(rows)
    table.attrs[LABELLED] = True  # the notebook shows French column labels; code indexes the English names
    return table


def _until(check: Callable[[], tuple[bool, str]], timeout_s: float, what: str) -> None:
    from labkit.wait import wait_until

    last: list[str] = []

    def passed() -> bool:
        ok, evidence = check()
        last[:] = [evidence]
        return ok

    wait_until(passed, timeout_s, what, interval_s=0.5, describe=lambda: last[0] if last else "nothing")


def _api_steps(settings: Settings, missing: set[str], timeout_s: float) -> list[str]:
    import httpx

    from labkit.api.server import ApiServer

    ran: list[str] = []
    log_file = state_dir() / "labkit-api.log"
    with ApiServer(settings, port=0, log_file=log_file) as api:
        def post(order: dict) -> None:
            httpx.post(f"{api.url}/api/v1/orders", json=order, timeout=15).raise_for_status()

        if "valid" in missing:
            for i in range(1, 6):
                post({"orderId": f"ORD-{i}", "amount": i * 100, "status": "PENDING"})
            ran.append(tr("Lab 1: sent ORD-1 … ORD-5"))
        if "invalid" in missing:
            post({"orderId": "ORD-INVALID", "amount": -50, "status": "PENDING"})
            ran.append(tr("Lab 2: sent ORD-INVALID (amount -50)"))
        def settle(step: str) -> None:
            check = next(c for _, s, c in CHECKS if s == step)
            _until(lambda: check(settings, topic_records(settings, settings.orders_topic)), timeout_s,
                   f"checkpoint '{step}'")

        for step in ("valid", "invalid"):
            if step in missing:
                settle(step)
        if "retries" in missing:  # the module's Lab 3: errors on, send, watch the retries, errors off
            switch = f"{api.url}/api/v1/config/simulate-transient-error"
            httpx.post(switch, params={"enabled": "true"}, timeout=10).raise_for_status()
            post({"orderId": "ORD-RETRY", "amount": 200, "status": "PENDING"})
            _until(lambda: (any(RETRY_LINE.search(line) for line in log_file.read_text().splitlines()),
                            "no Retry line yet"),
                   timeout_s, "a Retry line for ORD-RETRY in the log")
            httpx.post(switch, params={"enabled": "false"}, timeout=10).raise_for_status()
            ran.append(tr("Lab 3: transient errors on, sent ORD-RETRY, saw it retried, errors off"))
            settle("retries")
    return ran


def _rebalance_step(settings: Settings, timeout_s: float) -> str:
    from labkit.group.supervisor import ConsumerGroup

    with ConsumerGroup(settings) as group:
        group.start(1)
        group.wait_for_assignment([settings.orders_partitions], timeout_s=timeout_s)
        group.add()
        half = settings.orders_partitions // 2
        group.wait_for_assignment([half, settings.orders_partitions - half], timeout_s=timeout_s)
    return tr("Lab 4: one consumer, then a second one joined (a rebalance)")


def catch_up(settings: Settings, table: pd.DataFrame, timeout_s: float = 60.0) -> list[str]:
    """Run the lab steps whose checkpoint failed (valid orders, invalid order, retry, rebalance);
    returns what was run. Topics are created first if missing. Steps that passed are left alone."""
    missing = set(table.loc[table["result"] == "❌", "step"])
    ran: list[str] = []
    if "topic" in missing:
        topics.create(settings)
        ran.append(tr("Étape 2: created the topics"))
    if missing & {"valid", "invalid", "retries"}:
        ran += _api_steps(settings, missing, timeout_s)
    if "rebalancing" in missing:
        ran.append(_rebalance_step(settings, timeout_s))
    return ran


def mark_caught_up(final: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    """``final`` with the items that were ❌ in ``before`` and are ✅ now marked :data:`CAUGHT_UP`:
    the checklist says which evidence the student made and which :func:`catch_up` made."""
    was_missing = set(before.loc[before["result"] == "❌", "step"])
    marked = final.copy()
    marked.loc[(marked["result"] == "✅") & marked["step"].isin(was_missing), "result"] = tr(CAUGHT_UP)
    return marked
