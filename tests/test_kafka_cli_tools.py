"""Apache Kafka's own CLI tools, as pip installs them, with the module's arguments, against the session's broker.

The commands are the ones the module prints (``kafka-topics --create --topic orders ...``) with the test
broker's port, run from this venv's ``bin`` as real processes; what they print is Kafka's own output. The
records they read are written the way the course writes them: by a real ``OrderProcessor``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from labkit.broker import jars
from labkit.dlt.envelope import H_GROUP, H_MESSAGE, H_TOPIC
from labkit.engine.injection import FailureInjector
from labkit.engine.processor import OrderProcessor
from labkit.events import EventLog
from labkit.kafka import topics
from labkit.orders import Order
from tests.conftest import ENGINE, free_port
from tests.integration.conftest import committed_offsets, produce, produce_orders, wait_until

pytestmark = [pytest.mark.broker,
              pytest.mark.skipif(ENGINE != "kafka", reason=f"Kafka's own CLI tools run against Apache Kafka only "
                                                            f"(LABKIT_TEST_ENGINE={ENGINE})")]
BIN = Path(sys.executable).parent
TOOL_TIMEOUT_S = 60.0


def tool(name: str, *args: str, stdin: str | None = None,
         timeout: float = TOOL_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run the installed command ``name`` (``.venv/bin/kafka-topics``, ...) to its end."""
    assert (BIN / name).is_file(), f"{name} is not installed in {BIN}"
    # errors="replace": the kafka_dlt-original-partition/offset headers are binary integers
    return subprocess.run([str(BIN / name), *args], input=stdin, capture_output=True, text=True, errors="replace",
                          timeout=timeout)


def server(settings) -> str:
    """``localhost:PORT``, as the module writes it (the broker listens on 127.0.0.1)."""
    return f"localhost:{settings.host_port[1]}"


def both(done: subprocess.CompletedProcess) -> str:
    return f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-3000:]}"


def run_processor(settings, events: EventLog, until, what: str, timeout_s: float = 60) -> OrderProcessor:
    """A real OrderProcessor of the course's group, started and waited on until ``until()`` holds; the
    caller stops it (it is stopped here if the wait fails)."""
    processor = OrderProcessor(settings, events=events, injector=FailureInjector()).start()

    def done() -> bool:
        assert processor.error is None, f"the processor failed: {processor.error!r}"  # fail now, not at the deadline
        return bool(until())

    try:
        wait_until(done, timeout_s, what, interval_s=0.1)
    except BaseException:
        processor.stop(timeout_s=20)
        raise
    return processor


def test_kafka_topics_creates_lists_describes_and_deletes_the_module_topics(broker_settings):
    prefix = f"cli-{uuid.uuid4().hex[:8]}-"
    names = {f"{prefix}orders": 6, f"{prefix}orders.DLT": 3, f"{prefix}orders.retry": 3}
    orders = f"{prefix}orders"
    try:
        for name, partitions in names.items():
            done = tool("kafka-topics", "--create", "--topic", name, "--partitions", str(partitions),
                        "--replication-factor", "1", "--bootstrap-server", server(broker_settings))
            assert done.returncode == 0 and f"Created topic {name}." in done.stdout, both(done)
        assert topics.partition_counts(broker_settings, list(names)) == names  # what the broker really has

        listed = tool("kafka-topics", "--list", "--bootstrap-server", server(broker_settings))
        assert listed.returncode == 0, both(listed)
        assert set(names) <= set(listed.stdout.split()), both(listed)

        described = tool("kafka-topics", "--describe", "--topic", orders, "--bootstrap-server", server(broker_settings))
        assert described.returncode == 0, both(described)
        assert re.search(rf"Topic: {re.escape(orders)}\s.*PartitionCount: 6\s.*ReplicationFactor: 1", described.stdout)
        assert sorted(int(p) for p in re.findall(r"\tPartition: (\d+)\t", described.stdout)) == list(range(6))

        again = tool("kafka-topics", "--create", "--topic", orders, "--partitions", "6", "--replication-factor", "1",
                     "--bootstrap-server", server(broker_settings))
        assert again.returncode != 0 and f"Topic '{orders}' already exists" in again.stdout + again.stderr, both(again)

        for name in names:
            done = tool("kafka-topics", "--delete", "--topic", name, "--bootstrap-server", server(broker_settings))
            assert done.returncode == 0, both(done)
        wait_until(lambda: not set(names) & set(topics.list_topics(broker_settings)), 30, "the three topics deleted")
    finally:
        left = set(names) & set(topics.list_topics(broker_settings))
        if left:  # the test failed half-way: clean up with labkit, not with the tool under test
            topics.delete(broker_settings, sorted(left))


