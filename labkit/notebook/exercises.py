"""Checkers for the notebooks' *your turn* cells. Each runs the student's code on cases whose answer
is known and prints one line per case: what works, and for what does not, what was expected. A
checker never raises (a first try is not an error); it returns whether every case passed, so the
reference solution's cell can ``assert`` it.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from labkit.errors import ServiceUnavailable, ValidationError
from labkit.lang import tr
from labkit.wait import WaitTimeout, wait_until

__all__ = ["check_dead_lettered", "check_dlt_reasons", "check_fix", "check_group_shares", "check_order_processed",
           "check_retry_loop"]


@dataclass
class _Run:
    """What a retry loop did with one record: its calls, its sleeps, its DLT writes."""

    failures: list[BaseException]  # what process_record raises, call after call; then it succeeds
    calls: int = 0
    sleeps: list[int] = field(default_factory=list)
    dlt: list[str] = field(default_factory=list)

    def process_record(self, record: Any) -> None:
        self.calls += 1
        if self.calls <= len(self.failures):
            raise self.failures[self.calls - 1]

    def send_to_dlt(self, record: Any, error: BaseException) -> None:
        self.dlt.append(type(error).__name__)

    def sleep_with_backoff(self, retry_count: int) -> None:
        self.sleeps.append(retry_count)


def check_retry_loop(process: Callable[..., Any], max_retries: int = 5) -> bool:
    """Check a ``process(records, process_record, send_to_dlt, sleep_with_backoff)`` loop, the shape
    of the module's ``processWithErrorHandling``: a transient failure is retried up to ``max_retries``
    times with a sleep before each retry (and none after the last failure), then dead-lettered as
    ``MaxRetriesExceeded``; a permanent failure goes to the DLT at once; a success ends the loop.

    >>> from labkit.errors import MaxRetriesExceeded
    >>> def module_loop(records, process_record, send_to_dlt, sleep_with_backoff):
    ...     for record in records:
    ...         retry_count, processed = 0, False
    ...         while not processed and retry_count < 5:
    ...             try:
    ...                 process_record(record); processed = True
    ...             except ServiceUnavailable:
    ...                 retry_count += 1; sleep_with_backoff(retry_count)
    ...             except ValidationError as e:
    ...                 send_to_dlt(record, e); processed = True
    ...         if not processed:
    ...             send_to_dlt(record, MaxRetriesExceeded(retry_count))
    >>> check_retry_loop(module_loop)  # doctest: +ELLIPSIS
    ❌ a record that always fails (transient): 5 calls (want 6: the first + 5 retries), sleeps for retries ...
    ✅ a record that fails twice, then succeeds: 3 calls, sleeps for retries [1, 2], DLT nothing
    ✅ an invalid record (permanent): 1 call, sleeps for retries [], DLT ['ValidationError']
    False
    """
    always = [ServiceUnavailable("503")] * (max_retries + 1)
    cases = [
        (tr("a record that always fails (transient)"), always, max_retries + 1, ["MaxRetriesExceeded"]),
        (tr("a record that fails twice, then succeeds"), [ServiceUnavailable("503")] * 2, 3, []),
        (tr("an invalid record (permanent)"), [ValidationError("Invalid amount -50")], 1, ["ValidationError"]),
    ]
    ok = True
    for title, failures, want_calls, want_dlt in cases:
        run = _Run(list(failures))
        record = SimpleNamespace(topic="orders", partition=0, offset=42, key="ORD-CHECK", value=b"{}")
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # its "Retry n/5" lines would hide the verdict
                process([record], run.process_record, run.send_to_dlt, run.sleep_with_backoff)
        except Exception as exc:  # noqa: BLE001 - the student's code: say what it raised
            print(tr("❌ {title}: your function raised {error}: {exc}").format(
                title=title, error=type(exc).__name__, exc=exc))
            ok = False
            continue
        fair_sleeps = list(range(1, run.calls))  # one before each retry it made, none after the last call
        good = run.calls == want_calls and run.sleeps == fair_sleeps and run.dlt == want_dlt
        ok &= good
        calls = (tr("{n} calls") if run.calls != 1 else tr("{n} call")).format(n=run.calls) + (
            "" if run.calls == want_calls else
            tr(" (want {want}: the first + {retries} retries)").format(want=want_calls, retries=want_calls - 1))
        sleeps = tr("sleeps for retries {sleeps}").format(sleeps=run.sleeps) + (
            "" if run.sleeps == fair_sleeps else
            tr(" (want {want}: one sleep before each retry, none after the last failure)").format(want=fair_sleeps))
        nothing = tr("nothing")
        dlt = tr("DLT {dlt}").format(dlt=run.dlt or nothing) + (
            "" if run.dlt == want_dlt else tr(" (want {want})").format(want=want_dlt or nothing))
        print(tr("{mark} {title}: {calls}, {sleeps}, {dlt}").format(
            mark="✅" if good else "❌", title=title, calls=calls, sleeps=sleeps, dlt=dlt))
    return ok


def check_fix(fix: Callable[[Any], Any], entries: list[Any], fixable: set[str]) -> bool:
    """Check a DLT ``fix(entry)`` on the real DLT ``entries`` (:class:`~labkit.dlt.DltEntry`): the
    records keyed in ``fixable`` come back as a valid order (its ``orderId``, a positive number as
    ``amount``, an upper-case ``status``), every other one as ``None`` (it stays in the DLT)."""
    ok = True
    for entry in entries:
        key = entry.key_text
        try:
            order = fix(entry)
        except Exception as exc:  # noqa: BLE001 - the student's code: say what it raised
            print(tr("❌ {key}: your fix raised {error}: {exc}").format(key=key, error=type(exc).__name__, exc=exc))
            ok = False
            continue
        if key in fixable:
            valid = (isinstance(order, dict) and order.get("orderId") == key
                     and isinstance(order.get("amount"), (int, float)) and order["amount"] > 0
                     and str(order.get("status", "")).isupper())
            verdict = tr("fixed") if valid else \
                tr("want a valid order (orderId, amount > 0, STATUS), got {order!r}").format(order=order)
        else:
            valid = order is None
            verdict = tr("left in the DLT") if valid else \
                tr("want None (no code can fix it), got {order!r}").format(order=order)
        ok &= valid
        print(tr("{mark} {key}: {verdict}").format(mark="✅" if valid else "❌", key=key, verdict=verdict))
    return ok


def _verdict(ok: bool, text: str) -> bool:
    print(f"{'✅' if ok else '❌'} {text}")
    return ok


def check_order_processed(settings: Any, events: Any, order_id: str | None, since: Any = None,
                          timeout_s: float = 15.0) -> bool:
    """Check, on the broker, that the student's order ``order_id`` is in the orders topic (written
    after the offsets ``since``), that the consumer processed it (``events``) and that the group
    committed past it. Waits up to ``timeout_s`` for the consumer."""
    from labkit.kafka import committed_past, topic_frame

    if not order_id:
        return _verdict(False, tr("set my_order_id to the orderId you posted, then run this cell again"))
    records = topic_frame(settings, settings.orders_topic, since=since, keys=[order_id])
    if records.empty:
        return _verdict(False, tr("no record with key {id} in {topic}: did the POST answer 202?").format(
            id=order_id, topic=settings.orders_topic))
    coords = (int(records["partition"].iloc[-1]), int(records["offset"].iloc[-1]))
    _verdict(True, tr("{id} is in {topic}, partition {partition}, offset {offset}").format(
        id=order_id, topic=settings.orders_topic, partition=coords[0], offset=coords[1]))
    try:
        wait_until(lambda: any((e.partition, e.offset) == coords for e in events.of("Processed", "SentToDLT")),
                   timeout_s, tr("the consumer's verdict"))
    except WaitTimeout:
        return _verdict(False, tr("the consumer did not process it within {s:g} s: is the API running?").format(
            s=timeout_s))
    outcome = next(e for e in events.of("Processed", "SentToDLT") if (e.partition, e.offset) == coords)
    if outcome.kind == "SentToDLT":
        return _verdict(False, tr("the consumer sent it to the DLT ({error}): send a valid order").format(
            error=outcome.error_message))
    _verdict(True, tr("the consumer processed it (a duplicate: that orderId was applied before)")
             if outcome.duplicate else tr("the consumer processed it"))
    try:
        wait_until(lambda: committed_past(settings, [coords]), timeout_s, tr("the commit"))
    except WaitTimeout:
        return _verdict(False, tr("the group has not committed past it within {s:g} s").format(s=timeout_s))
    return _verdict(True, tr("{group} committed past it: a restart will not deliver it again").format(
        group=settings.group_id))


def check_dead_lettered(settings: Any, order_id: str | None, timeout_s: float = 15.0) -> bool:
    """Check, on the broker, that the DLT holds a record for the student's ``order_id`` whose
    envelope points at the real record in the orders topic, with the same bytes."""
    from labkit.dlt import read_dlt
    from labkit.kafka import record_at

    if not order_id:
        return _verdict(False, tr("set my_order_id to the orderId you posted, then run this cell again"))
    try:
        entry = wait_until(lambda: (read_dlt(settings, key=order_id) or [None])[-1], timeout_s,
                           tr("a DLT record for {id}").format(id=order_id))
    except WaitTimeout:
        return _verdict(False, tr("no DLT record for {id} after {s:g} s: the consumer accepted it, "
                                  "or the API refused it (4xx)").format(id=order_id, s=timeout_s))
    env = entry.envelope
    _verdict(True, tr("{id} is in {topic}: {type}: {message} (retryCount {retries})").format(
        id=order_id, topic=settings.dlt_topic, type=env.error_type, message=env.error_message,
        retries=env.retry_count))
    source = record_at(settings, env.original_topic, env.original_partition, env.original_offset)
    same = source is not None and source.value == env.raw_value
    where = f"{env.original_topic}-{env.original_partition}@{env.original_offset}"
    return _verdict(same, (tr("its envelope points at {where}, the same bytes") if same else
                           tr("its envelope points at {where}, which does not hold it")).format(where=where))


def check_group_shares(settings: Any, group: Any, members: int = 3, timeout_s: float = 30.0) -> bool:
    """Check, on the broker, that the consumer group has ``members`` members and that every
    partition of the orders topic is owned by exactly one of them (from the broker's assignments,
    or from the consumers' own events where the broker does not say). Waits for the rebalance."""
    from labkit.observe.lag import group_state

    wanted = list(range(settings.orders_partitions))
    running = list(getattr(group, "names", []))
    if len(running) != members:  # nothing to wait for: say so at once
        return _verdict(False, tr("{n} instance(s) running ({names}): want {members}; add or stop consumers, "
                                  "then run this cell again").format(
            n=len(running), names=", ".join(running) or tr("none"), members=members))

    def shares() -> dict | None:
        state = group_state(settings)
        if len(state["members"]) != members:
            return None
        if state["assignments_known"]:
            owned = {m["member_id"]: [tp.partition for tp in m["partitions"] if tp.topic == settings.orders_topic]
                     for m in state["members"]}
        else:  # the embedded broker keeps assignments to itself: the consumers' events say
            owned = {name: [p for t, p in parts if t == settings.orders_topic]
                     for name, parts in group.assignment().items()}
        flat = sorted(p for parts in owned.values() for p in parts)
        return owned if len(owned) == members and flat == wanted else None

    try:
        owned = wait_until(shares, timeout_s, tr("the rebalance"), interval_s=0.5)
    except WaitTimeout:
        found = len(group_state(settings)["members"])
        return _verdict(False, tr("after {s:g} s the group has {found} member(s), or its partitions are not shared "
                                  "yet: want {members} members owning {wanted} once each").format(
            s=timeout_s, found=found, members=members, wanted=wanted))
    split = " / ".join(str(len(parts)) for parts in owned.values())
    return _verdict(True, tr("{members} members share the {n} partitions of {topic}, each owned once: {split}").format(
        members=members, n=len(wanted), topic=settings.orders_topic, split=split))


def check_dlt_reasons(settings: Any, answer: dict[str, int] | None, since: float) -> bool:
    """Check the student's count of this run's DLT records by ``errorType`` (``{"ValidationException":
    3}``) against the DLT itself, read from the broker (records whose error time is after ``since``)."""
    from collections import Counter

    from labkit.dlt import read_dlt

    if not answer:
        return _verdict(False, tr("set my_counts to a dict {errorType: records}, then run this cell again"))
    truth = dict(Counter(entry.error_type for entry in read_dlt(settings, since=since)))
    if dict(answer) == truth:
        return _verdict(True, tr("right: this run's DLT records by errorType are {truth}").format(truth=truth))
    wrong = sorted(set(answer) | set(truth))
    detail = ", ".join(tr("{type}: yours {yours}, the DLT's {dlt}").format(type=k, yours=answer.get(k, 0),
                                                                            dlt=truth.get(k, 0))
                       for k in wrong if answer.get(k, 0) != truth.get(k, 0))
    return _verdict(False, tr("not yet: {detail} (only this run's records count: since=run_started)").format(
        detail=detail))
