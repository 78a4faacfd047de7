"""labkit.observe.monitor against a real broker: lag table, group state, lag sampler, DLT counts, health."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from labkit.kafka import clients
from labkit.observe import monitor
from tests.conftest import ENGINE, free_port

pytestmark = pytest.mark.broker


def produce_batches(settings, topic, batches, headers=None, values=None):
    """``batches[p]`` = sizes of consecutive multi-record batches for partition p; true ends back."""
    producer = clients.producer(settings, linger_ms=50, batch_size=1 << 20)
    ends = {}
    try:
        for partition, sizes in batches.items():
            for size in sizes:
                futures = [producer.send(topic, partition=partition, key=b"k%d" % i,
                                         value=values(i) if values else b'{"n":%d}' % i,
                                         headers=headers(i) if headers else None) for i in range(size)]
                producer.flush(timeout=10)
                for f in futures:
                    meta = f.get(timeout=10)
                    tp = TopicPartition(topic, meta.partition)
                    ends[tp] = max(ends.get(tp, 0), meta.offset + 1)
        assert producer.metrics()["producer-metrics"]["records-per-request-avg"] > 1, "not batched"
    finally:
        producer.close()
    return ends


def wait_for(condition, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def join(consumer, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while not consumer.assignment():
        assert time.monotonic() < deadline, "the consumer never got partitions"
        consumer.poll(timeout_ms=100, max_records=1)  # may read records; positions are irrelevant here
    return consumer.assignment()


def test_lag_table_equals_produced_minus_committed_from_an_admin_client(settings):
    topic = settings.orders_topic
    produced = produce_batches(settings, topic, {0: [10], 1: [5, 1, 3], 2: [20], 3: [4], 5: [8, 8]})
    committed_by_us = {0: 4, 1: 9, 2: 0, 5: 10}  # 3 and 4: nothing committed
    consumer = clients.consumer(settings, topic)
    try:
        assert len(join(consumer)) == 6
        consumer.commit({TopicPartition(topic, p): OffsetAndMetadata(o, "", -1)
                         for p, o in committed_by_us.items()})

        admin = clients.admin(settings)  # the independent view: produced counts and the admin client
        try:
            listed = admin.list_group_offsets(settings.group_id)[settings.group_id]
            committed = {tp: om.offset for tp, om in listed.items()}
        finally:
            admin.close()
        assert {tp.partition: o for tp, o in committed.items()} == committed_by_us
        expected = {p: produced.get(TopicPartition(topic, p), 0) - committed[TopicPartition(topic, p)]
                    for p in committed_by_us}

        df = monitor.lag_table(settings)
        assert list(df.columns) == monitor.LAG_COLUMNS
        assert list(df["PARTITION"]) == list(range(6)) and set(df["TOPIC"]) == {topic}
        assert set(df["GROUP"]) == {settings.group_id}
        by_partition = df.set_index("PARTITION")
        for p in range(6):
            row = by_partition.loc[p]
            assert row["LOG-END-OFFSET"] == produced.get(TopicPartition(topic, p), 0)
            if p in expected:
                assert row["CURRENT-OFFSET"] == committed_by_us[p] and row["LAG"] == expected[p]
            else:
                assert row["CURRENT-OFFSET"] is pd.NA and row["LAG"] is pd.NA
        assert (df["LAG"].dropna() >= 0).all()
        assert df.attrs["state"] == "Stable"

        state = monitor.group_state(settings)
        assert state["state"] == "Stable" and len(state["members"]) == 1
        member = state["members"][0]
        if ENGINE == "embedded":  # documented limit: no client id, host or assignment
            assert state["assignments_known"] is False and set(df["CONSUMER-ID"]) == {"-"}
        else:
            assert state["assignor"] == "range" and member["client_id"].startswith("labkit-consumer")
            assert member["partitions"] == [TopicPartition(topic, p) for p in range(6)]
            assert set(df["CONSUMER-ID"]) == {member["member_id"]}
            assert set(df["CLIENT-ID"]) == {member["client_id"]} and set(df["HOST"]) == {member["host"]}

        override = {TopicPartition(topic, 3): ("worker-3", "/10.0.0.3", "labkit-consumer-w3")}
        df2 = monitor.lag_table(settings, topics=[topic], assignments=override)
        assert tuple(df2.set_index("PARTITION").loc[3, ["CONSUMER-ID", "HOST", "CLIENT-ID"]]) == override[
            TopicPartition(topic, 3)]

        text = monitor.format_lag_table(df)
        lines = text.splitlines()
        header = next(line for line in lines if line.startswith("GROUP"))
        assert header.split() == monitor.LAG_COLUMNS
        assert header.index("CURRENT-OFFSET") - header.index("PARTITION") == 11  # the tool's %-10s
        row3 = next(line for line in lines if line.split()[2:3] == ["3"])
        assert row3.split()[3] == "-" and row3.split()[5] == "-"
    finally:
        consumer.close()

    state = wait_for(lambda: (s := monitor.group_state(settings))["state"] == "Empty" and s, 30,
                     "an Empty group")
    assert state["members"] == []
    assert "has no active members" in monitor.format_lag_table(monitor.lag_table(settings))


def test_lag_sampler_samples_synchronously_and_in_the_background(settings):
    topic = settings.orders_topic
    produce_batches(settings, topic, {0: [12], 1: [3]})
    committer = clients.consumer(settings)
    committer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
    try:
        committer.commit({TopicPartition(topic, 0): OffsetAndMetadata(2, "", -1)})
        sampler = monitor.LagSampler(settings, settings.group_id, [topic], interval_s=0.1)
        first = sampler.sample()
        assert list(first.columns) == ["ts", "topic", "partition", "lag"] and len(first) == 6
        assert first.set_index("partition").loc[0, "lag"] == 10
        assert first.set_index("partition").loc[1, "lag"] == 3  # never committed: all its records wait

        with sampler:
            assert sampler.running
            wait_for(lambda: sampler.frame()["ts"].nunique() >= 3, 20, "three samples")
            committer.commit({TopicPartition(topic, 0): OffsetAndMetadata(12, "", -1),
                              TopicPartition(topic, 1): OffsetAndMetadata(3, "", -1)})
            wait_for(lambda: sampler.frame().groupby("ts")["lag"].sum().iloc[-1] == 0, 20, "lag 0 sampled")
        assert not sampler.running and sampler.errors == 0
        totals = sampler.totals()
        assert totals["lag"].iloc[0] == 13 and totals["lag"].iloc[-1] == 0
        assert totals["ts"].is_monotonic_increasing
    finally:
        committer.close()


def envelope(error_type):
    return json.dumps({"originalTopic": "orders", "originalPartition": 0, "originalOffset": 1,
                       "originalKey": "ORD-1", "originalValue": '{"amount": -50}',
                       "errorMessage": f"{error_type}: bad", "errorTimestamp": "2025-01-01T00:00:00Z",
                       "retryCount": 0, "stackTrace": "", "errorType": error_type,
                       "consumerGroup": "orders-consumer-group"}).encode()


def test_dlt_count_and_by_reason_read_the_dlt_itself(settings):
    dlt = settings.dlt_topic
    assert monitor.dlt_count(settings) == 0 and monitor.dlt_by_reason(settings).empty
    kinds = {0: "ValidationException", 1: "DeserializationException"}
    produce_batches(settings, dlt, {0: [5], 1: [3]}, values=lambda i: None)  # tombstones: "unknown"
    produce_batches(settings, dlt, {0: [4, 2], 1: [6]},
                    values=lambda i: envelope(kinds[0] if i % 2 else kinds[1]))
    producer = clients.producer(settings, linger_ms=50, batch_size=1 << 20)
    try:
        futures = [
            producer.send(dlt, partition=2, value=b"not json at all",  # labkit's class -> its label
                          headers=[("kafka_dlt-exception-fqcn", b"labkit.errors.ValidationError")]),
            producer.send(dlt, partition=2, value=b"\xff\xfe raw",
                          headers=[("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException")]),
            producer.send(dlt, partition=2, value=b'{"errorType": ""}'),
            producer.send(dlt, partition=2, value=b"raw, no header"),
        ]
        producer.flush(timeout=10)
        assert [f.get(timeout=10).offset for f in futures] == [0, 1, 2, 3]
    finally:
        producer.close()

    assert monitor.dlt_count(settings) == 8 + 12 + 4
    reasons = monitor.dlt_by_reason(settings)
    # envelopes: i odd -> Validation (4,2,6 records: 2+1+3 = 6), even -> Deserialization (2+1+3 = 6)
    assert reasons.to_dict() == {"unknown": 8 + 2, "ValidationException": 6 + 1,
                                 "DeserializationException": 6, "IllegalStateException": 1}
    assert reasons.index[0] == "unknown" and reasons.name == "count" and reasons.index.name == "reason"
    frame = monitor.dlt_frame(settings)
    assert len(frame) == 24 and list(frame.columns) == ["partition", "offset", "timestamp", "reason"]
    assert frame.groupby("partition")["offset"].max().to_dict() == {0: 10, 1: 8, 2: 3}
    assert str(frame["timestamp"].dt.tz) == "UTC"


def test_health_ok_then_not_ok_without_topics_or_broker(settings):
    report = monitor.health(settings)
    assert report["ok"] is True, report
    assert report["topics"] == {settings.orders_topic: 6, settings.dlt_topic: 3, settings.retry_topic: 3}
    assert report["broker_state"] == "kafka" and report["members"] == 0

    strict = monitor.health(settings, require_consumers=True)
    assert strict["ok"] is False and "no active consumer" in strict["reason"]

    no_topics = monitor.health(settings.with_prefix("absent-"))
    assert no_topics["ok"] is False and "labkit topics create" in no_topics["reason"]

    started = time.monotonic()
    closed = monitor.health(settings.replace(bootstrap_servers=f"127.0.0.1:{free_port()}"))
    assert time.monotonic() - started < 3
    assert closed["ok"] is False and closed["broker_state"] == "closed"
    assert "no Kafka broker answers" in closed["reason"] and "labkit broker up" in closed["reason"]


def test_health_reports_the_members_of_a_running_group(settings):
    consumer = clients.consumer(settings, settings.orders_topic)
    try:
        join(consumer)
        report = wait_for(lambda: (r := monitor.health(settings, require_consumers=True))["ok"] and r, 20,
                          "a healthy group")
        assert report["group_state"] == "Stable" and report["members"] == 1
        if ENGINE == "embedded":
            assert report["partitions_assigned"] is None  # the broker does not say
        else:
            assert report["partitions_assigned"] == list(range(6)) and report["partitions_unassigned"] == []
    finally:
        consumer.close()
