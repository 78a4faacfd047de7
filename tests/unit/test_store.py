"""OrderStore: idempotence by orderId, and the order given back as it was processed."""

import threading

from labkit.engine.store import OrderStore
from labkit.orders import Order


def test_the_first_add_wins_and_a_duplicate_is_refused():
    store = OrderStore()
    assert store.add("ORD-1", Order("ORD-1", 100))
    assert not store.add("ORD-1", Order("ORD-1", 999, "PAID"))
    assert store.get("ORD-1") == Order("ORD-1", 100, "PENDING")  # the first one, not the duplicate
    assert "ORD-1" in store and len(store) == 1 and store.ids() == ["ORD-1"]
    assert store.add_fields("ORD-2", 5, "PAID") and not store.add_fields("ORD-2", 6, "PAID")
    assert store.get("ORD-2") == Order("ORD-2", 5, "PAID") and store.ids() == ["ORD-1", "ORD-2"]


def test_an_id_added_without_its_order_is_known_but_has_no_order():
    store = OrderStore()
    assert store.add("ORD-2")
    assert "ORD-2" in store and store.get("ORD-2") is None and store.get("ORD-404") is None
    store.clear()
    assert "ORD-2" not in store and len(store) == 0


def test_concurrent_adds_of_one_id_accept_exactly_one():
    store = OrderStore()
    accepted = []
    barrier = threading.Barrier(8)

    def add() -> None:
        barrier.wait()
        accepted.extend(order_id for order_id in (f"ORD-{i}" for i in range(2000)) if store.add(order_id))

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(accepted) == sorted(f"ORD-{i}" for i in range(2000))
