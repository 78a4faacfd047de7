"""Lab 3 run again sends a new order id (issue 22): the same id would be a duplicate that never reaches
the failing order service (the consumer is idempotent by orderId)."""

from __future__ import annotations

from labkit.api.service import ApiService
from labkit.events import Processed, Produced
from labkit.settings import Settings


def test_the_modules_id_first_then_a_numbered_one_per_run():
    service = ApiService(Settings(), consume=False)
    try:
        assert service.fresh_order_id("ORD-RETRY") == "ORD-RETRY"  # the module's own id, on a first run
        service.events.append(Produced(key="ORD-RETRY", order_id="ORD-RETRY"))  # 5.2 sent it
        assert service.fresh_order_id("ORD-RETRY") == "ORD-RETRY-2"
        service.events.append(Produced(key="ORD-RETRY-2", order_id="ORD-RETRY-2"))
        service.events.append(Processed(key="ORD-RETRY-3", order_id="ORD-RETRY-3"))  # seen by the consumer only
        assert service.fresh_order_id("ORD-RETRY") == "ORD-RETRY-4"
        service.injector.call("ORD-RETRY-4")  # the order service was already called for it
        assert service.fresh_order_id("ORD-RETRY") == "ORD-RETRY-5"
        assert service.fresh_order_id("ORD-W-1") == "ORD-W-1"
    finally:
        service.stop()
