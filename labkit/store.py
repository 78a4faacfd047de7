"""The processed-orders "database" of the course: what makes processing idempotent by orderId.

A redelivered record (after a rebalance or a failed commit) or a replayed DLT record finds its
order id here and is counted as a duplicate instead of being applied twice.
"""

from __future__ import annotations

import threading

from labkit.orders import Order

__all__ = ["OrderStore"]


class OrderStore:
    """The processed-orders "database": thread-safe, one entry per order id (idempotence by orderId).

    ``add(order_id, order)`` returns True the first time, False for a duplicate; ``get(order_id)``
    gives the order back. An order is kept as two plain values in two dicts (amount, status), not
    as an ``Order`` or a tuple: the garbage collector has nothing to track, where 50 000 kept
    objects made its collections walk them again and again (~1 µs per order in the consumer).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._amounts: dict[str, float | None] = {}  # None: an id added without its order
        self._statuses: dict[str, str] = {}

    def add(self, order_id: str, order: Order | None = None) -> bool:
        with self._lock:
            if order_id in self._amounts:
                return False
            if order is None:
                self._amounts[order_id] = None
            else:
                self._amounts[order_id] = order.amount
                self._statuses[order_id] = order.status
            return True

    def __contains__(self, order_id: object) -> bool:
        with self._lock:
            return order_id in self._amounts

    def __len__(self) -> int:
        with self._lock:
            return len(self._amounts)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._amounts)

    def get(self, order_id: str) -> Order | None:
        """The order processed under ``order_id`` (None if none, or if it was added without one)."""
        with self._lock:
            amount = self._amounts.get(order_id)
            return None if amount is None else Order(order_id, amount, self._statuses[order_id])

    def clear(self) -> None:
        with self._lock:
            self._amounts.clear()
            self._statuses.clear()
