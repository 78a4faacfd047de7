"""The KIP-848 consumer group protocol (``group.protocol=consumer``) on the real broker: 2 members, a 3rd
joins, it leaves cleanly, one is SIGKILLed; each step's assignment is reached and on the Timeline, the
survivors of the join keep (and keep processing) the partitions they do not give up, and no order is
lost. On the embedded broker: the clear error, before anything starts."""

from __future__ import annotations

import itertools
import logging
import threading
import uuid

import pytest

from labkit.group.kip848 import Kip848Group
from labkit.group.share import NotOnThisBroker
from labkit.kafka import clients, producer, topics
from labkit.observe.timeline import Timeline, explain
from labkit.orders import Order
from tests.conftest import ENGINE
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.broker
needs_kip848 = pytest.mark.skipif(ENGINE == "embedded", reason="the KIP-848 consumer protocol needs Apache "
                                  "Kafka 4.0+: the embedded broker (Tansu) does not speak it")


class Orders:
    """Orders produced on a thread, 5 every 0.1 s, until :meth:`stop`: the load a rebalance runs under."""

    def __init__(self, settings, events) -> None:
        self.settings, self.events, self.ids = settings, events, []
        self._stop = threading.Event()
        self._numbers = itertools.count()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        client = clients.producer(self.settings)
        try:
            while not self._stop.wait(0.1):
                batch = [Order(f"ORD-{next(self._numbers)}", 10) for _ in range(5)]
                self.ids += [s.key for s in producer.produce(self.settings, batch, events=self.events,
                                                             producer=client)]
        except BaseException as exc:  # noqa: BLE001 - the test asserts it is None
            self.error = exc
        finally:
            client.close(timeout=5)

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(30)
        assert self.error is None and not self._thread.is_alive(), self.error
        return self.ids


@pytest.fixture(scope="module")
def run(broker_settings):
    """One run for the module (each step waits on a real rebalance): 2 process members -> a 3rd joins ->
    it leaves (SIGTERM) -> a survivor is SIGKILLed, under a steady load of orders. What the tests read."""
    if ENGINE == "embedded":
        pytest.skip(needs_kip848.kwargs["reason"])
    settings = broker_settings.with_prefix(f"kip848-{uuid.uuid4().hex[:6]}-")
    topics.create(settings)
    group = Kip848Group(settings, processes=True)
    load = None
    try:
        group.start(2)
        steps = {"two": group.wait_for_assignment([3, 3], 60)}
        load = Orders(settings, group.events)
        wait_until(lambda: len(group.events.of("Processed")) >= 20, 30, "the 2 members processing orders")
        third = group.add()
        steps["join"] = group.wait_for_assignment([2, 2, 2], 60)
        wait_until(lambda: any(e.consumer == third for e in group.events.of("Processed")), 30,
                   f"{third} processing orders")
        group.stop(third)
        steps["leave"] = group.wait_for_assignment([3, 3], 60)
        victim = group.names[0]
        group.kill(victim)
        steps["crash"] = group.wait_for_assignment([6], 60)  # evicted after the group's 10 s session
        ids = load.stop()
        load = None
        wait_until(lambda: set(ids) <= {e.order_id for e in group.events.of("Processed")}, 60,
                   "every order processed")
        yield {"group": group, "steps": steps, "third": third, "victim": victim, "ids": ids,
               "events": list(group.events.events)}
    finally:
        if load is not None:
            load._stop.set()
        group.close()
        try:
            topics.delete(settings)
        except Exception:
            pass


def _counts(assignment) -> list[int]:
    return sorted(len(p) for p in assignment.values())


