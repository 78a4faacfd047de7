"""The processed-orders "database" of the course: what makes processing idempotent by orderId.

A redelivered record (after a rebalance or a failed commit) or a replayed DLT record finds its
order id here and is counted as a duplicate instead of being applied twice.
"""

from __future__ import annotations

from labkit.orders import Order

__all__ = ["OrderStore"]


class OrderStore:
    """The processed-orders "database": thread-safe, one entry per order id (idempotence by orderId).

    ``add(order_id, order)`` (or ``add_fields(order_id, amount, status)``) returns True the first
    time, False for a duplicate; ``get(order_id)`` gives the order back. Each entry is a fresh
    ``(amount, status)`` tuple, not an ``Order``: the garbage collector stops tracking a tuple of
    plain values, where kept objects would be walked again by each of its collections, more of them
    the longer the consumer runs (ARCHITECTURE.md, "the hot path builds plain values").

    No lock: ``dict.setdefault`` with a ``str`` key is one atomic step under the GIL, and the entry
    it returns is the one this call built only if this call inserted it.
    """

    def __init__(self) -> None:
        self._orders: dict[str, tuple[float | None, str | None]] = {}

    def add(self, order_id: str, order: Order | None = None) -> bool:
        if order is None:
            return self.add_fields(order_id, None, None)  # an id added without its order
        return self.add_fields(order_id, order.amount, order.status)

    def add_fields(self, order_id: str, amount: float | None, status: str | None) -> bool:
        """:meth:`add` from the order's values (the consumer's hot path builds no ``Order``)."""
        entry = (amount, status)  # built here, so a new object: `is` tells whose insert won
        return self._orders.setdefault(order_id, entry) is entry

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def __len__(self) -> int:
        return len(self._orders)

    def ids(self) -> list[str]:
        return list(self._orders)  # one C-level copy: atomic under the GIL

    def get(self, order_id: str) -> Order | None:
        """The order processed under ``order_id`` (None if none, or if it was added without one)."""
        amount, status = self._orders.get(order_id, (None, None))
        return None if amount is None else Order(order_id, amount, status)

    def clear(self) -> None:
        self._orders.clear()
