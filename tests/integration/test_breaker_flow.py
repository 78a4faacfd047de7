"""The circuit breaker: a failure storm opens it and consumption pauses (no retries burnt into the
DLT); once the service heals a half-open probe closes it and everything is processed."""

from __future__ import annotations

import pytest
from conftest import assert_ledger, produce_orders, settled, wait_until

from labkit.dlt import read_dlt
from labkit.engine.injection import FailureInjector
from labkit.engine.store import OrderStore
from labkit.orders import sample_orders
from labkit.policy.breaker import CircuitBreaker
from labkit.policy.retry import RetryPolicy
from labkit.policy.wait import Fixed

pytestmark = pytest.mark.broker


def test_breaker_opens_under_storm_and_closes_after_recovery(short, events, processors):
    store = OrderStore()
    injector = FailureInjector(transient=True)
    breaker = CircuitBreaker(failure_rate_threshold=0.5, window_size=4, minimum_calls=4,
                             open_duration_s=0.5, half_open_max_calls=1, half_open_timeout_s=5)
    policy = RetryPolicy(wait=Fixed(0.05), max_attempts=3)
    p = processors.new(short, events=events, store=store, injector=injector, breaker=breaker, policy=policy,
                       mode="pause").start()
    ids = produce_orders(short, sample_orders(10), events)
    wait_until(lambda: any(e.new == "OPEN" for e in events.of("BreakerStateChanged")), 30, "breaker open")
    wait_until(lambda: events.of("ConsumptionPaused"), 10, "consumption paused")
    # while the service is down: probes fail, the breaker re-opens, nothing reaches the DLT
    wait_until(lambda: sum(e.new == "OPEN" for e in events.of("BreakerStateChanged")) >= 2, 10, "a failed probe")
    assert events.stats()["dlt"] == 0
    calls_while_open = injector.snapshot()["calls"]
    assert calls_while_open < 10 * 4  # far fewer calls than retrying every order to exhaustion
    injector.set(transient=False)
    wait_until(settled(events, ids), 30, "orders processed after recovery")
    changes = [(e.old, e.new) for e in events.of("BreakerStateChanged")]
    assert ("CLOSED", "OPEN") in changes and ("HALF_OPEN", "CLOSED") in changes
    assert events.of("ConsumptionResumed")
    p.stop()
    assert read_dlt(short) == []
    assert events.stats()["processed"] == 10
    assert_ledger(short, events, ids, store)
