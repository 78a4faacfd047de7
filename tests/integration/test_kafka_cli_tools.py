"""Apache Kafka's own CLI, installed by pip, with the module's arguments, against the session's broker.

The commands are the ones the module prints (``docker exec kafka kafka-topics ...``) without the
``docker exec kafka`` prefix and with the test broker's port; their output is Kafka's own.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import topics
from labkit.broker import jars
from labkit.dlt import H_TOPIC, SourceCoords, publish_to_dlt
from labkit.errors import ValidationError
from labkit.orders import Order
from tests.conftest import ENGINE
from tests.integration.conftest import committed_offsets, produce_orders, wait_until

pytestmark = [pytest.mark.broker,
              pytest.mark.skipif(ENGINE != "kafka", reason=f"Kafka's own tools need Apache Kafka (engine: {ENGINE})")]
BIN = Path(sys.executable).parent


def tool(name: str, *args: str, stdin: str | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    # errors="replace": Spring's kafka_dlt-original-partition/offset headers are binary integers
    return subprocess.run([str(BIN / name), *args], input=stdin, capture_output=True, text=True, errors="replace",
                          timeout=timeout)


def server(settings) -> str:
    """``localhost:PORT``, as the module writes it (the broker listens on 127.0.0.1)."""
    return f"localhost:{settings.host_port[1]}"


def test_kafka_topics_creates_lists_describes_and_deletes_the_module_topics(broker_settings):
    names = {"cli-orders": 6, "cli-orders.DLT": 3, "cli-orders.retry": 3}
    try:
        for name, partitions in names.items():
            done = tool("kafka-topics", "--create", "--topic", name, "--partitions", str(partitions),
                        "--replication-factor", "1", "--bootstrap-server", server(broker_settings))
            assert done.returncode == 0 and f"Created topic {name}." in done.stdout, done.stderr
        listed = tool("kafka-topics", "--list", "--bootstrap-server", server(broker_settings))
        assert listed.returncode == 0 and set(names) <= set(listed.stdout.split()), listed.stderr
        described = tool("kafka-topics", "--describe", "--topic", "cli-orders",
                         "--bootstrap-server", server(broker_settings))
        assert "PartitionCount: 6" in described.stdout and described.stdout.count("Partition: ") == 6
        again = tool("kafka-topics", "--create", "--topic", "cli-orders", "--partitions", "6",
                     "--replication-factor", "1", "--bootstrap-server", server(broker_settings))
        assert again.returncode != 0 and "already exists" in again.stdout + again.stderr  # as in the module
    finally:
        for name in names:
            tool("kafka-topics", "--delete", "--if-exists", "--topic", name, "--bootstrap-server",
                 server(broker_settings))
    assert not set(names) & set(topics.list_topics(broker_settings))


def test_kafka_console_consumer_prints_the_dlt_record_with_its_headers(settings):
    from labkit import clients

    producer = clients.producer(settings)
    try:
        source = SourceCoords(settings.orders_topic, 2, 12345, b"ORD-INVALID",
                              b'{"orderId":"ORD-INVALID","amount":-50,"status":"PENDING"}')
        publish_to_dlt(producer, settings.dlt_topic, source, ValidationError("Invalid amount -50"),
                       group_id=settings.group_id)
    finally:
        producer.close(timeout=5)
    done = tool("kafka-console-consumer", "--topic", settings.dlt_topic, "--from-beginning", "--max-messages", "1",
                "--formatter-property", "print.headers=true", "--bootstrap-server", server(settings))
    assert done.returncode == 0, done.stderr
    assert "Processed a total of 1 messages" in done.stderr
    headers, _, value = done.stdout.strip().partition("\t")
    assert f"{H_TOPIC}:{settings.orders_topic}" in headers
    envelope = json.loads(value)
    assert envelope["originalTopic"] == settings.orders_topic and envelope["originalOffset"] == 12345
    assert "Invalid amount -50" in envelope["errorMessage"]


def test_kafka_consumer_groups_shows_lag_0_once_the_consumer_caught_up(settings, processors, events):
    orders = [Order(f"ORD-CLI-{i}", 10 + i) for i in range(8)]
    produce_orders(settings, orders)
    processor = processors.new(settings, events=events).start()
    wait_until(lambda: sum(v for (t, _), v in committed_offsets(settings).items() if t == settings.orders_topic)
               == len(orders), 40, "every order committed")
    done = tool("kafka-consumer-groups", "--describe", "--group", settings.group_id,
                "--bootstrap-server", server(settings))
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines() if line.strip()]
    header = next(row for row in lines if row[:2] == ["GROUP", "TOPIC"])
    ours = [settings.group_id, settings.orders_topic]
    rows = [dict(zip(header, row, strict=False)) for row in lines if row[:2] == ours]
    assert len(rows) == settings.orders_partitions, done.stdout
    # a partition that got orders: committed up to its end; an empty one was never committed ("-")
    assert all(row["LAG"] == "0" for row in rows if row["LOG-END-OFFSET"] != "0"), done.stdout
    assert all(row["CURRENT-OFFSET"] in ("-", "0") for row in rows if row["LOG-END-OFFSET"] == "0"), done.stdout
    assert sum(int(row["CURRENT-OFFSET"]) for row in rows if row["CURRENT-OFFSET"] != "-") == len(orders)
    assert any(row["CONSUMER-ID"] != "-" for row in rows)  # Apache Kafka names the owner
    processor.stop()


def test_kafka_console_producer_then_consumer_round_trip(settings):
    sent = tool("kafka-console-producer", "--topic", settings.retry_topic, "--bootstrap-server", server(settings),
                stdin='{"orderId":"ORD-A"}\n{"orderId":"ORD-B"}\n')
    assert sent.returncode == 0, sent.stderr
    read = tool("kafka-console-consumer", "--topic", settings.retry_topic, "--from-beginning", "--max-messages", "2",
                "--bootstrap-server", server(settings))
    assert read.returncode == 0 and "Processed a total of 2 messages" in read.stderr
    assert sorted(read.stdout.split()) == ['{"orderId":"ORD-A"}', '{"orderId":"ORD-B"}']


def test_kafka_configs_and_the_share_group_tools_answer(settings):
    configs = tool("kafka-configs", "--describe", "--entity-type", "topics", "--entity-name", settings.orders_topic,
                   "--bootstrap-server", server(settings))
    assert configs.returncode == 0 and f"Dynamic configs for topic {settings.orders_topic}" in configs.stdout
    shares = tool("kafka-share-groups", "--list", "--bootstrap-server", server(settings))
    assert shares.returncode == 0, shares.stderr  # share groups are on by default in Kafka 4.4


def test_every_tool_runs_kafkas_own_version():
    for name in ("kafka-topics", "kafka-console-consumer", "kafka-console-producer", "kafka-consumer-groups",
                 "kafka-configs", "kafka-console-share-consumer", "kafka-share-groups"):
        done = tool(name, "--version")
        assert done.returncode == 0 and re.search(rf"\b{re.escape(jars.KAFKA_VERSION)}\b", done.stdout), (name, done)