def test_kafka_console_consumer_prints_the_processors_dlt_record_with_its_headers(settings):
    events = EventLog()
    produce_orders(settings, [Order("ORD-1", 100), Order("ORD-INVALID", -50)])
    processor = run_processor(settings, events, lambda: events.of("SentToDLT") and len(events.of("Processed")) == 1,
                              "ORD-INVALID sent to the DLT")
    processor.stop(timeout_s=20)
    sent = events.of("SentToDLT")[0]

    done = tool("kafka-console-consumer", "--topic", settings.dlt_topic, "--from-beginning", "--max-messages", "1",
                "--formatter-property", "print.headers=true", "--bootstrap-server", server(settings))
    assert done.returncode == 0, both(done)
    assert "Processed a total of 1 messages" in done.stderr, both(done)
    # one record: its headers (key:value,key:value; the stack trace spans lines), a tab, its value
    headers, tab, value = done.stdout.rstrip("\n").rpartition("\t")
    assert tab, both(done)
    assert f"{H_TOPIC}:{settings.orders_topic}," in headers
    assert f"{H_GROUP}:{settings.group_id}," in headers
    assert f"{H_MESSAGE}:ValidationException: Invalid amount -50," in headers
    envelope = json.loads(value)
    assert envelope["originalTopic"] == settings.orders_topic
    assert (envelope["originalPartition"], envelope["originalOffset"]) == (sent.partition, sent.offset)
    assert envelope["errorMessage"] == "ValidationException: Invalid amount -50"
    assert json.loads(envelope["originalValue"]) == {"orderId": "ORD-INVALID", "amount": -50, "status": "PENDING"}


def test_kafka_consumer_groups_shows_lag_0_once_the_processor_caught_up(settings):
    per_partition = 2
    for partition in range(settings.orders_partitions):  # every partition gets orders: every row has a LAG
        produce(settings, [(f"ORD-P{partition}-{i}", Order(f"ORD-P{partition}-{i}", 10 + i).to_json())
                           for i in range(per_partition)], partition=partition)
    produced = per_partition * settings.orders_partitions
    events = EventLog()

    def all_committed():
        on_orders = {p: v for (t, p), v in committed_offsets(settings).items() if t == settings.orders_topic}
        return len(on_orders) == settings.orders_partitions and all(v == per_partition for v in on_orders.values())

    processor = run_processor(settings, events, all_committed, f"{produced} orders committed on 6 partitions")
    try:
        done = tool("kafka-consumer-groups", "--describe", "--group", settings.group_id,
                    "--bootstrap-server", server(settings))
    finally:
        processor.stop(timeout_s=20)
    assert done.returncode == 0, both(done)
    lines = [line.split() for line in done.stdout.splitlines() if line.strip()]
    header = next((row for row in lines if row[:3] == ["GROUP", "TOPIC", "PARTITION"]), None)
    assert header and header[3:6] == ["CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"], both(done)
    ours = [settings.group_id, settings.orders_topic]
    rows = [dict(zip(header, row, strict=False)) for row in lines if row[:2] == ours]
    assert sorted(int(r["PARTITION"]) for r in rows) == list(range(settings.orders_partitions)), both(done)
    assert [r["LAG"] for r in rows] == ["0"] * settings.orders_partitions, both(done)
    assert all(r["CURRENT-OFFSET"] == r["LOG-END-OFFSET"] == str(per_partition) for r in rows), both(done)
    assert sum(int(r["CURRENT-OFFSET"]) for r in rows) == produced
    assert all(r["CONSUMER-ID"] != "-" for r in rows), both(done)  # the running processor owns them all
    assert len(events.of("Processed")) == produced


