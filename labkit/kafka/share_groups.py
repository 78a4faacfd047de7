"""Share groups (KIP-932, Kafka 4.2+) with the broker's own dead-letter queue (KIP-1191, Kafka 4.4), set
up and read back with the course's defaults.

Why a second client: kafka-python 3.0.12 speaks neither share groups nor the KIP-848 consumer
protocol; confluent-kafka (librdkafka 2.16) speaks both. It is used only here and where these two
features are taught; everything else stays on kafka-python.

A share group is configured on the broker, not in the consumer: the group configs
``share.delivery.count.limit`` (how many deliveries before the broker gives up on a record),
``share.record.lock.duration.ms`` (how long a consumer may hold a record before it comes back),
``errors.deadletterqueue.topic.name`` (where the broker writes a record it gives up on or that a
consumer REJECTs) and ``errors.deadletterqueue.copy.record.enable`` (copy key and value, not just
the coordinates). The DLQ topic itself must opt in (``errors.deadletterqueue.group.enable=true``)
and its name must start with ``dlq.`` (the broker's ``errors.deadletterqueue.topic.name.prefix``);
without the opt-in the broker only archives the record ("DLQ is not enabled on configured DLQ topic").
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labkit.kafka.records import as_text, topic_records
from labkit.kafka.topics import TopicError
from labkit.settings import Settings, load

__all__ = ["ShareGroupConfig", "DLQ_HEADER_PREFIX", "confluent_config", "share_consumer", "setup_share_group",
           "dlq_entries", "DLQ_REASONS"]

DLQ_HEADER_PREFIX = "__dlq.errors."
# The broker's __dlq.errors.message, and the reason the course shows for it
DLQ_REASONS = {"Offset rejected by client.": "rejected by the consumer",
               "Offset delivery count exceeded the threshold.": "delivery limit reached"}


@dataclass(frozen=True)
class ShareGroupConfig:
    """One share group of the course: its name, the DLQ topic, and the broker-side retry settings.

    ``delivery_limit``: deliveries before the broker dead-letters a record (the module's "3 tries
    then the DLT", counted by the broker). ``lock_ms``: how long a consumer may hold a record; a
    consumer that crashes holding records gives them back when this runs out.
    """

    group_id: str = "orders-share-group"
    dlq_topic: str = "dlq.orders"
    delivery_limit: int = 3
    lock_ms: int = 5000
    dlq_partitions: int = 3

    @classmethod
    def of(cls, settings: Settings, **changes: Any) -> ShareGroupConfig:
        """The course's share group for ``settings``' names: ``orders-share-group`` and ``dlq.orders``
        by default, under the same prefix as the orders topic and the consumer group otherwise."""
        group, suffix = settings.group_id, "consumer-group"
        group = group[: -len(suffix)] + "share-group" if group.endswith(suffix) else f"{group}-share"
        return cls(**({"group_id": group, "dlq_topic": f"dlq.{settings.orders_topic}"} | changes))

    def group_configs(self) -> dict[str, str]:
        return {"share.auto.offset.reset": "earliest",
                "share.delivery.count.limit": str(self.delivery_limit),
                "share.record.lock.duration.ms": str(self.lock_ms),
                "errors.deadletterqueue.topic.name": self.dlq_topic,
                "errors.deadletterqueue.copy.record.enable": "true"}


def confluent_config(settings: Settings | None = None, role: str = "client", **extra: Any) -> dict[str, Any]:
    """confluent-kafka settings with the course's bounded timeouts and a readable client id."""
    settings = settings or load()
    return {"bootstrap.servers": settings.bootstrap_servers,
            "client.id": f"labkit-{role}-{socket.gethostname()}",
            "socket.timeout.ms": settings.request_timeout_ms,
            "socket.connection.setup.timeout.ms": settings.api_timeout_ms,
            "reconnect.backoff.max.ms": 1000,
            # librdkafka logs "Preview" and every refused connection to stderr: the course says it instead
            "log_level": 3} | extra


def share_consumer(settings: Settings | None, group_id: str, name: str, topics: list[str] | None = None) -> Any:
    """A ``confluent_kafka.ShareConsumer`` in explicit acknowledgement mode, subscribed to ``topics``
    (default: the orders topic): each record is ACCEPTed, RELEASEd or REJECTed by the caller."""
    from confluent_kafka import ShareConsumer

    settings = settings or load()
    consumer = ShareConsumer(confluent_config(settings, name, **{"group.id": group_id,
                                                                  "share.acknowledgement.mode": "explicit"}))
    consumer.subscribe(topics or [settings.orders_topic])
    return consumer


def _admin(settings: Settings) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(confluent_config(settings, "admin"))


def setup_share_group(settings: Settings | None = None, config: ShareGroupConfig | None = None,
                      timeout_s: float | None = None) -> ShareGroupConfig:
    """Create the DLQ topic (opted in to share-group DLQs) if it is missing and set the group's
    configs. Idempotent: a cell run twice changes nothing. Raises :class:`TopicError` with the
    broker's reason when it refuses (a broker without share groups, a DLQ name without ``dlq.``)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

    settings = settings or load()
    config = config or ShareGroupConfig()
    timeout_s = timeout_s or settings.api_timeout_ms / 1000
    admin = _admin(settings)
    dlq_opt_in = {"errors.deadletterqueue.group.enable": "true"}
    try:
        created = admin.create_topics([NewTopic(config.dlq_topic, config.dlq_partitions, 1, config=dlq_opt_in)],
                                      operation_timeout=timeout_s, request_timeout=timeout_s)
        try:
            created[config.dlq_topic].result(timeout_s)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
        resources = [
            ConfigResource(ResourceType.TOPIC, config.dlq_topic, incremental_configs=[
                ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in dlq_opt_in.items()]),
            ConfigResource(ResourceType.GROUP, config.group_id, incremental_configs=[
                ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                for k, v in config.group_configs().items()]),
        ]
        for future in admin.incremental_alter_configs(resources, request_timeout=timeout_s).values():
            future.result(timeout_s)
    except KafkaException as exc:
        raise TopicError(f"could not set up share group {config.group_id}: {exc.args[0].str()}") from None
    return config


def dlq_entries(settings: Settings | None = None, topic: str = "dlq.orders",
                since: Mapping[Any, int] | None = None, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The records the broker dead-lettered, one dict each: the DLQ coordinates, the original key and
    value, and the broker's ``__dlq.errors.*`` headers as fields (``topic``, ``partition``,
    ``offset``, ``group``, ``delivery_count``, ``message``) plus ``reason`` in the course's words."""
    rows = []
    for record in topic_records(settings, topic, since, timeout_s):
        headers = {k[len(DLQ_HEADER_PREFIX):]: as_text(v) for k, v in record.headers or []
                   if k.startswith(DLQ_HEADER_PREFIX)}
        message = headers.get("message", "")
        rows.append({"dlq_partition": record.partition, "dlq_offset": record.offset,
                     "key": as_text(record.key), "value": as_text(record.value),
                     "topic": headers.get("topic"), "partition": _int(headers.get("partition")),
                     "offset": _int(headers.get("offset")), "group": headers.get("group"),
                     "delivery_count": _int(headers.get("delivery.count")), "message": message,
                     "reason": DLQ_REASONS.get(message, message)})
    return rows


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None
