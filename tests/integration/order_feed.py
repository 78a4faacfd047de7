"""A background producer for integration tests: orders (every 10th one invalid, for the DLT) until stopped."""

from __future__ import annotations

import threading

from labkit.events import EventLog, Produced
from labkit.kafka import clients
from labkit.orders import Order


class OrderFeed(threading.Thread):
    """Produces ``<prefix><n>`` orders every ``interval_s`` until stopped; every 10th has a negative
    amount. A send that is not acknowledged (broker down) is sent again until it is: at least once,
    so ``ids`` holds exactly the acknowledged orders, each logged as a ``Produced`` event.
    ``failures`` counts the sends that were retried; ``error`` is whatever stopped the thread."""

    def __init__(self, settings, events: EventLog, prefix: str = "ORD-F", interval_s: float = 0.1):
        super().__init__(daemon=True)
        self.settings, self.events, self.prefix, self.interval_s = settings, events, prefix, interval_s
        self.ids: list[str] = []
        self.failures = 0
        self.stop_event = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        producer = clients.producer(self.settings)
        try:
            n = 0
            while not self.stop_event.is_set():
                n += 1
                order = Order(f"{self.prefix}{n}", -5 if n % 10 == 0 else n)
                md = self._send(producer, order)
                if md is None:
                    return
                self.ids.append(order.order_id)
                self.events.append(Produced(consumer="producer", topic=md.topic, partition=md.partition,
                                            offset=md.offset, key=order.order_id, order_id=order.order_id))
                self.stop_event.wait(self.interval_s)
        except BaseException as exc:
            self.error = exc
        finally:
            producer.close(timeout=5)

    def _send(self, producer, order: Order):
        """The acknowledged metadata, or None when stopped before an acknowledgement."""
        while not self.stop_event.is_set():
            try:
                return producer.send(self.settings.orders_topic, key=order.key, value=order.to_json()).get(timeout=5)
            except Exception:  # broker down or restarting: the same order again, a bit later
                self.failures += 1
                self.stop_event.wait(0.2)
        return None
