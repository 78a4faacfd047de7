"""The FastAPI app: the module's endpoints over an :class:`~labkit.api.service.ApiService`."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from labkit.api.guard import BODY_TIMEOUT_S, HostPolicy, RequestGuard
from labkit.api.service import ApiService
from labkit.api.validation import MAX_BODY_BYTES, MAX_ORDER_ID_CHARS, ApiError, check_order
from labkit.engine.injection import FailureInjector
from labkit.errors import friendly
from labkit.events import EventLog
from labkit.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("labkit.api.server")

DEFAULT_MAX_POLL_RECORDS = 100  # OrderProcessor's default, when the app runs no consumer of its own


def latency_limit_ms(settings: Settings, processor: Any = None) -> float:
    """The largest injectable latency per call: half of the poll budget (``max.poll.interval.ms`` shared by
    a full poll of ``max_poll_records``), so one poll of slow records never gets the consumer evicted
    (60 s x 100 records is 20 times the 300 s budget). Deliberate evictions are the CLI's ``--latency-s``."""
    records = getattr(processor, "max_poll_records", None) or DEFAULT_MAX_POLL_RECORDS
    return settings.max_poll_interval_ms / records / 2


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
               health_timeout_s: float = 5.0, bind_host: str = "127.0.0.1", allowed_hosts: tuple[str, ...] = (),
               body_timeout_s: float = BODY_TIMEOUT_S, consumer: str = "group", share_config: Any = None) -> FastAPI:
    """The FastAPI app. Its lifespan starts the in-process consumer and stops it (commit, leave
    group). ``app.state.service`` is the :class:`ApiService`.

    Every request first passes :class:`~labkit.api.guard.RequestGuard`: ``Host`` (the names of
    ``bind_host``, the local ones, ``allowed_hosts``), ``Origin``, ``Content-Type``, and the body read
    within :data:`~labkit.api.validation.MAX_BODY_BYTES` and ``body_timeout_s``.

    ``consumer="share"``: the in-process consumer is a member of notebook 09's share group
    (:mod:`labkit.api.consumers`); the endpoints and switches are the same."""
    service = ApiService(settings, processor, consume=consume, mode=mode, policy=policy, injector=injector,
                           events=events, producer=producer, produce_timeout_s=produce_timeout_s,
                           health_timeout_s=health_timeout_s, consumer=consumer, share_config=share_config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        log.info("order API ready: orders -> %s, DLT %s, group %s, broker %s%s", service.settings.orders_topic,
                 service.dlt_topic, service.group_id, service.settings.bootstrap_servers,
                 f" ({service.consumer.kind} consumer)" if service.consumer is not None else " (no consumer)")
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
    app.add_middleware(RequestGuard, hosts=HostPolicy.for_bind(bind_host, allowed_hosts),
                       max_body_bytes=MAX_BODY_BYTES, body_timeout_s=body_timeout_s)
    max_latency_ms = latency_limit_ms(service.settings, service.processor)

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
        latencyMs: float | None = Query(
            None, ge=0.0, lt=max_latency_ms,
            description=f"added latency per call, below {max_latency_ms:g} ms: half of max.poll.interval.ms "
                        f"({service.settings.max_poll_interval_ms} ms) shared by a full poll, so a slow "
                        "service never gets the consumer evicted from its group"),
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


