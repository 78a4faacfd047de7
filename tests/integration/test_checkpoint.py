"""The module's checkpoint is read from the broker: all ❌ on empty topics, all ✅ once the lab steps ran."""

from __future__ import annotations

import pytest

from labkit.kafka import topics
from labkit.kafka.producer import produce
from labkit.orders import Order
from labkit.scenarios import checkpoint

pytestmark = pytest.mark.broker


def test_checkpoint_fails_without_evidence_and_passes_after_the_lab_steps(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path))  # logs of other tests are not evidence
    monkeypatch.chdir(tmp_path)
    topics.delete(settings)  # the fixture created them; start from nothing
    before = checkpoint.verify(settings).set_index("step")
    assert set(before["result"]) == {"❌"}, before
    assert "missing" in before.loc["topic", "evidence"].iloc[0]
    # a skipped lab is named, with the notebook that leaves its evidence
    assert before.loc["retries", "to_do"] == "run 05_retries"
    assert before.loc["rebalancing", "to_do"] == "run 06_rebalancing"

    ran = checkpoint.catch_up(settings, before.reset_index(), timeout_s=90)
    assert len(ran) == 5, ran  # topics, Lab 1, Lab 2, Lab 3, Lab 4

    after = checkpoint.verify(settings)
    assert list(after["result"]) == ["✅"] * len(checkpoint.CHECKS), after.to_string()
    # evidence is specific: the DLT record of ORD-INVALID and the committed valid orders
    assert "Invalid amount -50" in after.set_index("step").loc["invalid", "evidence"]
    assert checkpoint.catch_up(settings, after) == []  # nothing left to do
    # Lab 1's order sent again where the group does not read it (09's share-group API, a terminal
    # curl with no consumer running): the orders the group did process are still processed
    produce(settings, [Order("ORD-1", 100)])
    assert checkpoint.verify(settings).set_index("step").loc["valid", "result"] == "✅"
    # the checklist says who made the evidence: every line here was run by the catch-up, not the student
    marked = checkpoint.mark_caught_up(after, before.reset_index())
    assert set(marked["result"]) == {checkpoint.CAUGHT_UP}, marked.to_string()
    assert set(checkpoint.mark_caught_up(after, after)["result"]) == {"✅"}


def test_a_wrong_partition_count_is_a_failed_check(settings):
    topics.delete(settings)
    topics.create(settings, {settings.orders_topic: 2, settings.dlt_topic: 3, settings.retry_topic: 3})
    table = checkpoint.verify(settings).set_index("step")
    assert table.loc["topic", "result"].tolist() == ["❌", "✅"]
    assert "2 partition(s), 6 expected" in table.loc["topic", "evidence"].iloc[0]
