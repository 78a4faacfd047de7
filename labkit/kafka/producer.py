"""Produce records and see where each one went: the one producer helper of labkit.

The labs send orders one at a time and want the answer the module's API gives: topic, partition,
offset. Everything here waits for every acknowledgement (acks=all) before it returns, so the next
cell can read the records back, and can log a ``Produced`` event per record (the "produced" side of
the no-loss ledger). With a broker (so not a doctest)::

    send(settings, Order("ORD-INVALID", -50), (b"poison", b"\\xff not json"))
    produce_orders(settings, 10, events, prefix="ORD-REBAL-")
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, NamedTuple

import pandas as pd

from labkit.events import EventLog, Produced
from labkit.kafka import clients
from labkit.orders import Order, sample_orders
from labkit.settings import Settings

__all__ = ["Sent", "produce", "send", "produce_orders"]

Item = Order | tuple[Any, Any]  # an order (keyed by its orderId) or a raw (key, value) pair


class Sent(NamedTuple):
    """Where one record went."""

    key: str | None
    topic: str
    partition: int
    offset: int


def _encode(value: bytes | str | None) -> bytes | None:
    return value.encode("utf-8") if isinstance(value, str) else value


def produce(settings: Settings, items: Iterable[Item], *, topic: str | None = None, partition: int | None = None,
            key: str | None = None, events: EventLog | None = None, source: str = "producer",
            producer: Any = None) -> list[Sent]:
    """Produce every item to ``topic`` (default ``settings.orders_topic``; ``partition`` and ``key``
    force one for all) and wait for every ack. With ``events``, each record gets a ``Produced``
    event from ``source``, timed when it was sent (a consumer may process it before this returns)."""
    topic = topic or settings.orders_topic
    timeout_s = settings.api_timeout_ms / 1000
    own = producer is None
    producer = producer or clients.producer(settings)
    try:
        sent_at = time.time()
        futures = []
        for item in items:
            order_id = item.order_id if isinstance(item, Order) else None
            k, value = (item.key, item.to_json()) if isinstance(item, Order) else map(_encode, item)
            k = _encode(key) if key is not None else k
            futures.append((order_id, k, producer.send(topic, key=k, value=value, partition=partition)))
        producer.flush(timeout=timeout_s)
        sent = []
        for order_id, k, future in futures:
            md = future.get(timeout=timeout_s)
            text = None if k is None else k.decode("utf-8", "replace")
            sent.append(Sent(order_id or text, md.topic, md.partition, md.offset))
            if events is not None:
                events.append(Produced(ts=sent_at, consumer=source, topic=md.topic, partition=md.partition,
                                       offset=md.offset, key=order_id or text, order_id=order_id))
        return sent
    finally:
        if own:
            producer.close(timeout=5)


def send(settings: Settings, *items: Item, topic: str | None = None, events: EventLog | None = None) -> pd.DataFrame:
    """:func:`produce` for a notebook: one row per record (key, topic, partition, offset)."""
    return pd.DataFrame(produce(settings, items, topic=topic, events=events), columns=list(Sent._fields))


def produce_orders(settings: Settings, n: int, events: EventLog | None = None, prefix: str = "ORD-",
                   start: int = 1, producer: Any = None, amount: float | None = None,
                   key: str | None = None) -> list[str]:
    """Produce ``n`` valid orders ``<prefix><start>...`` (keyed by order id, or all by ``key``: one
    partition; amount ``i x 100`` like Lab 1, or ``amount`` for all), each logged as ``Produced``;
    returns the order ids."""
    orders = sample_orders(n, prefix=prefix, start=start)
    if amount is not None:
        orders = [Order(o.order_id, amount) for o in orders]
    produce(settings, orders, key=key, events=events, producer=producer)
    return [o.order_id for o in orders]
