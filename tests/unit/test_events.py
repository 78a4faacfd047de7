"""Events: frozen, JSON round trip; EventLog: thread safety, subscribers, DataFrame, stats, ledger."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from labkit.engine.injection import FailureInjector
from labkit.errors import ServiceUnavailable
from labkit.events import (
    EVENT_TYPES,
    Committed,
    EventLog,
    PartitionsAssigned,
    Processed,
    Produced,
    Received,
    Retried,
    RetryScheduled,
    SentToDLT,
    SentToRetryTopic,
    event_from_dict,
)


def test_every_kind_round_trips_through_json():
    for name, cls in EVENT_TYPES.items():
        event = cls(consumer="c1")
        assert event.kind == name
        back = event_from_dict(json.loads(json.dumps(event.to_dict())))
        assert back == event
    e = PartitionsAssigned(consumer="c", partitions=(("orders", 0), ("orders", 3)))
    assert event_from_dict(json.loads(json.dumps(e.to_dict()))) == e
    c = Committed(offsets=(("orders", 1, 10),))
    assert event_from_dict(json.loads(json.dumps(c.to_dict()))).offsets == (("orders", 1, 10),)


def test_events_are_frozen():
    e = Processed(order_id="ORD-1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.order_id = "x"
    with pytest.raises(ValueError):
        event_from_dict({"kind": "Nope"})


def _story(log):
    for i in range(1, 5):
        log.append(Produced(key=f"ORD-{i}"))
    log.append(Received(key="ORD-1", order_id="ORD-1"))
    log.append(Processed(key="ORD-1", order_id="ORD-1"))
    log.append(RetryScheduled(key="ORD-2", attempt=1, planned_delay_s=0.1))
    log.append(RetryScheduled(key="ORD-2", attempt=2, planned_delay_s=0.2))
    log.append(Processed(key="ORD-2", order_id="ORD-2", attempt=2))
    log.append(Processed(key="ORD-2", order_id="ORD-2", duplicate=True))
    log.append(SentToDLT(key="ORD-3", reason="ValidationException", retry_count=0))
    log.append(Received(key="ORD-4"))


def test_stats_and_ledger():
    log = EventLog()
    _story(log)
    s = log.stats()
    assert s["processed"] == 2 and s["duplicates"] == 1
    assert s["retries_per_attempt"] == {1: 1, 2: 1}
    assert s["dlt_per_reason"] == {"ValidationException": 1}
    assert s["in_flight"] == 1
    ledger = log.ledger()
    assert (ledger["produced"], ledger["processed"], ledger["dlt"], ledger["in_flight"]) == (4, 2, 1, 1)
    assert ledger["ok"] and not ledger["settled"] and ledger["in_flight_ids"] == ["ORD-4"]
    lost = log.ledger(["ORD-1", "ORD-9"])
    assert lost["lost"] == ["ORD-9"] and not lost["ok"]
    log.append(SentToDLT(key="ORD-4", reason="MaxRetriesExceededException"))
    log.append(Processed(key="ORD-3", order_id="ORD-3"))  # replayed after a fix
    final = log.ledger()
    assert final["settled"] and (final["processed"], final["dlt"]) == (3, 1)


def test_frame_has_kind_and_datetime():
    log = EventLog()
    assert list(log.frame().columns[:3]) == ["kind", "ts", "consumer"]
    _story(log)
    df = log.frame()
    assert len(df) == len(log) and "kind" in df and str(df["time"].dt.tz) == "UTC"
    assert set(log.frame("Processed")["kind"]) == {"Processed"}
    assert len(log.frame(SentToDLT)) == 1


def test_thread_safe_append_and_subscribe():
    log = EventLog()
    seen = []
    unsubscribe = log.subscribe(seen.append)
    threads = [threading.Thread(target=lambda: [log.append(Produced(key="k")) for _ in range(500)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(log) == 4000 and len(seen) == 4000
    unsubscribe()
    log.append(Produced(key="k"))
    assert len(seen) == 4000
    log.clear()
    assert len(log) == 0


def test_failure_injector_switches():
    svc = FailureInjector(fail_first=2, seed=1)
    for _ in range(2):
        with pytest.raises(ServiceUnavailable):
            svc.call("ORD-1")
    svc.call("ORD-1")
    svc.set(transient=True, rate=0.5, fail_first=0)
    outcomes = []
    for i in range(200):
        try:
            svc.call(f"X-{i}")
            outcomes.append(True)
        except ServiceUnavailable:
            outcomes.append(False)
    assert 60 < outcomes.count(False) < 140
    again = FailureInjector(transient=True, rate=0.5, seed=1)
    svc2 = []
    for i in range(200):
        try:
            again.call(f"X-{i}")
            svc2.append(True)
        except ServiceUnavailable:
            svc2.append(False)
    assert len(svc2) == 200
    svc.set(transient=True, rate=1.0, targets={"ONLY"})
    svc.call("OTHER")
    with pytest.raises(ServiceUnavailable):
        svc.call("ONLY")
    slept = []
    slow = FailureInjector(latency_s=0.25, sleep=slept.append)
    slow.call("A")
    assert slept == [0.25]
    with pytest.raises(TypeError):
        svc.set(bogus=1)
    assert svc.snapshot()["targets"] == ["ONLY"]


# --- incremental stats: the same figures as a full rescan, with or without a bound ------------------



def _rescan(events):
    """The figures computed the slow, obvious way: a reference for the incremental EventLog."""
    status = {}
    for e in events:
        rid = e.record_id
        if rid is None:
            continue
        if isinstance(e, Processed):
            status[rid] = "processed"
        elif isinstance(e, SentToDLT):
            status[rid] = "dlt"
        elif isinstance(e, (Received, RetryScheduled, Retried, SentToRetryTopic)) and status.get(rid) not in (
                "processed", "dlt"):
            status[rid] = "in_flight"
    kinds = Counter(e.kind for e in events)
    return {
        "received": kinds["Received"],
        "processed": sum(isinstance(e, Processed) and not e.duplicate for e in events),
        "duplicates": sum(isinstance(e, Processed) and e.duplicate for e in events),
        "retries_per_attempt": dict(sorted(
            Counter(e.attempt for e in events if isinstance(e, RetryScheduled)).items())),
        "dlt_per_reason": dict(Counter(e.reason for e in events if isinstance(e, SentToDLT))),
        "in_flight": sum(s == "in_flight" for s in status.values()),
        "commits": kinds["Committed"],
    }, status


_ids = st.sampled_from(["ORD-1", "ORD-2", "ORD-3", None])
_event = st.one_of(
    st.builds(Received, key=_ids),
    st.builds(Processed, key=_ids, order_id=_ids, duplicate=st.booleans()),
    st.builds(RetryScheduled, key=_ids, attempt=st.integers(1, 3)),
    st.builds(Retried, key=_ids),
    st.builds(SentToDLT, key=_ids, reason=st.sampled_from(["ValidationException", "MalformedPayloadException"])),
    st.builds(SentToRetryTopic, key=_ids),
    st.builds(Committed),
    st.builds(Produced, key=_ids),
)


@hsettings(max_examples=200, deadline=None)
@given(events=st.lists(_event, max_size=40), bound=st.one_of(st.none(), st.integers(1, 10)))
def test_incremental_stats_equal_a_full_rescan(events, bound):
    log = EventLog(max_events=bound)
    for e in events:
        log.append(e)
    expected, status = _rescan(events)
    stats = log.stats()
    assert {k: stats[k] for k in expected} == expected
    produced = [e.record_id for e in events if isinstance(e, Produced) and e.record_id]
    ledger = log.ledger(produced)
    counts = Counter(status.get(i, "lost") for i in dict.fromkeys(produced))
    assert (ledger["processed"], ledger["dlt"], ledger["in_flight"], len(ledger["lost"])) == (
        counts["processed"], counts["dlt"], counts["in_flight"], counts["lost"])
    assert len(log) == (len(events) if bound is None else min(bound, len(events)))
    assert log.events == (events if bound is None else events[len(events) - min(bound, len(events)):])


def test_a_bounded_log_keeps_the_newest_events_and_exact_figures():
    log = EventLog(max_events=3)
    _story(log)
    assert [e.kind for e in log.events] == ["Processed", "SentToDLT", "Received"]
    assert log.stats()["processed"] == 2 and log.stats()["dlt"] == 1
    assert log.ledger()["produced"] == 4  # Produced events are counted even after they scrolled out
    assert log.dropped == len(_story_events()) - 3
    log.clear()
    assert len(log) == 0 and log.stats()["processed"] == 0 and log.dropped == 0


def _story_events():
    log = EventLog()
    _story(log)
    return log.events


# --- record_processed: the hot path's batch gives what appending each event gives -------------------

_row = st.builds(lambda topic, partition, offset, key, order_id, duplicate, received_ts, processed_ts: (
    "c1", topic, partition, offset, key, order_id, duplicate, received_ts, processed_ts),
    st.sampled_from(["orders", "orders.retry"]), st.integers(1, 2),  # usually one partition a batch
    st.integers(0, 99), _ids, _ids, st.booleans(), st.floats(0, 1e9), st.floats(0, 1e9))
_step = st.one_of(_event, st.lists(_row, max_size=5))  # an event, or one batch of happy-path rows


def _row_events(rows):
    """The events record_processed stands for, built the slow way."""
    for consumer, topic, partition, offset, key, order_id, duplicate, received_ts, processed_ts in rows:
        common = dict(consumer=consumer, topic=topic, partition=partition, offset=offset, key=key)
        yield Received(ts=received_ts, **common)
        yield Processed(ts=processed_ts, order_id=order_id, duplicate=duplicate, **common)


@hsettings(max_examples=200, deadline=None)
@given(steps=st.lists(_step, max_size=12), bound=st.one_of(st.none(), st.integers(1, 10)),
       subscribed=st.booleans())
def test_record_processed_equals_appending_each_event(steps, bound, subscribed):
    fast, slow = EventLog(max_events=bound), EventLog(max_events=bound)
    seen = []
    if subscribed:
        fast.subscribe(seen.append)
    for step in steps:
        if isinstance(step, list):
            fast.record_processed(step)
            slow.extend(_row_events(step))
        else:
            fast.append(step)
            slow.append(step)
    assert fast.stats() == slow.stats()
    assert fast.partition_counts() == slow.partition_counts()
    assert fast.ledger() == slow.ledger()
    assert (len(fast), fast.dropped) == (len(slow), slow.dropped)
    assert fast.events == slow.events
    assert fast.events == slow.events  # built once, then kept
    if subscribed:
        assert seen == [e for step in steps
                        for e in (_row_events(step) if isinstance(step, list) else [step])]


def test_record_processed_builds_frozen_events_in_order():
    log = EventLog()
    log.record_processed([("c1", "orders", 4, 10, "ORD-1", "ORD-1", False, 1.0, 1.5),
                          ("c1", "orders", 4, 11, "ORD-2", "ORD-2", True, 2.0, 2.5)])
    assert [(e.kind, e.offset, e.ts) for e in log.events] == [
        ("Received", 10, 1.0), ("Processed", 10, 1.5), ("Received", 11, 2.0), ("Processed", 11, 2.5)]
    assert log.of(Processed)[1].duplicate is True
    assert list(log.frame()["kind"]) == ["Received", "Processed", "Received", "Processed"]
    assert log.stats()["processed"] == 1 and log.stats()["duplicates"] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        log.events[0].key = "x"


# --- the tables students see: integers as integers, no NaN noise (issue 22) -------------------------


def _one_order_story(log):
    """Every event about one order, as notebook 05 shows them: two retries, then processed."""
    log.append(Produced(consumer="labkit-api", topic="orders", partition=2, offset=7, key="ORD-RETRY",
                        order_id="ORD-RETRY"))
    log.append(Received(topic="orders", partition=2, offset=7, key="ORD-RETRY"))
    for n in (1, 2):
        log.append(RetryScheduled(topic="orders", partition=2, offset=7, key="ORD-RETRY", attempt=n,
                                  max_attempts=5, planned_delay_s=0.2 * n, mode="pause", error="ServiceUnavailable"))
        log.append(Retried(topic="orders", partition=2, offset=7, key="ORD-RETRY", attempt=n,
                           planned_delay_s=0.2 * n, actual_delay_s=0.2 * n + 0.003))
    log.append(Processed(topic="orders", partition=2, offset=7, key="ORD-RETRY", order_id="ORD-RETRY", attempt=2))
    log.append(Committed(offsets=(("orders", 2, 8),)))


def test_frame_integers_are_nullable_integers_not_floats():
    log = EventLog()
    _one_order_story(log)
    df = log.frame()
    for column in ("attempt", "partition", "offset", "max_attempts"):
        assert str(df[column].dtype) == "Int64", (column, df[column].dtype)
    assert str(df["duplicate"].dtype) == "boolean"
    assert df["attempt"].dropna().tolist() == [0, 1, 1, 2, 2, 2]  # 1, not 1.0
    assert df["ts"].dtype == float and df["planned_delay_s"].dtype == float
    retried = log.frame("Retried")
    assert retried["attempt"].astype(int).tolist() == [1, 2]  # what plots.planned_vs_actual does
    story = df[(df["topic"] == "orders") & (df["partition"] == 2) & (df["offset"] == 7)]  # 05's filter
    assert len(story) == 7


def test_frame_says_its_missing_values_are_blank_and_the_plain_views_keep_them():
    from labkit.events.log import BLANK_MISSING

    log = EventLog()
    _one_order_story(log)
    df = log.frame()
    assert df.attrs.get(BLANK_MISSING) is True
    story = df[df["key"] == "ORD-RETRY"].assign(t_s=df["ts"] - df["ts"].min())
    assert story[["t_s", "kind", "attempt"]].round(3).attrs.get(BLANK_MISSING) is True  # survives 05's steps
    assert df["planned_delay_s"].isna().any()  # the data still says "missing": only the display is blank


def test_the_injector_tells_its_subscribers_of_every_change():
    svc = FailureInjector()
    seen = []
    unsubscribe = svc.subscribe(seen.append)
    svc.set(transient=True, rate=0.5)
    svc.set(transient=True)  # no change: nothing to say
    svc.set(fail_first=2)
    assert [(s["transient"], s["rate"], s["fail_first"]) for s in seen] == [(True, 0.5, 0), (True, 0.5, 2)]
    svc.subscribe(lambda snapshot: 1 / 0)  # a broken subscriber does not break the switch
    svc.set(transient=False)
    assert svc.snapshot()["transient"] is False and seen[-1]["transient"] is False
    unsubscribe()
    svc.set(rate=1.0)
    assert len(seen) == 3


def test_a_share_consumers_answers_count_as_retries_and_dlt_like_the_consumer_groups():
    """The failure panel reads EventLog.stats(): with share consumers a RELEASE is a retry, a REJECT
    or a RELEASE at the delivery limit goes to the (broker's) DLT, an ACCEPT is its Processed."""
    from labkit.events.kinds import Acknowledged, Processed, Received

    log = EventLog()
    at = {"topic": "orders", "partition": 0, "consumer": "share-1"}
    for offset, order, answers in ((0, "ORD-OK", ["ACCEPT"]), (1, "ORD-BAD", ["REJECT"]),
                                   (2, "ORD-FLAKY", ["RELEASE"] * 3), (3, "ORD-HICCUP", ["RELEASE", "ACCEPT"])):
        for delivery, ack in enumerate(answers, start=1):
            log.append(Received(**at, offset=offset, key=order, order_id=order, attempt=delivery))
            if ack == "ACCEPT":
                log.append(Processed(**at, offset=offset, key=order, order_id=order, attempt=delivery))
            log.append(Acknowledged(**at, offset=offset, key=order, order_id=order, ack=ack, delivery_count=delivery,
                                    delivery_limit=3, reason="ValidationException" if ack == "REJECT" else ""))
    stats = log.stats()
    assert stats["processed"] == 2 and stats["in_flight"] == 0
    assert stats["retries"] == 3 and stats["retries_per_attempt"] == {1: 2, 2: 1}  # FLAKY 1, 2; HICCUP 1
    assert stats["dlt_per_reason"] == {"ValidationException": 1, "DeliveryLimitReached": 1}
    assert log.partition_counts()[("orders", 0)] == {"processed": 2, "retries": 3, "dlt": 2}
