"""Share groups on the real broker (KIP-932) with the broker's own DLQ (KIP-1191): what each
acknowledgement does, and nothing lost when a member is SIGKILLed while it holds records."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.group.share import ShareGroup
from labkit.kafka import producer, topics
from labkit.kafka.offsets import log_end_offsets
from labkit.kafka.share_groups import ShareGroupConfig, dlq_entries
from labkit.orders import Order
from tests.conftest import ENGINE
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.broker
needs_share_groups = pytest.mark.skipif(ENGINE == "embedded", reason="share groups need Apache Kafka 4.2+: "
                                        "the embedded broker (Tansu) has none")


@pytest.fixture
def share(settings):
    """A share group set up for this test's topics (lock 2 s, 3 deliveries); its DLQ topic deleted after."""
    groups = []

    def make(**kwargs) -> ShareGroup:
        group = ShareGroup(settings, ShareGroupConfig.of(settings, lock_ms=2000), **kwargs)
        group.setup()
        groups.append(group)
        return group

    yield make
    for group in groups:
        group.close()
    topics.delete(settings, names=[ShareGroupConfig.of(settings).dlq_topic])


def acks(group: ShareGroup):
    return [e for e in group.events.of("Acknowledged")]


def settled(group, settings, ids, since):
    """(accepted ids, DLQ entries) once every id is accepted or dead-lettered, else None."""
    accepted = {e.order_id for e in acks(group) if e.ack == "ACCEPT"}
    dead = dlq_entries(settings, ShareGroupConfig.of(settings).dlq_topic, since=since)
    return (accepted, dead) if set(ids) <= accepted | {d["key"] for d in dead} else None


@needs_share_groups
def test_each_acknowledgement_does_what_the_broker_promises(settings, share):
    group = share()
    group.injector.set(transient=True, targets={"ORD-FLAKY"})
    dlq = ShareGroupConfig.of(settings).dlq_topic
    since = log_end_offsets(settings, dlq)
    group.start(1)
    orders = [Order("ORD-OK", 10), Order("ORD-BAD", -50), Order("ORD-FLAKY", 5)]
    ids = [sent.key for sent in producer.produce(settings, orders, events=group.events)]
    accepted, dead = wait_until(lambda: settled(group, settings, ids, since), 30, "every order settled")

    by_key = {d["key"]: d for d in dead}
    assert accepted == {"ORD-OK"} and set(by_key) == {"ORD-BAD", "ORD-FLAKY"}  # ACCEPT: nothing in the DLQ
    bad, flaky = by_key["ORD-BAD"], by_key["ORD-FLAKY"]
    # REJECT: dead-lettered at once, after one delivery, with the original record and its coordinates
    assert (bad["delivery_count"], bad["reason"]) == (1, "rejected by the consumer")
    assert bad["topic"] == settings.orders_topic
    assert bad["value"] == orders[1].to_json().decode() and bad["group"] == group.config.group_id
    # RELEASE: redelivered at once with a growing delivery count, dead-lettered at the limit
    assert flaky["delivery_count"] == 3 and flaky["reason"] == "delivery limit reached"
    flaky_acks = [(e.ack, e.delivery_count) for e in acks(group) if e.order_id == "ORD-FLAKY"]
    assert flaky_acks == [("RELEASE", 1), ("RELEASE", 2), ("RELEASE", 3)]
    assert (flaky["partition"], flaky["offset"]) == next(
        (e.partition, e.offset) for e in acks(group) if e.order_id == "ORD-FLAKY")


@needs_share_groups
def test_nothing_is_lost_when_a_member_is_killed_holding_records(settings, share):
    """3 share consumers (processes), each order takes 20 ms; one is SIGKILLed mid-run: the records it
    held come back after the lock (2 s) to another member, and every order ends accepted or in the DLQ."""
    group = share(processes=True, transient_targets=("ORD-FLAKY",), latency_s=0.02)
    dlq = ShareGroupConfig.of(settings).dlq_topic
    since = log_end_offsets(settings, dlq)
    group.start(3)
    orders = [Order(f"ORD-{i}", i + 1) for i in range(150)] + [Order("ORD-BAD", -1), Order("ORD-FLAKY", 1)]
    ids = [sent.key for sent in producer.produce(settings, orders, events=group.events)]

    def victim():
        received = [e for e in group.events.of("Received") if e.consumer in group.names]
        return received[-1].consumer if len(received) > 20 else None

    killed = wait_until(victim, 30, "members receiving orders")
    group.kill(killed)
    accepted, dead = wait_until(lambda: settled(group, settings, ids, since), 60, "every order settled")

    assert set(ids) - accepted - {d["key"] for d in dead} == set()  # nothing lost
    assert {d["key"] for d in dead} == {"ORD-BAD", "ORD-FLAKY"}  # and nothing good dead-lettered
    held = {e.record_id for e in group.events.of("Received") if e.consumer == killed} - {
        e.order_id for e in acks(group) if e.consumer == killed}
    redelivered = {e.order_id for e in acks(group) if e.consumer != killed and e.delivery_count >= 2}
    assert held and held <= redelivered | {"ORD-FLAKY"}, (held, redelivered)


def test_a_broker_without_share_groups_is_named_before_anything_starts(settings):
    """On the embedded broker the course says why share groups cannot run and how to switch; on
    Apache Kafka the same call goes through."""
    from labkit.group.share import NotOnThisBroker, require_share_groups

    if ENGINE == "embedded":
        with pytest.raises(NotOnThisBroker, match="labkit broker up --engine kafka"):
            ShareGroup(settings)
        with pytest.raises(SystemExit, match="labkit broker up --engine kafka"):  # one line in Jupyter
            require_share_groups(settings)
    else:
        ShareGroup(settings).close()
        assert require_share_groups(settings) is None


def test_the_share_group_notebook_checks_the_broker_before_it_uses_one():
    """Notebook 09 is not run on the embedded broker (notebooks/conftest.py): its setup cell must stop
    there with the reason, before any cell touches a share group."""
    import nbformat

    from notebooks.conftest import NEEDS_APACHE_KAFKA

    assert "09_share_groups.ipynb" in NEEDS_APACHE_KAFKA
    nb = nbformat.read(Path(__file__).parents[2] / "notebooks" / "09_share_groups.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    first_use = next(i for i, src in enumerate(code) if "ShareGroup(" in src)
    assert any("require_share_groups(settings)" in src for src in code[:first_use + 1]), code[:first_use + 1]