def test_kafka_console_producer_then_consumer_round_trip(settings):
    lines = ['{"orderId":"ORD-A","amount":1}', '{"orderId":"ORD-B","amount":2}']
    sent = tool("kafka-console-producer", "--topic", settings.retry_topic, "--bootstrap-server", server(settings),
                stdin="\n".join(lines) + "\n")
    assert sent.returncode == 0, both(sent)
    read = tool("kafka-console-consumer", "--topic", settings.retry_topic, "--from-beginning", "--max-messages", "2",
                "--bootstrap-server", server(settings))
    assert read.returncode == 0 and "Processed a total of 2 messages" in read.stderr, both(read)
    assert sorted(read.stdout.split()) == lines


def test_kafka_configs_and_the_share_group_tools_answer(settings):
    configs = tool("kafka-configs", "--describe", "--entity-type", "topics", "--entity-name", settings.orders_topic,
                   "--bootstrap-server", server(settings))
    assert configs.returncode == 0, both(configs)
    assert f"Dynamic configs for topic {settings.orders_topic} are:" in configs.stdout, both(configs)

    # share groups are on by default in Kafka 4.4: a share consumer reads records a plain producer wrote
    group = f"{settings.group_id}-share"
    produce(settings, [("ORD-S1", b'{"orderId":"ORD-S1"}'), ("ORD-S2", b'{"orderId":"ORD-S2"}')],
            topic=settings.retry_topic)
    earliest = tool("kafka-configs", "--alter", "--entity-type", "groups", "--entity-name", group,
                    "--add-config", "share.auto.offset.reset=earliest", "--bootstrap-server", server(settings))
    assert earliest.returncode == 0, both(earliest)
    assert f"Completed updating config for group {group}." in earliest.stdout, both(earliest)
    shared = tool("kafka-console-share-consumer", "--topic", settings.retry_topic, "--group", group,
                  "--max-messages", "2", "--bootstrap-server", server(settings))
    assert shared.returncode == 0 and "Processed a total of 2 messages" in shared.stderr, both(shared)
    assert sorted(shared.stdout.split()) == ['{"orderId":"ORD-S1"}', '{"orderId":"ORD-S2"}']

    listed = tool("kafka-share-groups", "--list", "--bootstrap-server", server(settings))
    assert listed.returncode == 0, both(listed)
    assert group in listed.stdout.split(), both(listed)


def test_kafka_topics_prints_kafkas_version():
    done = tool("kafka-topics", "--version")
    assert done.returncode == 0, both(done)
    assert done.stdout.split()[0] == jars.KAFKA_VERSION == "4.4.0", both(done)


def test_a_tool_with_no_broker_at_the_address_fails_within_its_api_timeout(tmp_path):
    """Without a broker, Kafka's tools retry for ever (default.api.timeout.ms is not used by --list); with
    a 4 s API timeout in --command-config the tool gives up with Kafka's one error line and exit 1."""
    config = tmp_path / "client.properties"
    config.write_text("default.api.timeout.ms=4000\nrequest.timeout.ms=3000\n")
    start = time.monotonic()
    done = tool("kafka-topics", "--list", "--bootstrap-server", f"localhost:{free_port()}",
                "--command-config", str(config))
    took = time.monotonic() - start
    assert done.returncode == 1, both(done)
    assert "Timed out waiting for a node assignment. Call: listTopics" in done.stdout + done.stderr, both(done)
    assert took < 30, took
