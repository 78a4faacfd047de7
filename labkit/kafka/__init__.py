"""Kafka plumbing with the course defaults: clients, topics, offsets and watermarks right on every engine,
reading and sending records.

Its public names are importable from here (``from labkit.kafka import OffsetsError``), each loaded on first use.
"""

from labkit.lazy import exports

PUBLIC = {
    "labkit.kafka.offsets": ["OffsetsError", "log_end_offsets", "committed_offsets", "count_records",
                             "watermarks"],
    "labkit.kafka.records": ["topic_records", "topic_frame", "record_at", "committed_past"],
    "labkit.kafka.producer": ["send", "produce", "produce_orders", "Sent"],
}
__all__ = [name for names in PUBLIC.values() for name in names]
__getattr__, __dir__ = exports(__name__, PUBLIC)
