"""One machine, many students: each works in a namespace named by ``LABKIT_STUDENT`` (or the
JupyterHub user), on one broker, and nobody sees another's orders, DLT records or consumers."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from conftest import HEARTBEAT_MS, SESSION_MS, wait_until

from labkit.api.server import ApiServer
from labkit.dlt import read_dlt
from labkit.kafka import topics
from labkit.settings import load

pytestmark = pytest.mark.broker


def student(broker_settings, monkeypatch, variable: str, name: str):
    monkeypatch.setenv(variable, name)
    return load(bootstrap_servers=broker_settings.bootstrap_servers,
                session_timeout_ms=SESSION_MS, heartbeat_interval_ms=HEARTBEAT_MS)


def test_two_students_on_one_broker_see_only_their_own_orders(broker_settings, monkeypatch, request):
    suffix = abs(hash(request.node.nodeid)) % 10_000
    alice = student(broker_settings, monkeypatch, "LABKIT_STUDENT", f"Alice-{suffix}")
    monkeypatch.delenv("LABKIT_STUDENT")
    bob = student(broker_settings, monkeypatch, "JUPYTERHUB_USER", f"bob.{suffix}@school.example")
    assert alice.orders_topic == f"alice-{suffix}.orders"
    assert bob.group_id == f"bob-{suffix}-school-example.orders-consumer-group"

    apis = []
    try:
        for who in (alice, bob):
            topics.create(who)
            apis.append(ApiServer(who, port=0).start())
        orders = {alice.student: ["ORD-1", "ORD-2", "ORD-3"], bob.student: ["ORD-1", "ORD-9"]}
        for who, api in zip((alice, bob), apis, strict=True):
            for order_id in orders[who.student]:
                reply = httpx.post(f"{api.url}/api/v1/orders", json={"orderId": order_id, "amount": 10}, timeout=10)
                assert reply.status_code == 202, reply.text
            reply = httpx.post(f"{api.url}/api/v1/orders", json={"orderId": "ORD-BAD", "amount": -5}, timeout=10)
            assert reply.status_code == 202, reply.text

        def stats(api):
            return httpx.get(f"{api.url}/api/v1/stats", timeout=10).json()

        for who, api in zip((alice, bob), apis, strict=True):
            expected = len(orders[who.student])
            wait_until(lambda api=api, n=expected: stats(api)["processed"] == n and stats(api)["dlt"]["total"] == 1,
                       60, f"{who.student}'s orders processed and dead-lettered")
            assert stats(api)["produced"] == expected + 1  # never the other student's
            assert [e.key_text for e in read_dlt(who)] == ["ORD-BAD"]
            assert set(api.service.processor.assignment) == {(who.orders_topic, p) for p in range(6)}
    finally:
        for api in apis:
            api.stop()


def test_the_cli_works_in_the_students_namespace(broker_settings, monkeypatch):
    """`labkit topics list` in a student's terminal shows that student's topics."""
    carol = student(broker_settings, monkeypatch, "LABKIT_STUDENT", "carol")
    topics.create(carol)
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "--bootstrap-server", carol.bootstrap_servers,
                          "topics", "describe"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "carol.orders" in out.stdout and "carol.orders.DLT" in out.stdout
