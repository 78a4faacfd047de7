"""The module's three troubleshooting cases: each reproduction shows the evidence its diagnosis
names (notebook 07 prints them; here they are checked), and loses no order."""

from __future__ import annotations

import pytest
from kafka import TopicPartition

from labkit.kafka import topics
from labkit.kafka.offsets import committed_offsets
from labkit.scenarios import troubleshoot

pytestmark = pytest.mark.broker


def test_a_stuck_consumer_shows_growing_lag_and_no_rebalance(settings):
    r = troubleshoot.stuck_consumer(settings, freeze_s=4, orders=12)
    ev = r.evidence
    assert ev["rebalances_during"] == 0, "a frozen member within its session is still a member"
    assert ev["lag_during"]["LAG"].fillna(0).sum() >= 1, ev["lag_during"]
    assert ev["lag_after"]["LAG"].fillna(0).sum() == 0
    ledger = r.events.ledger(ev["order_ids"])
    assert ledger["settled"] and ledger["processed"] == len(ev["order_ids"]), ledger


def test_an_empty_dlt_is_explained_by_no_consumer_then_by_a_typo(settings):
    r = troubleshoot.empty_dlt(settings, invalid=3)
    ev = r.evidence
    assert ev["dlt_no_consumer"] == 0, "no consumer, no DLT record"
    assert ev["dlt_after_fix"] == 3, "a consumer routes the waiting invalid orders"
    assert ev["dlt_typo"] == ev["dlt_after_fix"] and ev["orders_log_end_moved"] == 0
    assert "written to the new topic" in ev["typo_result"] or "producer failed" in ev["typo_result"]
    assert ev["typo_topic"] not in topics.list_topics(settings)  # the demo cleans up after itself


def test_a_handler_slower_than_max_poll_interval_rebalances_again_and_again(settings):
    r = troubleshoot.rebalancing_too_often(settings)
    ev = r.evidence
    assert ev["lost"] >= 1 and ev["rebalances"] >= 1, r.symptom
    assert ev["commit_failures"] >= 1, "the batch's commit fails after the member was thrown out"
    # the backlog is not drained when the demo stops: what was not handled must still be ahead of
    # the committed offset (redelivered to the next consumer), never skipped
    committed = committed_offsets(settings)
    produced = {e.record_id: e for e in r.events.of("Produced")}
    unhandled = [i for i in ev["order_ids"] if r.events.status(i) not in ("processed", "dlt")]
    for oid in unhandled:
        e = produced[oid]
        assert (committed.get(TopicPartition(e.topic, e.partition)) or 0) <= e.offset, oid
    assert ev["handled"] >= 1, "between the rebalances the consumer still makes progress"