@needs_kip848
def test_each_step_reaches_its_assignment_and_is_on_the_timeline(run):
    steps, third, victim = run["steps"], run["third"], run["victim"]
    assert [_counts(steps[s]) for s in ("two", "join", "leave", "crash")] == [[3, 3], [2, 2, 2], [3, 3], [6]]
    summary = Timeline(run["events"]).summary().set_index("trigger")
    why = explain(run["events"])
    for trigger in (f"join {third}", f"leave {third}", f"crash {victim}"):
        assert trigger in summary.index, why
        assert summary.loc[trigger, "settled_ts"] >= summary.loc[trigger, "trigger_ts"], why
    # the join and the leave move only what they must: 2 partitions to the newcomer, 2 back from it
    assert summary.loc[f"join {third}", "partitions_moved"] == 2, why
    assert summary.loc[f"leave {third}", "partitions_moved"] == 2, why
    assert summary.loc[f"crash {victim}", "partitions_moved"] == 3, why


@needs_kip848
def test_during_the_join_survivors_keep_and_keep_processing_their_other_partitions(run):
    events, third = run["events"], run["third"]
    row = Timeline(events).summary().set_index("trigger").loc[f"join {third}"]
    start, end = row["trigger_ts"], row["settled_ts"]
    before = Timeline([e for e in events if e.ts <= start]).assignment()
    after = run["steps"]["join"]
    why = explain(events)
    survivors = [c for c in after if c != third]
    assert len(survivors) == 2
    for name in survivors:
        kept = set(before[name]) & set(after[name])
        assert len(kept) == 2 and len(before[name]) == 3, (name, before, after, why)
        revoked = {tp for e in events if e.kind == "PartitionsRevoked" and e.consumer == name
                   and start <= e.ts <= end for tp in e.partitions}
        assert revoked and not revoked & kept, (name, revoked, kept, why)  # only the partition that moved
        processing = [e for e in events if e.kind == "Processed" and e.consumer == name
                      and start <= e.ts <= end and (e.topic, e.partition) in kept]
        assert processing, (name, f"no Processed on {sorted(kept)} in the {end - start:.2f} s rebalance", why)


@needs_kip848
def test_nothing_is_lost(run):
    processed = {e.order_id for e in run["events"] if e.kind == "Processed"}
    assert run["ids"] and set(run["ids"]) - processed == set()


def test_the_embedded_broker_is_named_before_anything_starts(settings):
    """On the embedded broker the course says why KIP-848 cannot run and how to switch (its consumers
    would wait for partitions forever); on Apache Kafka the same call goes through."""
    from labkit.group.kip848 import require_kip848

    if ENGINE == "embedded":
        with pytest.raises(NotOnThisBroker, match="labkit broker up --engine kafka"):
            Kip848Group(settings)
        with pytest.raises(SystemExit, match="labkit broker up --engine kafka"):  # one line in Jupyter
            require_kip848(settings)
    else:
        Kip848Group(settings).close()
        assert require_kip848(settings) is None


@needs_kip848
def test_a_failed_record_is_tried_again_and_nothing_behind_it_is_committed_past_it(one_member):
    """The order service fails ORD-HICCUP's first 2 calls: it is tried again (not committed past), and
    the orders behind it on its partition are processed after it, all of them."""
    from labkit.kafka.offsets import committed_offsets

    settings, group = one_member
    group.injector.set(transient=False, fail_first=2, targets={"ORD-HICCUP"})
    group.start(1)
    group.wait_for_assignment([6], 60)
    partition = producer.produce(settings, [Order("ORD-HICCUP", 10)], events=group.events)[0].partition
    behind = producer.produce(settings, [Order(f"ORD-AFTER-{i}", 10) for i in range(5)], partition=partition,
                              events=group.events)
    ids = ["ORD-HICCUP"] + [s.key for s in behind]
    wait_until(lambda: set(ids) <= {e.order_id for e in group.events.of("Processed")}, 30,
               "ORD-HICCUP and the orders behind it processed")
    processed = [e.order_id for e in group.events.of("Processed") if e.order_id in ids]
    assert processed[0] == "ORD-HICCUP" and sorted(processed) == sorted(ids), processed  # in order, once each
    assert [e.key for e in group.events.of("Received")].count("ORD-HICCUP") == 3  # 2 failures, then done
    end = behind[-1].offset + 1
    wait_until(lambda: committed_offsets(settings, group.group_id).get((settings.orders_topic, partition)) == end,
               30, "the partition committed to its end")


