"""docker-compose.yml cannot run here (no Docker engine): check its shape against the official examples."""

from pathlib import Path

import yaml

COMPOSE = yaml.safe_load((Path(__file__).parent.parent / "docker-compose.yml").read_text())


def test_kafka_is_apache_kafka_44_single_node_kraft_on_host_port_9092():
    kafka = COMPOSE["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"].startswith("apache/kafka:4.4.")
    assert "9092:9092" in kafka["ports"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "PLAINTEXT_HOST://localhost:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    # the image formats storage without --standalone: a static quorum is required
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:29093"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == 0
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # as the JVM engine: the course creates its topics
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert "kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])


def test_kafka_ui_on_8080_uses_the_internal_listener_and_waits_for_health():
    ui = COMPOSE["services"]["kafka-ui"]
    assert ui["image"].startswith("ghcr.io/kafbat/kafka-ui:")
    assert "8080:8080" in ui["ports"]
    assert ui["environment"]["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == "kafka:19092"
    assert ui["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_every_listener_name_is_mapped_to_a_protocol():
    env = COMPOSE["services"]["kafka"]["environment"]
    mapped = {pair.split(":")[0] for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")}
    used = {listener.split(":")[0] for listener in env["KAFKA_LISTENERS"].split(",")}
    assert used <= mapped
