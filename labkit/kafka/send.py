"""Produce a few records from a notebook and see where each one went.

The labs send orders one at a time and want the answer the module's API gives: topic, partition,
offset. ``send`` waits for every acknowledgement (acks=all) before it returns, so the next cell can
read the records back. With a broker (so not a doctest)::

    send(settings, Order("ORD-INVALID", -50), (b"poison", b"\\xff not json"))
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from labkit.kafka import clients
from labkit.orders import Order
from labkit.settings import Settings

__all__ = ["send"]


def _key_value(item: Order | tuple[bytes | str | None, bytes | str | None]) -> tuple[bytes | None, bytes | None]:
    if isinstance(item, Order):
        return item.key, item.to_json()
    key, value = item
    encode = lambda v: v.encode("utf-8") if isinstance(v, str) else v  # noqa: E731
    return encode(key), encode(value)


def send(settings: Settings, *items: Order | tuple[Any, Any], topic: str | None = None) -> pd.DataFrame:
    """Produce orders (keyed by ``orderId``) or raw ``(key, value)`` pairs to ``topic`` (default
    ``settings.orders_topic``); one row per record: key, topic, partition, offset."""
    topic = topic or settings.orders_topic
    timeout_s = settings.api_timeout_ms / 1000
    producer = clients.producer(settings)
    try:
        sent = [(key, producer.send(topic, key=key, value=value))
                for key, value in map(_key_value, items)]
        rows = []
        for key, future in sent:
            md = future.get(timeout=timeout_s)
            rows.append({"key": None if key is None else key.decode("utf-8", "replace"),
                         "topic": md.topic, "partition": md.partition, "offset": md.offset})
    finally:
        producer.close(timeout=5)
    return pd.DataFrame(rows, columns=["key", "topic", "partition", "offset"])