def _committed_to_the_end(settings, group_id) -> bool:
    """Every partition of orders committed to its log end (an empty partition may have no commit)."""
    from labkit.kafka.offsets import committed_offsets, log_end_offsets

    committed = committed_offsets(settings, group_id, topics=settings.orders_topic)
    return all((committed.get(tp) or 0) == end for tp, end in log_end_offsets(settings, settings.orders_topic).items())


@pytest.fixture
def one_member(broker_settings):
    """One thread member of a fresh KIP-848 group, owning the 6 partitions of fresh topics."""
    settings = broker_settings.with_prefix(f"kip848-{uuid.uuid4().hex[:6]}-")
    topics.create(settings)
    group = Kip848Group(settings)
    try:
        yield settings, group
    finally:
        group.close()
        try:
            topics.delete(settings)
        except Exception:
            pass


def _order_of_processing(group, ids) -> list[str]:
    return [e.order_id for e in group.events.of("Processed") if e.order_id in ids]


@needs_kip848
def test_an_invalid_order_goes_to_the_dlt_at_once_and_its_partition_keeps_flowing(one_member):
    """ORD-INVALID (amount -50) among valid orders on one partition: dead-lettered at its first failure
    with the validation reason, every order behind it processed, every partition committed to its end."""
    from labkit.dlt import dlt_entry_of

    settings, group = one_member
    group.start(1)
    group.wait_for_assignment([6], 60)
    before = [Order(f"ORD-BEFORE-{i}", 10) for i in range(3)]
    after = [Order(f"ORD-AFTER-{i}", 10) for i in range(5)]
    sent = producer.produce(settings, before + [Order("ORD-INVALID", -50)] + after, partition=2, events=group.events)
    invalid = next(s for s in sent if s.key == "ORD-INVALID")
    valid = [o.order_id for o in before + after]
    wait_until(lambda: set(valid) <= {e.order_id for e in group.events.of("Processed")}
               and group.events.of("SentToDLT"), 30, "the valid orders processed and ORD-INVALID dead-lettered")
    assert _order_of_processing(group, valid) == valid  # in partition order, once each, none stuck behind it
    [dead] = group.events.of("SentToDLT")
    assert (dead.order_id, dead.partition, dead.offset, dead.reason, dead.retry_count) == \
        ("ORD-INVALID", 2, invalid.offset, "ValidationException", 0)
    assert [e.key for e in group.events.of("Received")].count("ORD-INVALID") == 1  # permanent: never retried
    assert not group.events.of("RetryScheduled")
    entry = dlt_entry_of(settings, invalid)
    assert entry is not None, "ORD-INVALID is not in the DLT"
    assert (entry.envelope.error_type, entry.envelope.error_message, entry.envelope.retry_count) == \
        ("ValidationException", "ValidationException: Invalid amount -50", 0)
    assert entry.envelope.consumer_group == group.group_id and entry.key_text == "ORD-INVALID"
    assert (entry.headers["kafka_dlt-original-partition"], entry.headers["kafka_dlt-original-offset"]) == \
        (2, invalid.offset)
    assert entry.headers["kafka_dlt-exception-fqcn"] == "labkit.errors.ValidationError"
    assert group.events.stats()["dlt_per_reason"] == {"ValidationException": 1}
    wait_until(lambda: _committed_to_the_end(settings, group.group_id), 30, "every partition committed to its end")


