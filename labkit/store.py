"""The processed-orders "database" of the course: what makes processing idempotent by orderId.

A redelivered record (after a rebalance or a failed commit) or a replayed DLT record finds its
order id here and is counted as a duplicate instead of being applied twice.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["OrderStore"]


class OrderStore:
    """The processed-orders "database": a thread-safe set of order ids (idempotence by orderId).

    ``add(order_id)`` returns True the first time, False for a duplicate.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[str, Any] = {}

    def add(self, order_id: str, order: Any = None) -> bool:
        with self._lock:
            if order_id in self._ids:
                return False
            self._ids[order_id] = order
            return True

    def __contains__(self, order_id: object) -> bool:
        with self._lock:
            return order_id in self._ids

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._ids)

    def get(self, order_id: str) -> Any:
        with self._lock:
            return self._ids.get(order_id)

    def clear(self) -> None:
        with self._lock:
            self._ids.clear()
