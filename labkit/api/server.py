"""The module's order API on :18082, in Python: it produces orders *and* consumes them, like the
module's Java API, so every ``curl`` command of Labs 1-5 works as written.

Endpoints (OpenAPI at ``/openapi.json``, interactive docs at ``/docs``)::

    POST /api/v1/orders                              202 written to `orders` (topic, partition, offset)
                                                     400 not JSON · 413 too large · 422 wrong shape · 503 no broker
    POST /api/v1/config/simulate-transient-error     200 ?enabled=true|false[&rate=&failFirst=&latencyMs=]
    GET  /api/v1/config                              200 the failure-injection switches
    GET  /api/v1/stats                               200 processed, retries, DLT by reason, in flight, partitions
    GET  /api/v1/dlt/count                           200 records in `orders.DLT`, read from the topic · 503
    GET  /health                                     200 UP (broker answers, consumer owns partitions) · 503 DOWN

**Who checks what.** The API checks the *shape* of a request, the consumer the *business rules*:

* the API rejects (4xx, nothing produced) a body that is not UTF-8 JSON (400), too large (413), not
  a JSON object, without a non-empty string ``orderId``, without a numeric ``amount`` (a JSON number,
  not a boolean, finite), or with a non-string ``status`` (422). Extra fields are ignored.
* the consumer (:func:`labkit.orders.validate`) applies the rules: ``amount`` > 0 and ``status`` in
  :data:`labkit.orders.STATUSES`. A well-formed but invalid order (``amount: -50``, Lab 2) is
  therefore accepted (202), produced, and routed to ``orders.DLT`` by the consumer.

Every Kafka call is bounded; no broker means a 503 with a one-line JSON message, never a hang.
Logs (``labkit.engine.processor``: ``Retry n/N ... attempt``, ``sent to DLT``, ``rebalance``) go to the
console and to ``--log-file``: ``grep -E "(Retry|attempt|DLT)" labkit-api.log`` is the twin of the
module's ``docker logs m04-java-api | grep ...``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import json
import logging
import math
import signal
import socket
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kafka.errors import MessageSizeTooLargeError

from labkit.api import DEFAULT_PORT
from labkit.engine.injection import FailureInjector
from labkit.errors import friendly, no_broker
from labkit.events import SERVICE_MAX_EVENTS, EventLog, Produced
from labkit.orders import Order
from labkit.settings import Settings, load

__all__ = ["DEFAULT_PORT", "ApiError", "ApiServer", "OrderService", "PortInUse", "check_order",
           "configure_logging", "create_app", "serve"]

log = logging.getLogger("labkit.api.server")

MAX_BODY_BYTES = 64 * 1024
MAX_ORDER_ID_CHARS = 256
LOG_FORMAT = "%(asctime)s %(levelname)-7s [%(name)s] %(message)s"


class ApiError(Exception):
    """An error answered as ``{"error": code, "message": one line}`` with an HTTP status."""

    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


class PortInUse(OSError):
    """The API's port is taken (another ``labkit api``?)."""


# --- request checks (shape only; business rules belong to the consumer) ------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def check_order(body: bytes) -> Order:
    """The request body -> an :class:`Order` to produce, or :class:`ApiError` (400/413/422).

    >>> check_order(b'{"orderId": "ORD-INVALID", "amount": -50, "status": "PENDING"}').amount
    -50
    """
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    if not body.strip():
        raise ApiError(400, "invalid_json",
                       'request body is empty; send {"orderId": ..., "amount": ..., "status": ...}')
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_json", f"request body is not UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "request body is not JSON: nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(data), "a number")
        raise ApiError(422, "invalid_order", f"request body is {kind}; expected a JSON object "
                                             '{"orderId": string, "amount": number, "status": string}')
    order_id = data.get("orderId")
    if "orderId" not in data:
        raise ApiError(422, "invalid_order", "orderId is missing")
    if not isinstance(order_id, str) or not order_id.strip():
        raise ApiError(422, "invalid_order", f"orderId must be a non-empty string, got {_short(order_id)}")
    if len(order_id) > MAX_ORDER_ID_CHARS:
        raise ApiError(422, "invalid_order", f"orderId is longer than {MAX_ORDER_ID_CHARS} characters")
    if "amount" not in data:
        raise ApiError(422, "invalid_order", "amount is missing")
    amount = data["amount"]
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise ApiError(422, "invalid_order", f"amount must be a number, got {_short(amount)}")
    if isinstance(amount, float) and not math.isfinite(amount):
        raise ApiError(422, "invalid_order", f"amount must be a finite number, got {amount}")
    status = data.get("status", "PENDING")
    if not isinstance(status, str):
        raise ApiError(422, "invalid_order", f"status must be a string, got {_short(status)}")
    return Order(order_id=order_id, amount=amount, status=status)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the service behind the endpoints ------------------------------------------------------------


