"""The service behind the API's endpoints: produce an order, the in-process consumer, stats, the DLT
count, the failure-injection switches, health. Every Kafka call is bounded; no broker is a 503 with a
one-line message, never a hang.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import defaultdict
from typing import Any

from kafka.errors import MessageSizeTooLargeError

from labkit.api.consumers import dlt_topic_count, make_consumer
from labkit.api.validation import ApiError, shorten
from labkit.engine.injection import FailureInjector
from labkit.errors import friendly, no_broker
from labkit.events import SERVICE_MAX_EVENTS, EventLog, Produced
from labkit.orders import Order
from labkit.policy.health import ConsumerView, consumer_health
from labkit.settings import Settings, load

__all__ = ["ApiService"]

log = logging.getLogger("labkit.api.server")




class ApiService:
    """Producer + in-process :class:`~labkit.engine.processor.OrderProcessor` + failure injector + events.

    ``consume=False`` runs no consumer (health then checks the broker only). A given ``processor``
    is run by the service (do not start it yourself); it is restarted if it dies on an error.
    ``consumer="share"``: the in-process consumer is a member of notebook 09's share group instead
    (:mod:`labkit.api.consumers`; ``share_config``, default ``ShareGroupConfig.of(settings)``), driven by
    the same failure switches; ``processor`` is then its :class:`~labkit.engine.share.ShareWorker`.
    """

    def __init__(self, settings: Settings | None = None, processor: Any = None, *, consume: bool = True,
                 mode: str = "pause", policy: Any = None, injector: FailureInjector | None = None,
                 events: EventLog | None = None, producer: Any = None, produce_timeout_s: float = 5.0,
                 health_timeout_s: float = 5.0, consumer: str = "group", share_config: Any = None):
        self.settings = settings or load()
        if events is None:
            events = getattr(processor, "events", None)
        self.events = events if events is not None else EventLog(max_events=SERVICE_MAX_EVENTS)
        if injector is None:
            injector = getattr(processor, "injector", None)
        self.injector = injector if injector is not None else FailureInjector()
        self.consumer = make_consumer(consumer, self.settings, processor, injector=self.injector, events=self.events,
                                      mode=mode, policy=policy, share_config=share_config) \
            if consume or processor is not None else None
        self.processor = self.consumer.processor if self.consumer is not None else None
        self.produce_timeout_s = produce_timeout_s
        self.health_timeout_s = health_timeout_s
        self._producer = producer
        self._own_producer = producer is None
        self._producer_lock = threading.Lock()
        self._degraded = False  # the last produce failed: probe the broker before the next one
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.consumer_error: str | None = None
        self.started_at = time.time()
        self._pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="labkit-api-check")

    # lifecycle

    @property
    def group_id(self) -> str:
        """The group of the in-process consumer (a share group's with ``consumer="share"``)."""
        return self.consumer.group_id if self.consumer is not None else self.settings.group_id

    @property
    def dlt_topic(self) -> str:
        """Where this API's failed orders end: ``orders.DLT``, or the share group's DLQ topic."""
        return self.consumer.dlt_topic(self.settings) if self.consumer is not None else self.settings.dlt_topic

    def start(self) -> None:
        if self.consumer is not None and self._thread is None:
            self._thread = threading.Thread(target=self._consume, name="labkit-api-consumer", daemon=True)
            self._thread.start()

    def _consume(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                self.consumer.run(self._stopping)
                return
            except Exception as exc:  # logged by the processor; the API keeps serving and retries
                self.consumer_error = friendly(exc)
                log.error("consumer stopped: %s; restarting it in %.0f s", self.consumer_error, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the consumer (commit what is done, leave the group) and close the producer."""
        self._stopping.set()
        if self._thread is not None:
            log.info("stopping the consumer: commit what is done, leave group %s", self.group_id)
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("the consumer did not stop within %.0f s", timeout_s)
            self._thread = None
        with self._producer_lock:
            if self._producer is not None and self._own_producer:
                with contextlib.suppress(Exception):
                    self._producer.close(timeout=5)
                self._producer = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    # orders

    def _no_broker(self, detail: str) -> ApiError:
        return ApiError(503, "kafka_unavailable",
                        no_broker(self.settings.bootstrap_servers, detail))

    def _get_producer(self) -> Any:
        with self._producer_lock:
            if self._producer is None:
                from labkit.kafka import clients

                # A record Kafka did not acknowledge must *expire* inside the producer before the
                # request gives up (delivery_timeout < produce timeout): a 503 then never turns into
                # a late write when the broker comes back.
                ms = int(self.produce_timeout_s * 1000)
                delivery = max(1000, ms - 1000)
                self._producer = clients.producer(
                    self.settings, max_block_ms=delivery, bootstrap_timeout_ms=delivery,
                    delivery_timeout_ms=delivery, request_timeout_ms=max(500, delivery - 500))
            return self._producer

    def _drop_producer(self) -> None:
        with self._producer_lock:
            producer, self._producer = self._producer, None
        if producer is not None and self._own_producer:
            with contextlib.suppress(Exception):
                producer.close(timeout=0.5)  # anything still buffered has expired (delivery timeout)
        elif producer is not None:
            self._producer = producer  # not ours to close

    def produce(self, order: Order) -> dict[str, Any]:
        """Write ``order`` to the orders topic keyed by its id; wait for the ack (bounded)."""
        from labkit.kafka.probe import probe

        if self._degraded:
            found = probe(*self.settings.host_port, timeout_s=1.0)
            if not found.ok:
                raise self._no_broker(found.state)
        topic = self.settings.orders_topic
        try:
            md = self._get_producer().send(topic, key=order.key, value=order.to_json()).get(
                timeout=self.produce_timeout_s)
        except MessageSizeTooLargeError as exc:  # the producer's max_request_size or the broker's message.max.bytes
            raise ApiError(413, "payload_too_large", f"order {shorten(order.order_id)} is too large for Kafka "
                                                     f"({exc}); nothing was written") from None
        except Exception as exc:  # KafkaTimeoutError, NoBrokersAvailable, ...
            self._degraded = True
            self._drop_producer()
            log.warning("order %s NOT confirmed by Kafka: %s", order.order_id, friendly(exc))
            raise ApiError(503, "kafka_unavailable",
                           f"order {order.order_id} was not confirmed by Kafka within {self.produce_timeout_s:g} s "
                           f"({type(exc).__name__}); is a broker up at {self.settings.bootstrap_servers} "
                           f"(labkit broker up) and does topic {topic} exist (labkit topics create)?") from None
        self._degraded = False
        self.events.append(Produced(consumer="labkit-api", topic=md.topic, partition=md.partition,
                                    offset=md.offset, key=order.order_id, order_id=order.order_id))
        log.info("order %s produced to %s-%d@%d", order.order_id, md.topic, md.partition, md.offset)
        return {"status": "ACCEPTED", "orderId": order.order_id, "topic": md.topic,
                "partition": md.partition, "offset": md.offset, "timestamp": md.timestamp,
                "message": f"written to {md.topic}-{md.partition}@{md.offset}; "
                           f"the consumer validates and processes it (invalid orders go to {self.dlt_topic})"}

    # observation

    def stats(self) -> dict[str, Any]:
        """This instance's figures, from its event log (``jq``-friendly, camelCase like the module)."""
        s = self.events.stats()
        ledger = self.events.ledger()
        per: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: {"processed": 0, "retries": 0, "dlt": 0})
        per.update(self.events.partition_counts())
        owned = self.consumer.owned if self.consumer is not None else set()
        for tp in owned:
            per[tp]  # noqa: B018 - owned partitions appear even before their first record
        consumers = [self.consumer.describe(self.consumer_error)] if self.consumer is not None else []
        return {
            "produced": ledger["produced"],
            "processed": s["processed"],
            "duplicates": s["duplicates"],
            "retries": s["retries"],
            "retriesPerAttempt": {str(k): v for k, v in s["retries_per_attempt"].items()},
            "dlt": {"total": s["dlt"], "byReason": s["dlt_per_reason"]},
            "inFlight": s["in_flight"],
            "notYetConsumed": len(ledger["lost"]),
            "commits": s["commits"],
            "commitFailures": s["commit_failures"],
            "rebalances": {"assigned": s["assigned"], "revoked": s["revoked"], "lost": s["lost"]},
            "partitions": [{"topic": t, "partition": n, "owned": (t, n) in owned, **row}
                           for (t, n), row in sorted(per.items())],
            "consumers": consumers,
            "failureInjection": self.config(),
            "uptimeSeconds": round(time.time() - self.started_at, 1),
        }

    def config(self) -> dict[str, Any]:
        snap = self.injector.snapshot()
        return {"simulateTransientError": snap["transient"], "rate": snap["rate"], "failFirst": snap["fail_first"],
                "latencyMs": round(snap["latency_s"] * 1000, 3), "error": snap["error"],
                "calls": snap["calls"], "failures": snap["failures"]}

    def set_config(self, enabled: bool, rate: float | None, fail_first: int | None,
                   latency_ms: float | None) -> dict[str, Any]:
        """``POST /api/v1/config/simulate-transient-error``: the module's switch, meaning what the module
        means whatever was set before it.

        ``enabled=true`` alone is the module's step 5.1, "every call fails until switched off": the
        rate goes back to its documented default, 1 (a rate of 0.5 left by the panel's slider would let
        ``ORD-RETRY`` pass at its first call, and Lab 3 wait for retries that never come). A fail-first
        count is left as it is: at rate 1 it changes nothing while errors are on. ``enabled=false`` alone
        (step 5.4) means no injected failure at all: fail-first goes back to 0, the rate is kept (nothing
        fails while off). Given parameters always win.
        """
        switches: dict[str, Any] = {"transient": enabled}
        if rate is not None:
            switches["rate"] = rate
        elif enabled:
            switches["rate"] = 1.0  # the module's "every call fails", not the last slider position
        if fail_first is not None:
            switches["fail_first"] = fail_first
        elif not enabled:
            switches["fail_first"] = 0  # "disable the error mode" means no injected failure at all
        if latency_ms is not None:
            switches["latency_s"] = latency_ms / 1000
        return self.switch(**switches)

    def switch(self, **switches: Any) -> dict[str, Any]:
        """Change only the given switches of the order service (``transient``, ``rate``,
        ``fail_first``, ``latency_s``: the failure panel's way, one widget at a time), logged like the
        endpoint's; returns :meth:`config`."""
        self.injector.set(**switches)
        on = self.injector.snapshot()["transient"]
        log.warning("simulate-transient-error %s (%s)", "ON" if on else "OFF",
                    ", ".join(f"{k}={v}" for k, v in switches.items()))
        return self.config()

    def fresh_order_id(self, base: str) -> str:
        """An order id this service has not seen yet: ``base`` the first time, then ``base-2``,
        ``base-3``… A lab step run again then sends a new order: the consumer is idempotent by
        orderId, so the same id again would be counted as a duplicate and never reach the order
        service (notebook 05's ``ORD-RETRY``)."""
        seen = {e.order_id for e in self.events.of(Produced)}
        store = getattr(self.processor, "store", None)

        def known(order_id: str) -> bool:
            return (order_id in seen or self.events.status(order_id) is not None
                    or (store is not None and order_id in store) or self.injector.attempts(order_id) > 0)

        candidate, n = base, 1
        while known(candidate):
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def _bounded(self, fn, *args, timeout_s: float) -> Any:
        """Run ``fn`` in a worker thread; ApiError(503) if it does not answer in time."""
        future = self._pool.submit(fn, *args)
        try:
            return future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            raise ApiError(503, "timeout", f"Kafka did not answer within {timeout_s:g} s") from None

    def dlt_count(self, by_reason: bool = False) -> dict[str, Any]:
        from labkit.kafka.probe import probe

        found = probe(*self.settings.host_port, timeout_s=1.0)
        if not found.ok:
            raise self._no_broker(found.state)
        t = self.health_timeout_s
        read = self.consumer.dlt_count if self.consumer is not None else dlt_topic_count
        try:
            return self._bounded(read, self.settings, by_reason, t, timeout_s=2 * t + 1)
        except ApiError:
            raise
        except Exception as exc:  # OffsetsError (topic missing, deadline), Kafka errors
            raise ApiError(503, "kafka_unavailable", friendly(exc)) from None

    def health(self) -> tuple[bool, dict[str, Any]]:
        """UP when the broker answers, the topics exist and the consumer consumes (labkit/policy/health.py)."""
        if self.consumer is not None and not self.consumer.owns_partitions:
            return self._health_of_share_consumer()
        broker = self._broker_health()
        consumer: dict[str, Any] = {"enabled": self.processor is not None}
        reason = "" if broker.get("ok") else broker.get("reason", "broker check failed")
        if self.processor is not None:
            p, topic = self.processor, self.settings.orders_topic
            age, rebalancing, since = p.contact()
            mine = sorted(n for t, n in p.assignment if t == topic)
            # the group's owners where the broker reports them (Apache Kafka), else ours when we are alone
            owned = broker.get("partitions_assigned")
            if owned is None and broker.get("members") == 1:
                owned = mine
            view = ConsumerView(running=p.running, contact_age_s=age, topic=topic,
                                partitions=(broker.get("topics") or {}).get(topic),
                                owned=None if owned is None else tuple(owned), since_rebalance_s=since,
                                own=len(p.assignment), broker_reason=reason, error=self.consumer_error,
                                group=p.group_id, rebalancing=rebalancing)
            reason = consumer_health(view, self.settings)[1]
            consumer.update(id=p.consumer_id, group=p.group_id, running=p.running,
                            partitions=[f"{t}-{n}" for t, n in p.assignment], error=self.consumer_error,
                            heartbeat_age_s=None if age is None else round(age, 1), rebalancing=rebalancing)
        ok = not reason
        body = {"status": "UP" if ok else "DOWN", "reason": reason or None,
                "broker": {k: broker.get(k) for k in ("broker", "broker_state", "topics", "group_state", "members")
                           if k in broker},
                "consumer": consumer}
        return ok, body

    def _broker_health(self) -> dict[str, Any]:
        """The broker side of ``/health`` (:func:`labkit.observe.monitor.health`), bounded in time."""
        from labkit.observe.monitor import health  # pandas: loaded on the first /health, not at start-up

        try:
            return self._bounded(lambda: health(self.settings, timeout_s=self.health_timeout_s / 2),
                                 timeout_s=self.health_timeout_s)
        except ApiError as exc:
            return {"ok": False, "reason": f"health check: {exc.message}"}

    def _health_of_share_consumer(self) -> tuple[bool, dict[str, Any]]:
        """``/health`` with a share consumer: the broker answers and the consumer runs. Its group has no
        partition assignment to check, and the classic group's state says nothing about it."""
        broker = self._broker_health()
        reason, consumer = self.consumer.health(broker, self.consumer_error)
        body = {"status": "DOWN" if reason else "UP", "reason": reason or None,
                "broker": {k: broker.get(k) for k in ("broker", "broker_state", "topics") if k in broker},
                "consumer": consumer}
        return not reason, body
