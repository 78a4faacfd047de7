"""DLT replay: filter, fix, republish to the original topic; the second replay changes nothing."""

from __future__ import annotations

import pytest
from conftest import assert_ledger, produce, produce_orders, settled, wait_until

from labkit.dlt import read_dlt
from labkit.dlt.replay import DltReprocessor
from labkit.engine.store import OrderStore
from labkit.orders import Order, sample_orders

pytestmark = pytest.mark.broker


def test_replay_processes_fixed_orders_once(short, events, processors):
    store = OrderStore()
    p = processors.new(short, events=events, store=store).start()
    bad = [Order("ORD-NEG-1", -50), Order("ORD-NEG-2", -10)]
    ids = produce_orders(short, sample_orders(3) + bad, events)
    ids += produce(short, [("POISON", b"\xff\x00")], events)
    wait_until(settled(events, ids), 30, "first pass settled")
    assert len(read_dlt(short)) == 3

    def fix(entry):
        import json

        data = json.loads(entry.envelope.raw_value)
        data["amount"] = abs(data["amount"])
        return data

    with DltReprocessor(short, events=events) as rp:
        dry = rp.replay(error_type="ValidationException", fix=fix, dry_run=True)
        assert (dry.read, dry.matched, dry.republished, dry.fixed) == (3, 2, 0, 2)
        first = rp.replay(error_type="ValidationException", fix=fix, rate_per_s=50)
        assert (first.matched, first.republished, first.fixed, first.failed) == (2, 2, 2, 0)
        wait_until(lambda: {"ORD-NEG-1", "ORD-NEG-2"} <= set(store.ids()), 30, "fixed orders processed")
        processed_before = events.stats()["processed"]
        second = rp.replay(error_type="ValidationException", fix=fix)
        assert second.republished == 2
        wait_until(lambda: events.stats()["duplicates"] == 2, 30, "the replayed duplicates counted")
        assert events.stats()["processed"] == processed_before  # nothing applied twice
        # with the store, already-processed orders are not even republished
        third = DltReprocessor(short, events=events, store=store).replay(error_type="ValidationException", fix=fix)
        assert (third.already_processed, third.republished) == (2, 0)
    # key filter and time filter
    assert [e.key_text for e in read_dlt(short, key="POISON")] == ["POISON"]
    assert read_dlt(short, since=9_999_999_999) == []
    wait_until(lambda: p.stats["in_flight"] == 0, 10, "nothing in flight")
    p.stop()
    ledger = assert_ledger(short, events, ids, store)
    assert (ledger["processed"], ledger["dlt"]) == (5, 1)
    assert sorted(store.ids()) == sorted(i for i in ids if i != "POISON")


def test_replay_of_a_truncated_dlt_copy_uses_the_full_original(short, events, processors):
    """A ~1 MB poison value only fits the DLT truncated. Replaying that copy would republish a
    stump: the reprocessor reads the full value back from the source topic at the envelope's
    coordinates (the fix sees it whole), and skips, saying why, when the source no longer has it."""
    import dataclasses

    store = OrderStore()
    p = processors.new(short, events=events, store=store).start()
    big = b"\xff" * 800_000  # poison (not UTF-8): its DLT copy, base64 in the envelope, would be 1.07 MB
    ids = produce(short, [("ORD-BIG", big)], events)
    wait_until(settled(events, ids), 30, "the big order in the DLT")
    [entry] = read_dlt(short)
    assert entry.envelope.original_value_truncated and entry.envelope.original_value_bytes == len(big)
    assert len(entry.envelope.raw_value) < len(big)

    seen = []

    def fix(e):
        seen.append(len(e.envelope.raw_value))
        return Order("ORD-BIG", 1)

    with DltReprocessor(short, events=events) as rp:
        report = rp.replay(fix=fix)
        assert (report.republished, report.restored_from_source) == (1, 1) and seen == [len(big)]
        wait_until(lambda: "ORD-BIG" in store, 30, "the fixed big order processed")
        gone = dataclasses.replace(entry, envelope=dataclasses.replace(entry.envelope, original_offset=10_000))
        skipped = rp.replay(entries=[gone], fix=fix)
        assert (skipped.republished, skipped.skipped, skipped.truncated_unavailable) == (0, 1, 1)
        assert "no longer" in skipped.items[0]["action"]
    assert store.get("ORD-BIG").amount == 1
    p.stop()