class OrderService:
    """Producer + in-process :class:`~labkit.engine.processor.OrderProcessor` + failure injector + events.

    ``consume=False`` runs no consumer (health then checks the broker only). A given ``processor``
    is run by the service (do not start it yourself); it is restarted if it dies on an error.
    """

    def __init__(self, settings: Settings | None = None, processor: Any = None, *, consume: bool = True,
                 mode: str = "pause", policy: Any = None, injector: FailureInjector | None = None,
                 events: EventLog | None = None, producer: Any = None, produce_timeout_s: float = 5.0,
                 health_timeout_s: float = 5.0):
        self.settings = settings or load()
        if events is None:
            events = getattr(processor, "events", None)
        self.events = events if events is not None else EventLog(max_events=SERVICE_MAX_EVENTS)
        if injector is None:
            injector = getattr(processor, "injector", None)
        self.injector = injector if injector is not None else FailureInjector()
        if processor is None and consume:
            from labkit.engine.processor import OrderProcessor

            processor = OrderProcessor(self.settings, policy=policy, mode=mode, injector=self.injector,
                                       events=self.events)
        self.processor = processor
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

    def start(self) -> None:
        if self.processor is not None and self._thread is None:
            self._thread = threading.Thread(target=self._consume, name="labkit-api-consumer", daemon=True)
            self._thread.start()

    def _consume(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                self.processor.run(stop=self._stopping)
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
            log.info("stopping the consumer: commit done offsets, leave group %s", self.settings.group_id)
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
            raise ApiError(413, "payload_too_large", f"order {_short(order.order_id)} is too large for Kafka "
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
                           "the consumer validates and processes it (invalid orders go to the DLT)"}

    # observation

    def stats(self) -> dict[str, Any]:
        """This instance's figures, from its event log (``jq``-friendly, camelCase like the module)."""
        s = self.events.stats()
        ledger = self.events.ledger()
        per: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: {"processed": 0, "retries": 0, "dlt": 0})
        per.update(self.events.partition_counts())
        owned = set(self.processor.assignment) if self.processor is not None else set()
        for tp in owned:
            per[tp]  # noqa: B018 - owned partitions appear even before their first record
        consumers = []
        if self.processor is not None:
            p = self.processor
            consumers.append({"id": p.consumer_id, "group": p.group_id, "mode": p.mode, "running": p.running,
                              "partitions": [f"{t}-{n}" for t, n in p.assignment], "error": self.consumer_error})
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
        switches: dict[str, Any] = {"transient": enabled}
        if rate is not None:
            switches["rate"] = rate
        if fail_first is not None:
            switches["fail_first"] = fail_first
        elif not enabled:
            switches["fail_first"] = 0  # "disable the error mode" means no injected failure at all
        if latency_ms is not None:
            switches["latency_s"] = latency_ms / 1000
        self.injector.set(**switches)
        log.warning("simulate-transient-error %s (%s)", "ON" if enabled else "OFF",
                    ", ".join(f"{k}={v}" for k, v in switches.items()))
        return self.config()

    def _bounded(self, fn, *args, timeout_s: float) -> Any:
        """Run ``fn`` in a worker thread; ApiError(503) if it does not answer in time."""
        future = self._pool.submit(fn, *args)
        try:
            return future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            raise ApiError(503, "timeout", f"Kafka did not answer within {timeout_s:g} s") from None

    def dlt_count(self, by_reason: bool = False) -> dict[str, Any]:
        from labkit.kafka.probe import probe
        from labkit.observe.monitor import dlt_by_reason, dlt_count

        found = probe(*self.settings.host_port, timeout_s=1.0)
        if not found.ok:
            raise self._no_broker(found.state)
        t = self.health_timeout_s

        def read() -> dict[str, Any]:
            out: dict[str, Any] = {"topic": self.settings.dlt_topic, "count": dlt_count(self.settings, timeout_s=t)}
            if by_reason:
                out["byReason"] = {str(k): int(v) for k, v in dlt_by_reason(self.settings, timeout_s=t).items()}
            return out

        try:
            return self._bounded(read, timeout_s=2 * t + 1)
        except ApiError:
            raise
        except Exception as exc:  # OffsetsError (topic missing, deadline), Kafka errors
            raise ApiError(503, "kafka_unavailable", friendly(exc)) from None

    def health(self) -> tuple[bool, dict[str, Any]]:
        from labkit.observe.monitor import health

        try:
            broker = self._bounded(lambda: health(self.settings, require_consumers=self.processor is not None,
                                                  timeout_s=self.health_timeout_s / 2),
                                   timeout_s=self.health_timeout_s)
        except ApiError as exc:
            broker = {"ok": False, "reason": f"health check: {exc.message}"}
        consumer: dict[str, Any] = {"enabled": self.processor is not None}
        reason = "" if broker.get("ok") else broker.get("reason", "broker check failed")
        if self.processor is not None:
            p = self.processor
            consumer.update(id=p.consumer_id, group=p.group_id, running=p.running,
                            partitions=[f"{t}-{n}" for t, n in p.assignment], error=self.consumer_error)
            if not reason and not p.running:
                reason = f"consumer not running ({self.consumer_error or 'starting'})"
            elif not reason and not consumer["partitions"]:
                reason = f"consumer owns no partition yet (joining group {p.group_id})"
        ok = not reason
        body = {"status": "UP" if ok else "DOWN", "reason": reason or None,
                "broker": {k: broker.get(k) for k in ("broker", "broker_state", "topics", "group_state", "members")
                           if k in broker},
                "consumer": consumer}
        return ok, body