@needs_kip848
def test_a_value_too_large_for_the_dlt_is_dead_lettered_truncated_and_its_partition_keeps_flowing(
        one_member, caplog):
    """A ~1 MB value that is not UTF-8: its DLT copy (base64) would not fit a request, so it is written
    truncated and flagged, with one WARNING and no ERROR; the order behind it is processed."""
    from labkit.dlt import dlt_entry_of

    caplog.set_level(logging.WARNING, logger="labkit")
    settings, group = one_member
    group.start(1)
    group.wait_for_assignment([6], 60)
    [big] = producer.produce(settings, [(b"big-bytes", b"\xff" * 1_000_000)], partition=4)
    producer.produce(settings, [Order("ORD-AFTER-BIG", 10)], partition=4, events=group.events)
    wait_until(lambda: group.events.of("SentToDLT") and "ORD-AFTER-BIG" in _order_of_processing(
        group, ["ORD-AFTER-BIG"]), 30, "the big value dead-lettered and the order behind it processed")
    entry = dlt_entry_of(settings, big)
    assert entry is not None and entry.envelope.original_value_truncated
    assert entry.envelope.original_value_bytes == 1_000_000
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("labkit")]
    assert not [m for level, m in logged if level == "ERROR"], logged
    assert any("too large for the DLT" in m for _, m in logged), logged
    wait_until(lambda: _committed_to_the_end(settings, group.group_id), 30, "every partition committed to its end")


@needs_kip848
def test_an_order_whose_service_call_always_fails_goes_to_the_dlt_after_the_retry_bound(one_member):
    """The order service fails every call for ORD-DOWN (transient): it is tried again up to the module's
    bound (RetryConfig maxAttempts, 5 retries), then dead-lettered with retryCount 5; the orders behind it
    on its partition are processed after it, and every partition is committed to its end."""
    from labkit.dlt import dlt_entry_of
    from labkit.policy.retry import retry_config

    settings, group = one_member
    bound = retry_config().max_attempts
    group.injector.set(transient=True, rate=1.0, targets={"ORD-DOWN"})
    group.start(1)
    group.wait_for_assignment([6], 60)
    [down] = producer.produce(settings, [Order("ORD-DOWN", 10)], partition=4, events=group.events)
    behind = [o.order_id for o in (Order(f"ORD-BEHIND-{i}", 10) for i in range(5))]
    producer.produce(settings, [Order(i, 10) for i in behind], partition=4, events=group.events)
    wait_until(lambda: set(behind) <= {e.order_id for e in group.events.of("Processed")}, 30 + 3 * bound,
               "ORD-DOWN dead-lettered and the orders behind it processed")
    assert _order_of_processing(group, behind) == behind
    [dead] = group.events.of("SentToDLT")
    assert (dead.order_id, dead.offset, dead.reason, dead.retry_count) == \
        ("ORD-DOWN", down.offset, "MaxRetriesExceededException", bound)
    assert group.injector.attempts("ORD-DOWN") == bound + 1  # the first delivery, then the bound's retries
    assert [e.attempt for e in group.events.of("RetryScheduled")] == list(range(1, bound + 1))
    assert [e.attempt for e in group.events.of("Retried")] == list(range(1, bound + 1))
    assert [e.attempt for e in group.events.of("Received") if e.key == "ORD-DOWN"] == list(range(bound + 1))
    # nothing behind it was processed before it left its partition: the first one after its SentToDLT
    first_behind = next(e for e in group.events.of("Processed") if e.order_id == behind[0])
    assert first_behind.ts >= dead.ts
    entry = dlt_entry_of(settings, down)
    assert entry is not None, "ORD-DOWN is not in the DLT"
    assert entry.envelope.retry_count == bound and entry.envelope.error_type == "MaxRetriesExceededException"
    assert entry.envelope.error_message.startswith(f"MaxRetriesExceededException: gave up after {bound} retries")
    assert "ServiceUnavailableException" in entry.envelope.error_message
    assert entry.headers["kafka_dlt-exception-cause-fqcn"] == "labkit.errors.ServiceUnavailable"
    stats = group.events.stats()
    assert (stats["retries"], stats["dlt_per_reason"]) == (bound, {"MaxRetriesExceededException": 1})
    wait_until(lambda: _committed_to_the_end(settings, group.group_id), 30, "every partition committed to its end")
