"""The Kafka-CLI twins: ``labkit groups describe``, ``labkit dlt show``, ``labkit dlt count``."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from labkit import cli
from labkit.dlt.envelope import H_OFFSET, H_PARTITION, H_TOPIC, SourceCoords
from labkit.dlt.publish import publish_to_dlt
from labkit.errors import ServiceUnavailable, ValidationError, error_label
from labkit.kafka import clients
from tests.conftest import free_port

pytestmark = pytest.mark.broker


def run(capsys, settings, *args):
    """``labkit --bootstrap-server B <args> --prefix P``, in-process: (exit code, stdout, stderr)."""
    prefix = settings.orders_topic[: -len("orders")]  # the test's isolated topic names
    code = cli.main(["--bootstrap-server", settings.bootstrap_servers, *args, "--prefix", prefix])
    out, err = capsys.readouterr()
    return code, out, err


def to_dlt(settings, items):
    """Publish ``(order_id, value, error, retries)`` to the DLT as the processor would (acked)."""
    producer = clients.producer(settings)
    try:
        for i, (order_id, value, error, retries) in enumerate(items):
            source = SourceCoords(settings.orders_topic, i % 6, 40 + i, order_id.encode(), value)
            publish_to_dlt(producer, settings.dlt_topic, source, error, group_id=settings.group_id,
                           retry_count=retries)
    finally:
        producer.close(timeout=5)


def test_dlt_show_and_count_print_the_envelope_and_headers(settings, capsys):
    code, out, _ = run(capsys, settings, "dlt", "count")
    assert code == 0 and out.strip() == f"{settings.dlt_topic}: 0 record(s)"
    to_dlt(settings, [
        ("ORD-INVALID", b'{"orderId":"ORD-INVALID","amount":-50,"status":"PENDING"}',
         ValidationError("Invalid amount -50"), 0),
        ("ORD-RETRY", b'{"orderId":"ORD-RETRY","amount":200,"status":"PENDING"}', ServiceUnavailable("down"), 5),
    ])

    # kafka-console-consumer --topic orders.DLT --from-beginning --max-messages 1
    started = time.monotonic()
    code, out, err = run(capsys, settings, "dlt", "show", "--from-beginning", "--max-messages", "1")
    assert code == 0 and time.monotonic() - started < 10
    assert "Processed a total of 1 messages" in err
    head, headers, body = out.split("\n", 2)
    assert head.startswith("Partition:") and "Key:ORD-INVALID" in head
    assert f"{H_TOPIC}:{settings.orders_topic}" in headers
    assert f"{H_PARTITION}:0" in headers and f"{H_OFFSET}:40" in headers
    envelope = json.loads(body)
    assert envelope["originalTopic"] == settings.orders_topic and envelope["originalOffset"] == 40
    assert envelope["originalKey"] == "ORD-INVALID" and envelope["retryCount"] == 0
    assert envelope["errorMessage"] == "ValidationException: Invalid amount -50"
    assert json.loads(envelope["originalValue"])["amount"] == -50

    code, out, err = run(capsys, settings, "dlt", "show", "--from-beginning", "--value-only", "--timeout-ms", "500")
    assert code == 0 and "Processed a total of 2 messages" in err
    assert sorted(json.loads(line)["originalKey"] for line in out.splitlines()) == ["ORD-INVALID", "ORD-RETRY"]

    # without --from-beginning: only new records, like the console consumer (nothing new: times out)
    code, out, err = run(capsys, settings, "dlt", "show", "--timeout-ms", "300")
    assert code == 0 and out == "" and "Processed a total of 0 messages" in err

    code, out, _ = run(capsys, settings, "dlt", "count", "--by-reason", "--json")
    assert code == 0
    assert json.loads(out) == {"topic": settings.dlt_topic, "count": 2, "byReason": {
        error_label(ValidationError): 1, error_label(ServiceUnavailable): 1}}
    code, out, _ = run(capsys, settings, "dlt", "count")
    assert out.strip() == f"{settings.dlt_topic}: 2 record(s)"


def test_groups_describe_prints_the_lag_table(settings, capsys):
    topic = settings.orders_topic
    producer = clients.producer(settings)
    try:
        for i in range(7):
            producer.send(topic, partition=i % 2, key=b"k%d" % i, value=b"{}").get(timeout=10)
    finally:
        producer.close(timeout=5)
    consumer = clients.consumer(settings, group_id=settings.group_id)
    try:  # commit offsets without joining (assign), as a stopped consumer would have left them
        consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(2, "", -1),
                         TopicPartition(topic, 1): OffsetAndMetadata(3, "", -1)})
    finally:
        consumer.close(autocommit=False)

    code, out, _ = run(capsys, settings, "groups", "describe", "--group", settings.group_id, "--state")
    assert code == 0
    lines = [line.split() for line in out.splitlines() if line.startswith(settings.group_id)]
    header = next(line.split() for line in out.splitlines() if line.startswith("GROUP"))
    assert header == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                      "CONSUMER-ID", "HOST", "CLIENT-ID"]
    rows = {int(r[2]): r[3:6] for r in lines}
    assert sorted(rows) == list(range(6))
    assert rows[0] == ["2", "4", "2"] and rows[1] == ["3", "3", "0"]  # partition 0 got 4 records, 1 got 3
    assert rows[2] == ["-", "0", "-"]
    assert "has no active members" in out and "STATE" in out


def test_no_broker_is_one_line_and_exit_1_quickly(tmp_path):
    dead = f"127.0.0.1:{free_port()}"
    for args in (["dlt", "count"], ["dlt", "show", "--from-beginning"], ["groups", "describe"]):
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "labkit.cli", "--bootstrap-server", dead, *args],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.strip().count("\n") == 0, proc.stderr
        assert f"no Kafka broker answers at {dead}" in proc.stderr and "labkit broker up" in proc.stderr
        assert time.monotonic() - started < 10