# --- the app -------------------------------------------------------------------------------------

_ORDER_SCHEMA = {
    "type": "object",
    "required": ["orderId", "amount"],
    "properties": {
        "orderId": {"type": "string", "minLength": 1, "maxLength": MAX_ORDER_ID_CHARS, "example": "ORD-1"},
        "amount": {"type": "number", "example": 100,
                   "description": "any finite number; amount <= 0 is accepted and sent to the DLT by the consumer"},
        "status": {"type": "string", "default": "PENDING", "example": "PENDING",
                   "description": "unknown statuses are accepted and sent to the DLT by the consumer"},
    },
}
_ERROR = {"content": {"application/json": {"example": {"error": "invalid_order", "message": "orderId is missing"}}}}


def create_app(settings: Settings | None = None, processor: Any = None, *, consume: bool = True,
               mode: str = "pause", policy: Any = None, injector: FailureInjector | None = None,
               events: EventLog | None = None, producer: Any = None, produce_timeout_s: float = 5.0,
               health_timeout_s: float = 5.0) -> FastAPI:
    """The FastAPI app. Its lifespan starts the in-process consumer and stops it (commit, leave
    group). ``app.state.service`` is the :class:`OrderService`."""
    service = OrderService(settings, processor, consume=consume, mode=mode, policy=policy, injector=injector,
                           events=events, producer=producer, produce_timeout_s=produce_timeout_s,
                           health_timeout_s=health_timeout_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        log.info("order API ready: orders -> %s, DLT %s, group %s, broker %s%s", service.settings.orders_topic,
                 service.settings.dlt_topic, service.settings.group_id, service.settings.bootstrap_servers,
                 "" if service.processor is not None else " (no consumer)")
        try:
            yield
        finally:
            from starlette.concurrency import run_in_threadpool

            await run_in_threadpool(service.stop)
            log.info("order API stopped")

    app = FastAPI(title="labkit order API", version="1.0",
                  description=__doc__.split("Endpoints")[0].strip()
                  + "\n\nThe API checks the shape of an order; the consumer applies the business rules "
                    "(amount > 0, known status) and sends invalid orders to the DLT.",
                  lifespan=lifespan)
    app.state.service = service

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse({"error": exc.error, "message": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
                             for e in exc.errors())
        return JSONResponse({"error": "invalid_request", "message": problems}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):  # last resort: a line, never a traceback
        log.error("unexpected error on %s %s: %s", request.method, request.url.path, friendly(exc))
        return JSONResponse({"error": "internal_error", "message": friendly(exc)}, status_code=500)

    @app.post("/api/v1/orders", status_code=202, tags=["orders"],
              summary="Produce an order to the orders topic, keyed by orderId",
              responses={400: _ERROR, 413: _ERROR, 422: _ERROR, 503: _ERROR},
              openapi_extra={"requestBody": {"required": True,
                                             "content": {"application/json": {"schema": _ORDER_SCHEMA}}}})
    async def post_order(request: Request):
        order = check_order(await request.body())
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(service.produce, order)

    @app.post("/api/v1/config/simulate-transient-error", tags=["config"],
              summary="Switch the consumer's simulated transient errors on or off")
    def simulate_transient_error(
        enabled: bool = Query(..., description="true: the order service fails (transient) on each call"),
        rate: float | None = Query(None, ge=0.0, le=1.0, description="probability of a failure per call (default 1)"),
        failFirst: int | None = Query(None, ge=0, le=1000,
                                      description="the first N calls per order fail, then succeed"),
        latencyMs: float | None = Query(None, ge=0.0, le=60_000.0, description="added latency per call"),
    ):
        return service.set_config(enabled, rate, failFirst, latencyMs)

    @app.get("/api/v1/config", tags=["config"], summary="The failure-injection switches")
    def get_config():
        return service.config()

    @app.get("/api/v1/stats", tags=["monitoring"], summary="Processed, retries, DLT by reason, partitions, consumers")
    def get_stats():
        return service.stats()

    @app.get("/api/v1/dlt/count", tags=["monitoring"], summary="Records in the DLT topic (read from Kafka)",
             responses={503: _ERROR})
    def get_dlt_count(byReason: bool = Query(False, description="also count per error type")):
        return service.dlt_count(byReason)

    @app.get("/health", tags=["monitoring"], summary="UP when the broker answers and the consumer owns partitions",
             responses={503: {"description": "DOWN, with a reason"}})
    def get_health():
        ok, body = service.health()
        return JSONResponse(body, status_code=200 if ok else 503)

    return app


# --- serving -------------------------------------------------------------------------------------


def configure_logging(log_file: str | Path | None = None, level: int = logging.INFO,
                      console: bool = True) -> Callable[[], None]:
    """Send labkit's and uvicorn's logs to the console and (if given) a file; returns a function
    that undoes it (handlers removed and closed, levels and propagation restored)."""
    formatter = logging.Formatter(LOG_FORMAT)
    handlers: list[logging.Handler] = []
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for h in handlers:
        h.setFormatter(formatter)
    saved = []
    for name in ("labkit", "uvicorn"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.setLevel(level)
        logger.propagate = not console  # with a console handler here, do not print twice via root
        for h in handlers:
            logger.addHandler(h)

    def undo() -> None:
        for logger, old_level, old_propagate in saved:
            for h in handlers:
                logger.removeHandler(h)
            logger.setLevel(old_level)
            logger.propagate = old_propagate
        for h in handlers:
            h.close()

    return undo


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or :class:`PortInUse` with one clear line."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so; without it,
    # Nagle + delayed ACK add ~40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is already in use (another labkit api?); "
                            f"stop it or choose another --port") from None
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _server(app: FastAPI, access_log: bool):
    import uvicorn

    config = uvicorn.Config(app, log_config=None, access_log=access_log, timeout_graceful_shutdown=5,
                            lifespan="on")
    return uvicorn.Server(config)


def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT, settings: Settings | None = None, *,
          mode: str = "pause", consume: bool = True, log_file: str | Path | None = None, **app_kwargs) -> int:
    """Run the API until SIGTERM / Ctrl+C, then stop the consumer cleanly. Returns 0.

    The port is bound *before* anything else, so a busy port fails at once (:class:`PortInUse`).
    """
    sock = bind(host, port)
    configure_logging(log_file)
    shown = f"[{host}]" if ":" in host else host
    log.info("labkit api on http://%s:%d (docs: /docs)%s", shown, sock.getsockname()[1],
             f", log file {log_file}" if log_file else "")
    app = create_app(settings, consume=consume, mode=mode, **app_kwargs)
    stopped_by: list[int] = []
    previous = {s: signal.signal(s, lambda n, f: stopped_by.append(n)) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        _server(app, access_log=True).run(sockets=[sock])  # uvicorn handles the signals while it runs
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        sock.close()
    if stopped_by:
        log.info("stopped by %s", signal.Signals(stopped_by[0]).name)
    return 0


class ApiServer:
    """The API in a background thread (notebooks, tests, benchmarks)::

        with ApiServer(settings, port=0) as api:     # port 0: a free one
            httpx.get(api.url + "/health", timeout=10)
    """

    def __init__(self, settings: Settings | None = None, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                 log_file: str | Path | None = None, access_log: bool = False, **app_kwargs):
        self.settings, self.host, self.port = settings, host, port
        self.log_file, self.access_log, self.app_kwargs = log_file, access_log, app_kwargs
        self.app: FastAPI | None = None
        self._undo_logging: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None
        self._server = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def service(self) -> OrderService:
        return self.app.state.service

    def start(self, timeout_s: float = 20.0) -> ApiServer:
        sock = bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        if self.log_file:
            self._undo_logging = configure_logging(self.log_file, console=False)
        self.app = create_app(self.settings, **self.app_kwargs)
        self._server = _server(self.app, self.access_log)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"labkit-api-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the API did not start on {self.url} within {timeout_s} s")
            time.sleep(0.02)
        return self

    def stop(self, timeout_s: float = 40.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._undo_logging is not None:
            self._undo_logging()
            self._undo_logging = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
